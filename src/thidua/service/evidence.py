"""The evidence an auditor downloads: a range of a cluster's log (a year's, or positions
after..upto) with everything needed to check it alone (`thidua.ledger.evidence`)."""

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

from thidua.domain.standings import standing_json
from thidua.errors import ThiduaError
from thidua.ledger.evidence import Header
from thidua.ledger.records import RecordedEvent
from thidua.service.ledger import Ledger
from thidua.service.reads import Reads
from thidua.store import tree
from thidua.store.eventstore import hash_at, year_positions

MAX_KEPT = 100  # earlier sizes an auditor may ask proofs from, per file


class NothingToExport(ThiduaError):
    code = "NOTHING_TO_EXPORT"


class BadRange(ThiduaError):
    code = "BAD_RANGE"


class Evidence:
    def __init__(self, ledger: Ledger, reads: Reads) -> None:
        self.ledger = ledger
        self.reads = reads

    async def export(
        self,
        cluster: str,
        *,
        year: int | None = None,
        after: int = 0,
        upto: int | None = None,
        kept: Iterable[int] = (),
        by: str = "",
    ) -> tuple[Header, AsyncIterator[RecordedEvent]]:
        """A year's events, or those after..upto, under a checkpoint signed now, with
        consistency proofs from `upto` and from each `kept` size to it."""
        signed = await self.ledger.checkpoint(cluster)
        after, upto = await self._range(cluster, signed.size, year, after, upto)
        # A kept size the log no longer reaches gets no proof: the verifier names it.
        sizes = sorted(s for s in {upto, *list(kept)[:MAX_KEPT]} if 0 < s <= signed.size)
        store = self.ledger.store
        async with store.transaction(cluster) as conn:
            previous = await hash_at(conn, cluster, after)
            frontier = await tree.frontier(conn, cluster, after)
            proofs = {s: await tree.consistency_proof(conn, cluster, s, signed.size) for s in sizes}
        published = {}
        if year is not None:
            rows = await self.reads.standings_at(cluster, year, upto)
            published = {"standings": [standing_json(row) for row in rows]}
        header = Header(
            cluster=cluster,
            year=year,
            after=after,
            upto=upto,
            previous_hash=previous,
            frontier=tuple(frontier),
            checkpoint=signed.cosigned,
            consistency={s: tuple(p) for s, p in proofs.items()},
            published=published,
            exported_at=datetime.now(UTC).isoformat(),
            exported_by=by,
        )
        return header, self.ledger.events(cluster, after, upto)

    async def _range(
        self, cluster: str, size: int, year: int | None, after: int, upto: int | None
    ) -> tuple[int, int]:
        if year is not None:
            async with self.ledger.store.transaction(cluster) as conn:
                found = await year_positions(conn, cluster, year)
            if found is None:
                raise NothingToExport(f"Cụm {cluster} chưa có sự kiện nào của năm {year}.")
            return found
        upto = size if upto is None else upto
        if not 0 <= after <= upto <= size:
            raise BadRange(
                f"Khoảng vị trí phải thỏa 0 ≤ sau ≤ đến ≤ {size} (after {after}, upto {upto})."
            )
        return after, upto
