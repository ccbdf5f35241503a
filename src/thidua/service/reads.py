"""Reads: what the API asks of a cluster besides its aggregates (those come from
`Emulation`). Standings now, at a position or at a time; scorecards and their findings
at a position; where each result was finalised; the audit history, a page at a time or
the whole trail in batches; the log's head, the
cluster's name, the clusters known; the version that keys kept answers; and a signal
when the cluster's log may have grown.

Each read runs in one transaction of the cluster (row-level security confines it there)
and is answered by the projections' queries or the store's own functions, so the API
never opens a transaction or names a table.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from thidua.domain.drafts import Reader, hidden_in
from thidua.domain.errors import InvalidState
from thidua.domain.results import YearResult
from thidua.domain.scorecard import Finding
from thidua.domain.standings import Standing
from thidua.projections import checkpoints, reads
from thidua.projections.audit import AuditProjection
from thidua.projections.reads import AuditFilter, ScorecardAt
from thidua.projections.runtime import PROJECTIONS
from thidua.service.versions import KnownVersions, reflected
from thidua.store.eventstore import EventStore

HISTORY_CAP = 20_000  # score changes read for one scorecard's history (a year has hundreds)
AUDIT_BATCH = 500  # rows of the audit history read at a time when the whole trail is read


@dataclass(frozen=True)
class AuditSnapshot:
    """Where a cluster's log stood when its trail was read whole."""

    head: int  # the log's last position
    through: int  # the audit history had read the log up to here (at most the head)


@dataclass(frozen=True)
class Moment:
    """The point of the log a read reflects: a position and when it was recorded."""

    position: int
    recorded_at: datetime | None  # None before the cluster's first event


@dataclass(frozen=True)
class ScorecardsThen:
    """Units' scorecards as of one moment, with the score history up to it when asked."""

    moment: Moment
    cards: list[ScorecardAt]
    history: list[dict[str, Any]]  # score changes of the units, in log order


