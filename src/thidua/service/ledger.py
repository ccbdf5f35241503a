"""The verifiable log as the service offers it: checkpoints of each cluster's tree signed
with the deployment's key (on a schedule, at every finalisation and on demand), sent to
the witnesses for their cosignatures, proofs, and the evidence an auditor downloads.

A checkpoint is signed only over the tree as the log holds it and never over a tree
smaller than one already signed: a log that went back is refused, not re-signed.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from thidua.domain.commands import Command, Finalise
from thidua.errors import DatabaseUnavailable, ThiduaError
from thidua.ledger import note
from thidua.ledger.merkle import ProofError
from thidua.ledger.records import RecordedEvent
from thidua.store import checkpoints, tree
from thidua.store.checkpoints import StoredCheckpoint
from thidua.store.eventstore import Connection, EventStore, read_events
from thidua.witness.client import Conflict, WitnessError, add_checkpoint

log = logging.getLogger(__name__)
Signed = StoredCheckpoint  # a checkpoint as the service hands it out, cosignatures with it
DUE_BATCH = 100  # clusters signed per round of the schedule
OUTAGE_RETRY = 5.0  # seconds before the schedule tries again while the database is away


class LogWentBack(ThiduaError):
    code = "LOG_WENT_BACK"


class ProofUnavailable(ThiduaError):
    code = "PROOF_UNAVAILABLE"


@dataclass(frozen=True)
class Witness:
    url: str
    key: note.Verifier  # its cosignature key

    @property
    def name(self) -> str:
        return self.key.name


class Ledger:
    def __init__(
        self,
        store: EventStore,
        signer_key: str,
        origin: str,
        witnesses: tuple[Witness, ...] = (),
    ) -> None:
        self.store = store
        self.signer = note.parse_signer(signer_key)
        self.origin = origin
        self.witnesses = witnesses
        self._background: set[asyncio.Task[None]] = set()

    @property
    def public_key(self) -> str:
        return self.signer.verifier().text()

    def origin_of(self, cluster: str) -> str:
        return f"{self.origin}/{cluster}"

    async def checkpoint(self, cluster: str) -> StoredCheckpoint:
        """The cluster's latest checkpoint, signed now if its log has grown since, with the
        cosignatures its witnesses gave."""
        signed = await self._sign(cluster)
        if not self.witnesses:
            return signed
        await self._witness(cluster, signed)
        return await self.latest(cluster) or signed

    async def latest(self, cluster: str) -> StoredCheckpoint | None:
        async with self.store.transaction(cluster) as conn:
            return await checkpoints.latest(conn, cluster)

    async def _sign(self, cluster: str) -> StoredCheckpoint:
        async with self.store.transaction(cluster) as conn:
            await checkpoints.lock_signing(conn, cluster)
            size = await tree.tree_size(conn, cluster)
            last = await checkpoints.latest(conn, cluster)
            if last is not None and last.size > size:
                raise LogWentBack(
                    f"Nhật ký của cụm {cluster} chỉ còn {size} sự kiện nhưng đã ký "
                    f"{last.size}: nhật ký đã bị lùi, không ký lại (the log went back)."
                )
            if last is not None and last.size == size:
                return last
            root = await tree.root(conn, cluster, size)
            body = note.Checkpoint(self.origin_of(cluster), size, root).body()
            await checkpoints.save(conn, cluster, size, root, note.sign_note(body, self.signer))
            found = await checkpoints.at_size(conn, cluster, size)
        assert found is not None
        return found

    async def _witness(self, cluster: str, signed: StoredCheckpoint) -> None:
        await asyncio.gather(*(self._ask(cluster, signed, w) for w in self.witnesses))

    async def _ask(self, cluster: str, signed: StoredCheckpoint, witness: Witness) -> None:
        """Send the checkpoint with a proof from the size the witness last cosigned; once
        more from the size it says it holds, if that differs."""
        try:
            async with self.store.transaction(cluster) as conn:
                old = await checkpoints.last_cosigned(conn, cluster, witness.name)
            for _ in range(2):
                proof = await self.consistency(cluster, old, signed.size) if old else []
                answer = await add_checkpoint(witness.url, signed.note, old, proof, witness.key)
                if isinstance(answer, Conflict):
                    old = answer.size
                    continue
                async with self.store.transaction(cluster) as conn:
                    for line in answer.lines:
                        await checkpoints.save_cosignature(
                            conn, cluster, signed.size, witness.name, line
                        )
                return
        except (WitnessError, OSError, ThiduaError) as exc:
            log.warning("witness %s refused or unreachable for %s: %s", witness.name, cluster, exc)

    async def after_commit(self, cluster: str, command: Command) -> None:
        """A finalisation is signed before its command returns; its witnesses are asked in
        the background."""
        if not isinstance(command, Finalise):
            return
        signed = await self._sign(cluster)
        if self.witnesses:
            task = asyncio.create_task(self._witness(cluster, signed))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def run(self, interval: float) -> None:
        """The schedule: every interval, sign the clusters whose log grew since their last
        checkpoint (a queue append_events fills, so idle clusters cost nothing)."""
        while True:
            try:
                if await self.sign_due() < DUE_BATCH:
                    await asyncio.sleep(interval)
            except DatabaseUnavailable as exc:  # not the end of the schedule: the next round
                log.warning("checkpoint round skipped, the database is away: %s", exc)
                await asyncio.sleep(min(interval, OUTAGE_RETRY))

    async def sign_due(self) -> int:
        """One round of the schedule; how many clusters were due. One process at a time
        runs a round (the others' find none due), so witnesses are asked once."""
        async with self.store.exclusive("checkpoint-schedule") as ours:
            due = await checkpoints.due(self.store, DUE_BATCH) if ours else []
            for cluster in due:
                try:
                    await self.checkpoint(cluster)
                except DatabaseUnavailable:
                    raise
                except ThiduaError as exc:
                    log.error("checkpoint of %s refused: %s", cluster, exc)
        return len(due)

    # Proofs.

    async def inclusion(self, cluster: str, position: int, size: int) -> tuple[bytes, list[bytes]]:
        """The leaf hash of the event at `position`, and RFC 9162's proof that it is in the
        tree of `size`."""
        async with self._proving(cluster) as conn:
            proof = await tree.inclusion_proof(conn, cluster, position - 1, size)
            return await tree.leaf(conn, cluster, position - 1), proof

    async def consistency(self, cluster: str, old: int, size: int) -> list[bytes]:
        """RFC 9162's proof that the tree of `size` extends the tree of `old`."""
        async with self._proving(cluster) as conn:
            return await tree.consistency_proof(conn, cluster, old, size)

    @contextlib.asynccontextmanager
    async def _proving(self, cluster: str) -> AsyncIterator[Connection]:
        try:
            async with self.store.transaction(cluster) as conn:
                yield conn
        except ProofError as exc:
            raise ProofUnavailable(f"Không lập được bằng chứng này: {exc}") from exc

    async def events(
        self, cluster: str, after: int, upto: int, batch: int = 2000
    ) -> AsyncIterator[RecordedEvent]:
        """The events after..upto, read in batches."""
        while after < upto:
            async with self.store.transaction(cluster) as conn:
                found = await read_events(conn, cluster, after, upto, limit=batch)
            if not found:
                return
            for event in found:
                yield event
            after = found[-1].position
