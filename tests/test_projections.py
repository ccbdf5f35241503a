"""Projections against the real store: inline (a writer reads its own write), catching up
after a cancelled task or a killed process, rebuilding under concurrent writes, versions,
the audit history's filters and time travel by position and by time."""

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from thidua.demo import CITY_BOARD, DEMO, YEAR, ensure_template, play_year
from thidua.domain import commands as c
from thidua.domain.standings import Standing
from thidua.projections import reads
from thidua.projections.audit import AuditProjection
from thidua.projections.reads import AuditFilter
from thidua.projections.runtime import PROJECTIONS, Projector
from thidua.projections.standings import StandingsProjection
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore
from workload import generated_year

Rows = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="session")
async def projected(dsn: str) -> AsyncIterator[Projector]:
    """A store whose appends project inline, as the product runs."""
    store = await EventStore.open(dsn, max_size=20)
    projector = Projector(store)
    projector.attach()
    yield projector
    await store.close()


async def demo_cluster(store: EventStore) -> str:
    """Cluster XII's demo year (about 190 events) under a fresh code."""
    code = f"cum-p-{uuid.uuid4().hex[:8]}"
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    await ensure_template(service)
    registered = c.RegisterCluster(code, "Cụm thi đua thử nghiệm")
    await service.handle(Envelope(CITY_LOG, CITY_BOARD.caller()), registered)
    await play_year(service, clock, replace(DEMO[0], code=code))
    return code


async def snapshot(store: EventStore, tenant: str) -> Rows:
    """Every row of every projection table the tenant's serving generations hold."""
    rows: Rows = {}
    async with store.transaction(tenant) as conn:
        for projection in PROJECTIONS:
            generation = await conn.fetchval(
                "SELECT generation FROM projection_checkpoints"
                " WHERE tenant_id = $1 AND projection = $2",
                tenant,
                projection.name,
            )
            for table in projection.tables:
                found = await conn.fetch(
                    f"SELECT * FROM {table} WHERE tenant_id = $1 AND generation = $2",
                    tenant,
                    generation,
                )
                rows[table] = sorted(
                    (tuple(v for k, v in r.items() if k != "generation") for r in found), key=repr
                )
    return rows


async def checkpoints(store: EventStore, tenant: str) -> dict[str, int]:
    async with store.transaction(tenant) as conn:
        found = await conn.fetch(
            "SELECT projection, position FROM projection_checkpoints WHERE tenant_id = $1", tenant
        )
    return {r["projection"]: r["position"] for r in found}