class Reads:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._versions = KnownVersions(projections=len(PROJECTIONS))
        store.on_change(self._versions.grown)

    async def standings(
        self, cluster: str, year: int, reader: Reader | None = None
    ) -> list[Standing]:
        """The live standings of a cluster-year, every layer, best first. With a reader
        (whether it may read a unit's drafts), as it may see them (`domain/drafts.py`)."""
        async with self._store.transaction(cluster) as conn:
            return await reads.standings(conn, cluster, year, reader)

    async def standings_at(
        self, cluster: str, year: int, position: int, reader: Reader | None = None
    ) -> list[Standing]:
        """The standings as the live ones were at a position of the cluster's log."""
        async with self._store.transaction(cluster) as conn:
            return await reads.standings_at(conn, cluster, year, position, reader)

    async def standings_on_day(
        self, cluster: str, year: int, day: date, reader: Reader | None = None
    ) -> list[Standing]:
        """The standings as of a business day, whenever its facts were recorded."""
        async with self._store.transaction(cluster) as conn:
            return await reads.standings_on_day(conn, cluster, year, day, reader)

    async def standings_as_of(
        self, cluster: str, year: int, moment: datetime, reader: Reader | None = None
    ) -> tuple[int, list[Standing]]:
        """The last position recorded by a moment, and the standings at it."""
        async with self._store.transaction(cluster) as conn:
            position = await reads.position_at(conn, cluster, moment)
            return position, await reads.standings_at(conn, cluster, year, position, reader)

    async def moment(self, cluster: str) -> Moment:
        """The position the standings (and so every result read) have reached."""
        async with self._store.transaction(cluster) as conn:
            return Moment(*await reads.standings_reached(conn, cluster))

    async def standings_then(
        self, cluster: str, year: int, reader: Reader | None
    ) -> tuple[Moment, list[Standing]]:
        """The standings as the reader may see them, at the position the standings have
        read (one transaction: the figures and the moment they reflect agree)."""
        async with self._store.transaction(cluster) as conn:
            moment = Moment(*await reads.standings_reached(conn, cluster))
            rows = await reads.standings_at(conn, cluster, year, moment.position, reader)
        return moment, rows

    async def scorecards_then(
        self, cluster: str, year: int, units: list[str], history: bool = False
    ) -> ScorecardsThen:
        """Units' scorecards at the position the standings have read, and (`history`)
        every score change of those units up to it, in one transaction."""
        async with self._store.transaction(cluster) as conn:
            moment = Moment(*await reads.standings_reached(conn, cluster))
            cards = await reads.scorecards_at(conn, cluster, year, units, moment.position)
            changes: list[dict[str, Any]] = []
            if history:
                where = AuditFilter(
                    subject="score",
                    year=year,
                    units=tuple(units),
                    before_position=moment.position + 1,
                )
                changes = await reads.audit_history(conn, cluster, where, HISTORY_CAP)
        return ScorecardsThen(moment, cards, changes)

    async def result(
        self,
        cluster: str,
        year: int,
        kind: Literal["mid_year", "final"],
        version: int,
        recorded: YearResult,
        reader: Reader | None,
    ) -> YearResult:
        """A recorded result (the mid-year review, a finalised version) as the reader may
        see it: as recorded, unless it holds drafts the reader may not read."""
        if not hidden_in(recorded, reader):
            return recorded  # nothing to read
        async with self._store.transaction(cluster) as conn:
            found = await reads.recorded_result(conn, cluster, year, kind, version, reader)
        if found is None:
            raise InvalidState(
                "RESULT_NOT_READY", "Kết quả đang được cập nhật; vui lòng thử lại sau giây lát."
            )
        return found

    async def scorecards(
        self, cluster: str, year: int, units: list[str], position: int | None = None
    ) -> list[ScorecardAt]:
        """Units' scorecards, every layer, at a position (None: now), in units' order."""
        async with self._store.transaction(cluster) as conn:
            return await reads.scorecards_at(conn, cluster, year, units, position)

    async def audit_history(
        self, cluster: str, where: AuditFilter, limit: int
    ) -> list[dict[str, Any]]:
        """Changes in log order, filtered, at most `limit` of them."""
        async with self._store.transaction(cluster) as conn:
            return await reads.audit_history(conn, cluster, where, limit)

    async def audit_snapshot(self, cluster: str) -> AuditSnapshot:
        """The log's head and how far the audit history has read it, in one round trip:
        the trail read up to `through` is the trail as it stood (UnknownTenant if none)."""
        head, through = await checkpoints.reached(self._store, cluster, AuditProjection.name)
        return AuditSnapshot(head, min(head, through))

    async def audit_trail(
        self, cluster: str, year: int | None, through: int, batch: int = AUDIT_BATCH
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every change of a cluster-year (None: of the whole cluster) up to a position,
        refused attempts included, in log order: `batch` rows at a time, each batch read
        in a transaction of its own, so the trail is never held whole. Rows at or below a
        position never change, so the batches read one trail."""
        after = 0
        while True:
            where = AuditFilter(year=year, after_position=after, before_position=through + 1)
            rows = await self.audit_history(cluster, where, batch)
            if rows:
                yield rows
            if len(rows) < batch:
                return
            after = rows[-1]["position"]

    async def finalised_positions(self, cluster: str, year: int) -> dict[int, int]:
        """Where each finalised result version of a year was recorded."""
        async with self._store.transaction(cluster) as conn:
            return await reads.finalised_positions(conn, cluster, year)

    async def findings(
        self, cluster: str, year: int, units: list[str], position: int | None = None
    ) -> list[list[Finding]]:
        """Units' inspection findings with their explanations, at a position (None: now)."""
        async with self._store.transaction(cluster) as conn:
            cards = await reads.scorecards_replayed(conn, cluster, year, units, position)
        return [card.findings() for card in cards]

    async def head(self, cluster: str) -> int:
        """The cluster's last position (0 for an empty log); UnknownTenant if none."""
        position, _ = await self._store.head(cluster)
        return position

    async def cluster_name(self, cluster: str) -> str:
        return await self._store.tenant_name(cluster)

    async def clusters(self) -> set[str]:
        """Every cluster with a log (codes only: the caller's rights decide what it sees)."""
        return {row["tenant_id"] for row in await checkpoints.progress(self._store)}

    async def log_version(self, cluster: str, at_least: int = 0) -> tuple[int, ...]:
        """The cluster's head and its projections' checkpoints: while this is unchanged, so
        is every answer about the cluster. Known without the database while nothing was
        appended to the cluster since it was last read (`KnownVersions`), unless the known
        one is below `at_least`: a write made elsewhere whose notification is on its way."""
        known = self.known_version(cluster)
        if known is not None and reflected(known, len(PROJECTIONS)) >= at_least:
            return known
        if not self._store.listening:
            await self._store.listen()
        version = await checkpoints.log_version(self._store, cluster)
        self._versions.keep(cluster, version)
        return version

    def known_version(self, cluster: str) -> tuple[int, ...] | None:
        """The cluster's version if this instance knows it without the database."""
        return self._versions.get(cluster) if self._store.listening else None

    def watch(self, cluster: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """An event set whenever the cluster's log may have grown, here or on another
        instance (a lost signal only delays: callers poll too)."""
        return self._store.watch(cluster)
