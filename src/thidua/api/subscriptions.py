"""Live dashboards: standings changed, and audit entries as they land. Each wakes on the
cluster's NOTIFY (from this instance or any other), so subscribers on every instance see
every commit; the log position tells whether anything moved.

A subscription lives no longer than the token its connection was opened with: when the
token's `exp` passes, each of the connection's subscriptions ends with one UNAUTHENTICATED
error (then `complete`), and a new one on that connection is refused the same way. The
client opens a new connection with a fresh token.

A subscription waits out a database restart (up to PATIENCE seconds, asking again with
backoff) and carries on from the position it had reached; a longer outage, or one when
it starts, ends it with a DATABASE_UNAVAILABLE error (`retryable`): the client subscribes
again, `auditEvents` from the last position it saw."""

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncGenerator

import strawberry

from thidua.api import types
from thidua.api.access import allowed, cluster_of, context
from thidua.api.context import Context
from thidua.api.queries import Standing, _year, reader, standings_of
from thidua.api.tokens import Unauthenticated
from thidua.domain.rights import Action
from thidua.errors import DatabaseUnavailable
from thidua.projections.reads import AuditFilter

POLL = 5.0  # seconds: a missed notification is caught by this
PATIENCE = 60.0  # seconds a live subscription waits for the database before it gives up
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


@strawberry.type(description="Bảng xếp hạng tại một vị trí của nhật ký")
class StandingsUpdate:
    position: int
    standings: list[Standing]


EXPIRED = "Token đã hết hạn nên việc theo dõi dừng lại; vui lòng đăng nhập lại."


def _unexpired(ctx: Context) -> float:
    """Seconds the connection's token has left (inf without `exp`); refuses once it passed."""
    expires = ctx.caller().expires
    left = float("inf") if expires is None else expires - time.time()
    if left <= 0:
        raise Unauthenticated(EXPIRED)
    return left


async def _wakes(ctx: Context, cluster: str) -> AsyncGenerator[int, None]:
    """The cluster's head position, now and each time it may have moved, while the
    caller's token holds: when it expires, Unauthenticated."""
    reads = ctx.services.reads
    async with reads.watch(cluster) as woken:
        while True:
            woken.clear()
            _unexpired(ctx)
            head = await _head(ctx, cluster)
            yield head
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), min(POLL, _unexpired(ctx)))


async def _head(ctx: Context, cluster: str) -> int:
    """The cluster's head; while the database is away, asked again for up to PATIENCE."""
    waited = 0.0
    for attempt in itertools.count():
        try:
            return await ctx.services.reads.head(cluster)
        except DatabaseUnavailable:
            if waited >= PATIENCE:
                raise
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            await asyncio.sleep(delay)
            waited += delay
    raise AssertionError("unreachable")


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Bảng xếp hạng mỗi khi nó thay đổi")
    async def standings_changed(
        self, info: strawberry.Info, year: int, layer: types.Layer | None = None
    ) -> AsyncGenerator[StandingsUpdate, None]:
        ctx = context(info)
        _unexpired(ctx)
        cluster = cluster_of(ctx)
        cluster_year = await _year(ctx, cluster, year)
        today = ctx.services.emulation.today()
        await allowed(
            ctx,
            cluster,
            Action.READ_PUBLISHED,
            cluster_year.context(today),
            what="standingsChanged",
        )
        now = cluster_year.context(today)
        drafts = reader(ctx, now)
        shown: list[Standing] | None = None
        async for head in _wakes(ctx, cluster):
            rows = await ctx.services.reads.standings(cluster, year, drafts)
            found = standings_of(rows, cluster, now, None, layer)
            if found != shown:
                shown = found
                yield StandingsUpdate(position=head, standings=found)

    @strawberry.subscription(description="Mỗi thay đổi được ghi vào nhật ký của cụm")
    async def audit_events(
        self, info: strawberry.Info, after_position: int | None = None
    ) -> AsyncGenerator[types.AuditEntry, None]:
        ctx = context(info)
        _unexpired(ctx)
        cluster = cluster_of(ctx)
        await allowed(ctx, cluster, Action.READ_AUDIT, None, what="auditEvents")
        seen = after_position
        async for head in _wakes(ctx, cluster):
            if seen is None:
                seen = head  # from now on
            while seen < head:
                where = AuditFilter(after_position=seen)
                rows = await ctx.services.reads.audit_history(cluster, where, 500)
                if not rows:
                    break  # the audit row lands with its event; a catch-up is behind
                for row in rows:
                    yield types.AuditEntry.of(row)
                    seen = row["position"]