async def test_a_writer_reads_its_own_write(projected: Projector) -> None:
    store = projected.store
    tenant = await demo_cluster(store)
    head = (await store.head(tenant))[0]
    assert await checkpoints(store, tenant) == {"standings": head, "audit_history": head}

    clock = Calendar(datetime(YEAR, 12, 20, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    board = Envelope(tenant, CITY_BOARD.caller())
    await service.handle(board, c.Reopen(YEAR, "Rà soát theo đơn thư"))
    city = Envelope(tenant, CITY_BOARD.caller(), "Thẩm định lại hồ sơ")
    adjusted = c.CityAdjust(YEAR, "vnpt-hn", "A1", Decimal("1.5"), "Thiếu minh chứng")
    await service.handle(city, adjusted)

    # The same transaction that took the score moved the standings and the history.
    async with store.transaction(tenant) as conn:
        standings = await reads.standings(conn, tenant, YEAR)
        history = await reads.audit_history(
            conn, tenant, AuditFilter(unit="vnpt-hn", criterion="A1", subject="score")
        )
    city_view = {s.unit: s for s in standings if s.layer == "city"}
    assert set(city_view) == {code for code, _ in DEMO[0].units}
    assert sorted(s.rank for s in city_view.values()) == list(range(1, 11))
    assert sum(s.first for s in city_view.values()) == 1
    # Standings are for the latest day anything happened: the demo's last (8 January), not
    # the earlier day of this adjustment.
    assert city_view["vnpt-hn"].on_day == date(YEAR + 1, 1, 8)
    last = history[-1]
    assert (last["actor"], last["role"], last["reason"]) == (
        "Nguyễn Văn An",
        "city_board",
        "Thẩm định lại hồ sơ",
    )
    assert last["before"] is None  # the first city adjustment of this criterion
    assert last["after"]["points"] == "1.5"
    assert last["occurred_at"] == datetime(YEAR, 12, 20, 2, tzinfo=UTC)

    # Time travel to just before the adjustment shows the standings shown then.
    async with store.transaction(tenant) as conn:
        before = await reads.standings_at(conn, tenant, YEAR, last["position"] - 1)
        now = await reads.standings_at(conn, tenant, YEAR, last["position"])
    assert now == standings
    points_before = {s.unit: s.total for s in before if s.layer == "city"}
    assert points_before["vnpt-hn"] != city_view["vnpt-hn"].total


async def test_audit_history_answers_who_changed_what(projected: Projector) -> None:
    store = projected.store
    tenant = await demo_cluster(store)
    async with store.transaction(tenant) as conn:
        everything = await reads.audit_history(conn, tenant, AuditFilter(), limit=10_000)
        refusals = await reads.audit_history(conn, tenant, AuditFilter(subject="refusal"))
        inspected = await reads.audit_history(
            conn, tenant, AuditFilter(criterion="A2", subject="score")
        )
        by_actor = await reads.audit_history(conn, tenant, AuditFilter(actor="Cán bộ vnpt-hn"))
        middle = everything[len(everything) // 2]["recorded_at"]
        later = await reads.audit_history(conn, tenant, AuditFilter(since=middle), limit=10_000)
        page = await reads.audit_history(conn, tenant, AuditFilter(after_position=10), limit=5)
    head = (await store.head(tenant))[0]
    assert [r["position"] for r in everything] == list(range(1, head + 1))
    assert refusals
    assert all(r["after"]["code"] for r in refusals)
    assert {r["after"]["layer"] for r in inspected} >= {"self", "verified"}
    latest: dict[str, Any] = {}
    for row in (r for r in everything if r["subject"] == "score"):
        assert row["before"] == latest.get(row["item"])  # before is what the item last was
        latest[row["item"]] = row["after"]
    assert by_actor
    assert {r["actor"] for r in by_actor} == {"Cán bộ vnpt-hn"}
    assert later
    assert all(r["recorded_at"] >= middle for r in later)
    assert [r["position"] for r in page] == [11, 12, 13, 14, 15]
    subjects = {r["subject"] for r in everything}
    assert {"score", "pledge", "criteria", "meeting", "ballot", "submission"} <= subjects
    assert {"proposal", "refusal", "result", "topic", "leadership"} <= subjects


async def test_time_travel_by_time_equals_time_travel_by_position(projected: Projector) -> None:
    store = projected.store
    tenant = await demo_cluster(store)
    async with store.transaction(tenant) as conn:
        history = await reads.audit_history(conn, tenant, AuditFilter(), limit=10_000)
        for row in history[::17]:
            position = await reads.position_at(conn, tenant, row["recorded_at"])
            # One append's events share their recording time: the moment shows them all.
            same_append = [r for r in history if r["recorded_at"] == row["recorded_at"]]
            assert position == same_append[-1]["position"]
        assert await reads.position_at(conn, tenant, datetime(2000, 1, 1, tzinfo=UTC)) == 0
        assert await reads.standings_at(conn, tenant, YEAR, 0) == []
        card = await reads.scorecard_at(conn, tenant, YEAR, "bhxh-hn")
        first_score = next(r for r in history if r["subject"] == "score")
        early = await reads.scorecard_at(conn, tenant, YEAR, "bhxh-hn", first_score["position"])
    assert {e.layer for e in card.entries} >= {"self"}
    assert len(early.entries) <= 1


async def test_catch_up_resumes_after_a_cancelled_task(store: EventStore) -> None:
    tenant = await demo_cluster(store)  # a store without inline projections: all behind
    head = (await store.head(tenant))[0]
    projector = Projector(store)
    assert await checkpoints(store, tenant) == {}
    interrupted, patience = 0, 0.005
    while min((await checkpoints(store, tenant)).values(), default=0) < head:
        runs = [asyncio.create_task(projector.catch_up(tenant, p, batch=7)) for p in PROJECTIONS]
        # Longer each time: a cancelled run replays its memory from the log before moving on.
        patience *= 1.5
        await asyncio.sleep(patience)
        for run in runs:
            interrupted += not run.done()
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
    assert interrupted >= 3  # cut short again and again, part way through the log
    caught_up = await snapshot(store, tenant)
    assert await checkpoints(store, tenant) == {"standings": head, "audit_history": head}

    await Projector(store).rebuild(tenant, StandingsProjection())
    await Projector(store).rebuild(tenant, AuditProjection())
    assert await snapshot(store, tenant) == caught_up


CATCH_UP_SLOWLY = """
import asyncio, sys
from thidua.projections.runtime import PROJECTIONS, Projector
from thidua.store import EventStore

async def main(dsn: str, tenant: str) -> None:
    store = await EventStore.open(dsn)
    projector = Projector(store)
    while sum([await projector.catch_up(tenant, p, batch=5, batches=1) for p in PROJECTIONS]):
        await asyncio.sleep(0.01)
    print("caught up", flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_catch_up_resumes_after_the_process_is_killed(store: EventStore, dsn: str) -> None:
    tenant = await demo_cluster(store)
    head = (await store.head(tenant))[0]
    runner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CATCH_UP_SLOWLY, dsn, tenant
    )
    try:
        for _ in range(1000):
            reached = await checkpoints(store, tenant)
            if len(reached) == 2 and min(reached.values()) > head // 3:
                break
            await asyncio.sleep(0.01)
        runner.send_signal(signal.SIGKILL)
    finally:
        await asyncio.wait_for(runner.wait(), 30)
    partway = await checkpoints(store, tenant)
    assert min(partway.values()) > 0
    assert max(partway.values()) < head

    projector = Projector(store)
    for projection in PROJECTIONS:
        await projector.catch_up(tenant, projection)
    caught_up = await snapshot(store, tenant)
    await projector.rebuild(tenant, StandingsProjection())
    await projector.rebuild(tenant, AuditProjection())
    assert await snapshot(store, tenant) == caught_up


async def test_a_rebuild_under_concurrent_writes_loses_nothing(projected: Projector) -> None:
    store = projected.store
    tenant = await demo_cluster(store)
    service = Emulation(store, Calendar(datetime(YEAR, 12, 20, 2, tzinfo=UTC)))
    await service.handle(Envelope(tenant, CITY_BOARD.caller()), c.Reopen(YEAR, "Rà soát"))
    city = Envelope(tenant, CITY_BOARD.caller(), "Điều chỉnh theo kết quả thẩm định")

    async def write() -> int:
        written = 0
        for step in range(40):
            points = Decimal(20) + Decimal(step % 10) / 2
            adjusted = c.CityAdjust(YEAR, "kho-bac-hn", "A1", points, "Thẩm định lại")
            await service.handle(city, adjusted)
            written += 1
            await asyncio.sleep(0)
        return written

    rebuilder = Projector(store)  # another instance: it shares nothing in memory
    writes = asyncio.create_task(write())
    await asyncio.sleep(0.05)
    rebuilds = [await rebuilder.rebuild(tenant, p) for p in PROJECTIONS]
    assert await writes == 40
    head = (await store.head(tenant))[0]
    assert max(rebuilds) < head  # the writer kept writing through the rebuilds

    live = await snapshot(store, tenant)
    assert [row[1] for row in sorted(live["audit_history"])] == list(range(1, head + 1))
    assert await checkpoints(store, tenant) == {"standings": head, "audit_history": head}
    async with store.transaction(tenant) as conn:
        assert await reads.standings(conn, tenant, YEAR) == await reads.standings_at(
            conn, tenant, YEAR, head
        )
        generations = await conn.fetch(
            "SELECT DISTINCT generation FROM audit_history WHERE tenant_id = $1", tenant
        )
    assert [r["generation"] for r in generations] == [2]  # the old rows are gone
    await Projector(store).rebuild(tenant, StandingsProjection())
    await Projector(store).rebuild(tenant, AuditProjection())
    assert await snapshot(store, tenant) == live


async def test_cli_rebuilds_one_cluster_and_reports_its_lag(store: EventStore, dsn: str) -> None:
    tenant = await demo_cluster(store)  # nothing projected yet: the whole log is behind
    head = (await store.head(tenant))[0]
    env = {**os.environ, "DATABASE_URL": dsn, "COLUMNS": "200"}

    async def thidua(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "thidua",
            "projections",
            *args,
            "--cluster",
            tenant,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, err.decode()
        return out.decode()

    behind = await thidua("status")
    assert f"{tenant}" in behind
    assert f" {head} " in behind  # the head, and as much lag: nothing projected yet
    rebuilt = await thidua("rebuild")
    assert "sự kiện/s" in rebuilt
    assert "2/2" in rebuilt  # both projections of the one cluster
    assert f"2 projection(s) dựng lại, {2 * head:,} sự kiện" in rebuilt
    assert await checkpoints(store, tenant) == {"standings": head, "audit_history": head}
    assert "0 projection(s) dựng lại" in await thidua("rebuild", "--stale")  # none is stale
    after = await thidua("status")
    assert [line.split("│")[-2].strip() for line in after.splitlines() if tenant in line] == [
        "0",
        "0",
    ]


class StandingsNext(StandingsProjection):
    version = StandingsProjection.version + 1


async def test_a_new_version_is_rebuilt_by_the_runner(projected: Projector) -> None:
    store = projected.store
    tenant = await demo_cluster(store)
    before = await snapshot(store, tenant)
    upgraded = Projector(store, [StandingsNext(), AuditProjection()])
    [progress] = [
        p for p in await upgraded.progress() if p.tenant == tenant and p.projection == "standings"
    ]
    assert progress.needs_rebuild
    await upgraded.catch_up_all([tenant])
    async with store.transaction(tenant) as conn:
        row = await conn.fetchrow(
            "SELECT version, generation FROM projection_checkpoints"
            " WHERE tenant_id = $1 AND projection = 'standings'",
            tenant,
        )
    assert row is not None
    assert (row["version"], row["generation"]) == (StandingsNext.version, 2)
    assert await snapshot(store, tenant) == before


class Broken(AuditProjection):
    name = "broken"

    def new_state(self) -> Any:
        raise RuntimeError("a bug in a read model")


async def test_a_failing_projection_never_loses_the_write(store: EventStore, dsn: str) -> None:
    writer_store = await EventStore.open(dsn, max_size=4)
    code = f"cum-b-{uuid.uuid4().hex[:6]}"
    try:
        Projector(writer_store, [StandingsProjection(), Broken()]).attach()
        service = Emulation(writer_store, Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC)))
        board = CITY_BOARD.caller()
        await service.handle(Envelope(CITY_LOG, board), c.RegisterCluster(code, "Cụm thử lỗi"))
        members = tuple(c.MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in ("u1", "u2"))
        await service.handle(Envelope(code, board), c.OpenYear(YEAR, members, "u1", ("u2",)))
    finally:
        await writer_store.close()
    # The year is open; neither projection moved (one savepoint): the runner catches up.
    assert (await store.head(code))[0] == 1
    assert await checkpoints(store, code) == {}
    await Projector(store).catch_up_all([code])
    assert await checkpoints(store, code) == {"standings": 1, "audit_history": 1}


@dataclass(frozen=True)
class Moment:
    tenant: str
    position: int
    at: datetime
    standings: list[Standing]
    scorecard: reads.ScorecardAt


async def test_a_generated_year_travels_back_exactly_and_rebuilds_identically(
    projected: Projector,
) -> None:
    """Five clusters' seeded years at once (over 10,000 events with corrections, conflicts,
    refusals and a reopening): what the live tables showed at 20 moments is what time
    travel shows afterwards, and a rebuild from the log gives the live tables' rows."""
    store = projected.store
    moments: list[Moment] = []

    def capturer(tenant: str) -> Callable[[], Awaitable[None]]:
        async def capture() -> None:  # the cluster's workload waits: nothing in flight
            async with store.transaction(tenant) as conn:
                position = (await store.head(tenant))[0]
                standings = await reads.standings(conn, tenant, YEAR)
                card = await reads.scorecard_at(conn, tenant, YEAR, "dv-3")
                at = await conn.fetchval("SELECT clock_timestamp()")
            moments.append(Moment(tenant, position, at, standings, card))

        return capture

    tenants = [f"cum-g{seed}-{uuid.uuid4().hex[:6]}" for seed in range(1, 6)]
    counts = await asyncio.gather(
        *(
            generated_year(store, t, seed, events=2_050, capture=capturer(t), moments=4)
            for seed, t in enumerate(tenants, start=1)
        )
    )
    heads = [(await store.head(t))[0] for t in tenants]
    assert sum(heads) >= 10_000
    for counted in counts:
        for kind in ("corrections", "conflicts", "concurrent", "refusals", "reopenings"):
            assert counted[kind] > 0, kind
    assert len(moments) == 20
    assert all(m.standings for m in moments[5:])  # standings were live, not empty

    for moment in moments:
        async with store.transaction(moment.tenant) as conn:
            assert await reads.position_at(conn, moment.tenant, moment.at) == moment.position
            travelled = await reads.standings_at(conn, moment.tenant, YEAR, moment.position)
            card = await reads.scorecard_at(conn, moment.tenant, YEAR, "dv-3", moment.position)
        assert travelled == moment.standings
        assert card == moment.scorecard

    for tenant, head in zip(tenants, heads, strict=True):
        assert await checkpoints(store, tenant) == {"standings": head, "audit_history": head}
        live = await snapshot(store, tenant)
        assert len(live["audit_history"]) == head
        rebuilder = Projector(store)
        for projection in PROJECTIONS:
            await rebuilder.rebuild(tenant, projection)
        assert await snapshot(store, tenant) == live


async def test_a_cold_instance_folds_only_what_it_writes_to_and_projects_the_same(
    projected: Projector, dsn: str
) -> None:
    """An instance that never saw the cluster (or forgot it) folds only the year and the
    streams it writes to, as it needs them; the rows it writes equal a rebuild's."""
    store = projected.store
    tenant = await demo_cluster(store)
    other = await EventStore.open(dsn)
    try:
        cold = Projector(other)
        cold.attach()
        service = Emulation(other, Calendar(datetime(YEAR, 12, 20, 2, tzinfo=UTC)))
        city = Envelope(tenant, CITY_BOARD.caller(), "Điều chỉnh theo kết quả thẩm định")
        await service.handle(Envelope(tenant, CITY_BOARD.caller()), c.Reopen(YEAR, "Rà soát"))
        adjusted = c.CityAdjust(YEAR, "kho-bac-hn", "A1", Decimal(21), "Thẩm định lại")
        await service.handle(city, adjusted)
        kept = cold._cache[(tenant, "standings")]
        assert kept.scopes == {YEAR}  # the year written to, not the whole log
        await service.handle(city, replace(adjusted, points=Decimal(22)))  # warm now
    finally:
        await other.close()
    live = await snapshot(store, tenant)
    rebuilder = Projector(store)
    for projection in PROJECTIONS:
        await rebuilder.rebuild(tenant, projection)
    assert await snapshot(store, tenant) == live
