"""Running projections: inline in a writer's transaction, catching up from a checkpoint,
or rebuilding into a new generation of rows that replaces the serving one at once.

Every mode feeds the same projection code the same events in log order. A batch's rows
and its checkpoint commit together, so after a crash or a cancellation each event is
applied exactly once. Writers and the catch-up runner take the checkpoint's row lock, so
one tenant's projection advances one batch at a time whoever drives it.

Each instance keeps a projection's state (the aggregates standings are computed from)
in memory, valid for the generation and position it was built at; a checkpoint that
moved elsewhere is followed by replaying the events between, without writing.
"""

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from thidua.db.errors import outage
from thidua.domain.standings import standings_year
from thidua.errors import DatabaseUnavailable
from thidua.ledger.records import RecordedEvent
from thidua.projections import checkpoints
from thidua.projections.audit import AuditProjection
from thidua.projections.checkpoints import Checkpoint
from thidua.projections.facts import Fact
from thidua.projections.sql import delete_generation
from thidua.projections.standings import StandingsProjection
from thidua.store.eventstore import (
    Connection,
    EventStore,
    lock_head,
    position_after,
    read_events,
    read_stream_upto,
    read_year,
)
from thidua.store.notifier import ANY_TENANT, Changes

log = logging.getLogger(__name__)

INLINE_LAG = 500  # further behind than this, a writer leaves the work to the runner
BATCH = 2000
KEPT_STATES = 64  # projection states in memory (about 0.5 MB each for a busy cluster-year)
SWEEP = 30.0  # seconds between asking the database which clusters are behind
RETRY = 1.0
OUTAGE_BACKOFF = (0.5, 1.0, 2.0, 5.0)  # seconds between the runner's tries while it is away


class ProjectionState(Protocol):
    def apply(self, fact: Fact) -> None: ...

    def discard(self) -> None: ...

    async def flush(
        self, conn: Connection, tenant: str, generation: int, *, final: bool = True
    ) -> None:
        """Write what apply queued. Not final: more batches follow before anyone reads
        (a rebuild), so derived rows such as standings may wait for the last one."""


class Projection(Protocol):
    name: str
    version: int  # a new version rebuilds
    tables: tuple[str, ...]

    def new_state(self) -> ProjectionState: ...


# The audit history reads each event as it is before the standings fold it into their
# aggregates: the two share each decoded event (`Decoded`).
PROJECTIONS: tuple[Projection, ...] = (AuditProjection(), StandingsProjection())


@dataclass(frozen=True)
class Progress:
    """Where one projection stands for one cluster."""

    tenant: str
    projection: str
    head: int
    position: int
    version: int | None  # None: never run for this cluster
    current_version: int
    generation: int | None

    @property
    def lag(self) -> int:
        return self.head - self.position

    @property
    def needs_rebuild(self) -> bool:
        return self.version is not None and self.version != self.current_version


@dataclass
class _Cached:
    generation: int
    position: int
    state: ProjectionState
    # What of the log the state has folded (None: all of it): years (their streams) and
    # other streams. A state made for a write folds only what it is written to, each part
    # read when first needed.
    scopes: set[int | str] | None = None


Reporter = Callable[[int, int], None]  # (position reached, head)


