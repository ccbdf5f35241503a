"""The catch-up runner works on what changed: a cluster written by another instance is
brought up to date as its notification arrives, one left behind is found by the sweep, and
an idle deployment costs nothing per cluster."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime

import asyncpg
import pytest

from thidua.demo import CITY_BOARD, ensure_template
from thidua.domain.commands import MemberGiven, OpenYear
from thidua.projections.runtime import Projector
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore

YEAR = 2025


@contextlib.asynccontextmanager
async def running(dsn: str) -> AsyncIterator[tuple[EventStore, Projector]]:
    """Another instance: its own store (pool, LISTEN), running only the catch-up runner."""
    store = await EventStore.open(dsn)
    projector = Projector(store)
    task = asyncio.create_task(projector.run(sweep=3600))
    try:
        yield store, projector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()


async def opened(store: EventStore, tenant: str) -> None:
    """A year opened by an instance whose projections do not run inline."""
    service = Emulation(store, Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC)))
    await ensure_template(service)
    members = tuple(MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in ("a", "b"))
    await service.handle(Envelope(tenant, CITY_BOARD.caller()), OpenYear(YEAR, members, "a"))


async def reached(store: EventStore, tenant: str) -> bool:
    """Both projections' checkpoints at the log's head, within 20 s."""
    head = (await store.head(tenant))[0]
    async with asyncio.timeout(20):
        while True:
            async with store.transaction(tenant) as conn:
                rows = await conn.fetch(
                    "SELECT position FROM projection_checkpoints WHERE tenant_id = $1", tenant
                )
            if len(rows) == 2 and all(r["position"] == head for r in rows):
                return True
            await asyncio.sleep(0.05)


async def test_a_cluster_written_elsewhere_is_caught_up_on_its_notification(
    dsn: str, store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant = await new_tenant()
    async with running(dsn):
        await asyncio.sleep(0.5)  # past the start-up sweep
        await opened(store, tenant)
        assert await reached(store, tenant)


async def test_a_cluster_left_behind_is_found_by_the_sweep(
    dsn: str, store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant = await new_tenant()
    await opened(store, tenant)  # nobody was running
    async with running(dsn):
        assert await reached(store, tenant)


async def quiet(store: EventStore, period: float = 0.5, bound: float = 60) -> None:
    """Until the store has asked nothing for `period` seconds: on a database many tests
    wrote to, the start-up sweep catches up every cluster they left behind first."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        store.query_log = []
        await asyncio.sleep(period)
        if not store.query_log:
            return
    raise AssertionError(f"the instance was still busy after {bound} s")


@pytest.mark.usefixtures("store")
async def test_an_idle_deployment_costs_nothing(dsn: str) -> None:
    async with running(dsn) as (other, _):
        await quiet(other)  # the start-up sweep and its work: every cluster left behind
        reports: list[str] = []
        report = other.report

        async def counted(function: str, *args: object) -> list[asyncpg.Record]:
            reports.append(function)
            return await report(function, *args)

        other.report = counted  # type: ignore[method-assign]
        other.query_log = []
        await asyncio.sleep(2.5)
        assert (other.query_log, reports) == ([], [])