class Projector:
    def __init__(self, store: EventStore, projections: Sequence[Projection] = PROJECTIONS) -> None:
        self.store = store
        self.projections = {p.name: p for p in projections}
        # The most recently used clusters' states only: a cluster evicted is replayed from
        # its log when it is next written (a cluster-year is a few hundred events).
        self._cache: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self.kept = KEPT_STATES

    def attach(self) -> None:
        """Project every append inline, in its own transaction: writers read their writes."""
        self.store.inline.append(self.inline)

    def projection(self, name: str) -> Projection:
        if name not in self.projections:
            known = ", ".join(self.projections)
            raise ValueError(f"Không có projection {name} (có: {known}).")
        return self.projections[name]

    # Inline.

    async def inline(
        self, conn: Connection, tenant: str, appended: Sequence[RecordedEvent]
    ) -> None:
        # A savepoint: a failing read model never loses the write it follows.
        await conn.execute("SAVEPOINT inline_projections")
        decoded = Decoded(appended)  # each event decoded once, for every projection
        try:
            for projection in self.projections.values():
                await self._inline(conn, tenant, projection, appended[-1].position, decoded)
            await conn.execute("RELEASE SAVEPOINT inline_projections")
        except Exception as exc:
            if outage(exc) is not None:
                raise  # the connection is gone, and the write with it: nothing to save
            await conn.execute("ROLLBACK TO SAVEPOINT inline_projections")
            for name in self.projections:
                self._cache.pop((tenant, name), None)
            log.exception("inline projections failed for %s; the runner will catch up", tenant)

    async def _inline(
        self, conn: Connection, tenant: str, projection: Projection, last: int, decoded: "Decoded"
    ) -> None:
        checkpoint = await _lock_checkpoint(conn, tenant, projection)
        if checkpoint.version != projection.version or last - checkpoint.position > INLINE_LAG:
            return  # a rebuild or a long catch-up: the runner's work
        await self._advance(conn, tenant, projection, checkpoint, last, decoded)

    # Catching up.

    async def catch_up(
        self, tenant: str, projection: Projection, batch: int = BATCH, batches: int | None = None
    ) -> int:
        """Apply what the checkpoint has not seen yet, batch by batch (at most `batches`
        of them); returns how many events."""
        applied = 0
        for _ in itertools.repeat(None) if batches is None else range(batches):
            async with self.store.transaction(tenant) as conn:
                checkpoint = await _lock_checkpoint(conn, tenant, projection)
                if checkpoint.version != projection.version:
                    return applied  # the tables hold another version: rebuild
                upto = await position_after(conn, tenant, checkpoint.position, batch)
                if upto is None:
                    return applied
                await self._advance(conn, tenant, projection, checkpoint, upto, Decoded())
            applied += upto - checkpoint.position
        return applied

    async def _advance(
        self,
        conn: Connection,
        tenant: str,
        projection: Projection,
        checkpoint: Checkpoint,
        upto: int,
        decoded: "Decoded",
    ) -> None:
        """Apply events after the checkpoint up to a position, write, move the checkpoint."""
        key = (tenant, projection.name)
        try:
            cached = await self._state_at(conn, tenant, projection, checkpoint, decoded)
            records = decoded.following(checkpoint.position, upto) or await _read(
                conn, tenant, checkpoint.position, upto
            )
            await self._load_scopes(conn, tenant, cached, records, checkpoint.position, decoded)
            for record in records:
                cached.state.apply(decoded.fact(record))
            await cached.state.flush(conn, tenant, checkpoint.generation)
            await _move_checkpoint(conn, tenant, projection, checkpoint.generation, upto)
        except BaseException:
            self._cache.pop(key, None)  # half-applied: rebuild the memory from the log next time
            raise
        # Set before the commit: if the commit fails, the checkpoint is behind the memory,
        # which _state_at notices and replays from scratch.
        self._keep(key, _Cached(checkpoint.generation, upto, cached.state, cached.scopes))

    async def _load_scopes(
        self,
        conn: Connection,
        tenant: str,
        cached: _Cached,
        records: Sequence[RecordedEvent],
        upto: int,
        decoded: "Decoded",
    ) -> None:
        """Fold into the state, up to `upto`, the years and streams the records belong to
        that it has not folded yet: what the projections keep of a year depends only on its
        streams, of any other stream only on that stream."""
        if cached.scopes is None:
            return
        for scope in dict.fromkeys(scope_of(r.stream_id) for r in records):
            if scope in cached.scopes:
                continue
            if isinstance(scope, int):
                found = await read_year(conn, tenant, scope, upto)
            else:
                found = await read_stream_upto(conn, tenant, scope, upto)
            for record in found:
                cached.state.apply(decoded.fact(record))
            cached.scopes.add(scope)
        cached.state.discard()  # those rows are in the tables already

    def _keep(self, key: tuple[str, str], cached: _Cached) -> None:
        self._cache[key] = cached
        self._cache.move_to_end(key)
        while len(self._cache) > self.kept:
            self._cache.popitem(last=False)

    async def _state_at(
        self,
        conn: Connection,
        tenant: str,
        projection: Projection,
        checkpoint: Checkpoint,
        decoded: "Decoded",
    ) -> _Cached:
        """The projection's memory as of the checkpoint: the one kept (brought forward by the
        events since, without writing), or a new one that folds years as they are needed."""
        cached = self._cache.pop((tenant, projection.name), None)
        if (
            cached is None
            or cached.generation != checkpoint.generation
            or cached.position > checkpoint.position
        ):
            return _Cached(
                checkpoint.generation, checkpoint.position, projection.new_state(), set()
            )
        position = cached.position
        while position < checkpoint.position:
            records = await read_events(conn, tenant, position, checkpoint.position, BATCH)
            for record in records:
                if cached.scopes is None or scope_of(record.stream_id) in cached.scopes:
                    cached.state.apply(decoded.fact(record))
            cached.state.discard()
            position = records[-1].position
        return cached

    # Rebuilding.

    async def rebuild(
        self, tenant: str, projection: Projection, report: Reporter | None = None
    ) -> int:
        """Replay the whole log into a new generation, then swap it in; returns the events.

        The serving generation keeps answering (and writers keep projecting into it)
        until the swap, which holds the tenant's writers only while it applies the tail.
        """
        async with self.store.transaction(tenant) as conn:
            serving = await _lock_checkpoint(conn, tenant, projection, lock=False)
        generation = serving.generation + 1
        # Held until the swap: a second rebuild of the same projection waits its turn.
        async with self.store.transaction(tenant) as guard:
            if not await _try_rebuild_lock(guard, tenant, projection.name):
                raise RebuildRunning(tenant, projection.name)
            # What an interrupted rebuild left goes first; the one begun now is marked (and
            # committed) before its rows land, so an interruption is seen and cleaned.
            async with self.store.transaction(tenant) as conn:
                await self._drop_in(conn, tenant, projection.name)
                await checkpoints.mark_building(conn, tenant, projection.name, generation)
            state, position = projection.new_state(), 0
            while True:
                async with self.store.transaction(tenant) as conn:
                    records = await read_events(conn, tenant, position, None, BATCH)
                    if len(records) < BATCH:
                        break  # the tail is applied under the writers' lock
                    for record in records:
                        state.apply(Fact.of(record))
                    await state.flush(conn, tenant, generation, final=False)
                position = records[-1].position
                if report:
                    report(position, await self._head(tenant))
            head = await self._swap(tenant, projection, state, position, generation)
            if report:
                report(head, head)
            # The old generation's rows go (the mark stays until they have), still under
            # the rebuild's lock: no other rebuild's rows can be taken for them.
            async with self.store.transaction(tenant) as conn:
                await self._drop_in(conn, tenant, projection.name)
        return head

    async def _swap(
        self,
        tenant: str,
        projection: Projection,
        state: ProjectionState,
        position: int,
        generation: int,
    ) -> int:
        async with self.store.transaction(tenant) as conn:
            head = await lock_head(conn, tenant)
            await _lock_checkpoint(conn, tenant, projection)
            while position < head:
                records = await read_events(conn, tenant, position, head, BATCH)
                for record in records:
                    state.apply(Fact.of(record))
                position = records[-1].position
            await state.flush(conn, tenant, generation)
            serving = Checkpoint(projection.version, generation, head)
            await checkpoints.serve_generation(conn, tenant, projection.name, serving)
            self._keep((tenant, projection.name), _Cached(generation, head, state))
        return head

    async def _head(self, tenant: str) -> int:
        return (await self.store.head(tenant))[0]

    # Watching every cluster.

    async def progress(self) -> list[Progress]:
        """Every cluster's head and each projection's checkpoint."""
        rows = await checkpoints.progress(self.store)
        found = {(r["tenant_id"], r["projection"]): r for r in rows}
        heads = {r["tenant_id"]: r["head"] for r in rows}
        report = []
        for tenant, head in heads.items():
            for projection in self.projections.values():
                row = found.get((tenant, projection.name))
                report.append(
                    Progress(
                        tenant=tenant,
                        projection=projection.name,
                        head=head,
                        position=row["position"] if row else 0,
                        version=row["version"] if row else None,
                        current_version=projection.version,
                        generation=row["generation"] if row else None,
                    )
                )
        return report

    async def behind(self) -> list[Progress]:
        """The (cluster, projection) pairs behind their log or built by another version,
        and only them (the database picks them: no row per idle cluster comes back)."""
        versions = {name: p.version for name, p in self.projections.items()}
        return [
            Progress(
                tenant=row["tenant_id"],
                projection=row["projection"],
                head=row["head"],
                position=row["position"],
                version=row["version"],
                current_version=versions[row["projection"]],
                generation=None,
            )
            for row in await checkpoints.behind(self.store, versions)
        ]

    async def catch_up_all(self, tenants: Collection[str] | None = None) -> int:
        """Bring the clusters whose projections are behind (or only these clusters) to the
        head, rebuilding those whose version changed."""
        versions = {name: p.version for name, p in self.projections.items()}
        applied = 0
        for row in await checkpoints.behind(self.store, versions):
            if tenants is None or row["tenant_id"] in tenants:
                stale = row["version"] is not None and row["version"] != versions[row["projection"]]
                applied += await self._bring(row["tenant_id"], row["projection"], stale)
        return applied

    async def _bring(self, tenant: str, name: str, stale: bool) -> int:
        projection = self.projections[name]
        try:
            if stale:
                return await self.rebuild(tenant, projection)
            return await self.catch_up(tenant, projection)
        except RebuildRunning:
            return 0  # another process rebuilds it
        except DatabaseUnavailable:
            raise  # not this cluster's fault: the runner waits for the database
        except Exception:
            # One cluster's poison event must not hold the others back.
            log.exception("projection %s failed for %s", name, tenant)
            return 0

    async def _follow(self, tenant: str, position: int) -> None:
        """A cluster's log grew to `position`: catch up what this instance's own inline
        run has not already applied."""
        for name in self.projections:
            cached = self._cache.get((tenant, name))
            if cached is None or position == 0 or cached.position < position:
                await self._bring(tenant, name, stale=False)

    async def run(self, sweep: float = SWEEP) -> None:
        """The catch-up runner. It works on the clusters whose log grew (here or on another
        instance) as they do, and every `sweep` seconds on those the database says are
        behind; an idle cluster costs nothing. While the database is away (at start, or
        later) it waits and tries again, and starts over when it answers: it cleans what an
        interrupted rebuild left, then catches up everything behind. It logs each turn."""
        failures = 0
        while True:
            try:
                async with self.store.changes() as changes:
                    await self.clean_leftovers()
                    if failures:
                        log.info("projection runner restarted: the database answers again")
                    else:
                        log.info("projection runner started")
                    failures = 0
                    await self._work(changes, sweep)
            except DatabaseUnavailable as exc:
                delay = OUTAGE_BACKOFF[min(failures, len(OUTAGE_BACKOFF) - 1)]
                if failures == 0:
                    log.warning("projection runner waiting for the database: %s", exc)
                failures += 1
                await asyncio.sleep(delay)

    async def _work(self, changes: Changes, sweep: float) -> None:
        while True:
            try:
                await self.catch_up_all()
                deadline = asyncio.get_running_loop().time() + sweep
                while (left := deadline - asyncio.get_running_loop().time()) > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changes.woken.wait(), left)
                    for tenant, position in changes.drain().items():
                        if tenant == ANY_TENANT:  # news may have been missed: ask the database
                            await self.catch_up_all()
                        else:
                            await self._follow(tenant, position)
            except DatabaseUnavailable:
                raise
            except Exception:
                log.exception("projection catch-up failed; retrying in %.1f s", RETRY)
                await asyncio.sleep(RETRY)

    # Rebuilds that did not finish.

    async def leftovers(self) -> list["Leftover"]:
        """Generations a rebuild began and did not swap in, each said to be still running
        (another process holds its rebuild) or abandoned (killed, cut off)."""
        found = []
        for row in await checkpoints.building(self.store):
            tenant, name = row["tenant_id"], row["projection"]
            async with self.store.transaction(tenant) as conn:
                running = not await _try_rebuild_lock(conn, tenant, name)
            found.append(Leftover(tenant, name, row["building"], row["generation"], running))
        return found

    async def clean_leftovers(self) -> list["Leftover"]:
        """Drop the rows of every abandoned rebuild (none is running); returns them."""
        cleaned = []
        for leftover in await self.leftovers():
            if leftover.running:
                continue
            async with self.store.transaction(leftover.tenant) as conn:
                if not await _try_rebuild_lock(conn, leftover.tenant, leftover.projection):
                    continue  # one began meanwhile
                await self._drop_in(conn, leftover.tenant, leftover.projection)
            log.warning(
                "cleaned generation %d of %s for %s, left by an interrupted rebuild",
                leftover.generation,
                leftover.projection,
                leftover.tenant,
            )
            cleaned.append(leftover)
        return cleaned

    async def _drop_in(self, conn: Connection, tenant: str, name: str) -> None:
        """Every generation but the serving one, in this transaction, by the holder of the
        projection's rebuild lock (so none is being built, and the serving one cannot
        change); writers are not held meanwhile."""
        projection = self.projections[name]
        serving = await _lock_checkpoint(conn, tenant, projection, lock=False)
        for table in projection.tables:
            await delete_generation(conn, table, tenant, keep=serving.generation)
        await checkpoints.mark_building(conn, tenant, name, None)


@dataclass(frozen=True)
class Leftover:
    """A generation a rebuild began: rows of it may be in the tables, not served."""

    tenant: str
    projection: str
    generation: int
    serving: int
    running: bool  # a rebuild holds it now; else it was interrupted


async def _try_rebuild_lock(conn: Connection, tenant: str, projection: str) -> bool:
    """The lock a rebuild of this projection holds until its swap, taken for this
    transaction if free."""
    locked: bool = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
        f"rebuild:{tenant}:{projection}",
    )
    return locked


def scope_of(stream_id: str) -> int | str:
    """The part of a log a stream's events are folded with: its year, or the stream."""
    year = standings_year(stream_id)
    return stream_id if year is None else year


async def _read(conn: Connection, tenant: str, after: int, upto: int) -> list[RecordedEvent]:
    records: list[RecordedEvent] = []
    while after < upto:
        found = await read_events(conn, tenant, after, upto, BATCH)
        if not found:
            break
        records += found
        after = found[-1].position
    return records


class Decoded:
    """Events decoded once for every projection a call feeds (a replay of a cold cluster
    feeds two), kept only for that call; with the events just appended, which the
    projections then need not read back."""

    def __init__(self, appended: Sequence[RecordedEvent] = ()) -> None:
        self._facts: dict[int, Fact] = {}
        self._appended = list(appended)

    def following(self, after: int, upto: int) -> list[RecordedEvent]:
        """The appended events after..upto, if they are exactly those."""
        found = [r for r in self._appended if after < r.position <= upto]
        if found and found[0].position == after + 1 and found[-1].position == upto:
            return found
        return []

    def fact(self, record: RecordedEvent) -> Fact:
        found = self._facts.get(record.position)  # one call, one cluster's log
        if found is None:
            found = self._facts[record.position] = Fact.of(record)
        return found


class RebuildRunning(Exception):
    def __init__(self, tenant: str, projection: str) -> None:
        super().__init__(f"Projection {projection} của cụm {tenant} đang được dựng lại ở nơi khác.")


async def _lock_checkpoint(
    conn: Connection, tenant: str, projection: Projection, *, lock: bool = True
) -> Checkpoint:
    return await checkpoints.lock_checkpoint(
        conn, tenant, projection.name, projection.version, lock=lock
    )


async def _move_checkpoint(
    conn: Connection, tenant: str, projection: Projection, generation: int, position: int
) -> None:
    await checkpoints.move_checkpoint(conn, tenant, projection.name, generation, position)
