"""Kept answers: a repeated query is answered from memory while its cluster stands still,
and never once anything moved, for another caller, or for a mutation or a refusal."""

import asyncio
import contextlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from api_client import Api, played, serving, token
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, YEAR, ensure_template
from thidua.domain.commands import (
    AdoptCriteria,
    MemberGiven,
    OpenYear,
    RecordMidYearReview,
    SelfScore,
)
from thidua.domain.errors import DomainError
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore

DASHBOARD = """{ cluster { position year(year: 2025) {
  standings(layer: SELF) { unit total } } } }"""


async def get(api: Api, cluster: str, bearer: str, **headers: str) -> httpx.Response:
    return await api.http.post(
        f"/clusters/{cluster}/graphql",
        json={"query": DASHBOARD},
        headers={"authorization": f"Bearer {bearer}", **headers},
    )


async def test_a_repeated_query_is_the_same_answer_until_the_log_moves(dsn: str) -> None:
    async with serving(dsn) as api:
        cluster = await played(api, 5)
        board = token(dsn, "Ban thi đua", [cluster], Role.CITY_BOARD)
        first, again = await get(api, cluster, board), await get(api, cluster, board)
        assert first.status_code == again.status_code == 200
        assert first.content == again.content
        etag = first.headers["etag"]
        assert again.headers["etag"] == etag
        assert first.headers["cache-control"] == "private, no-cache"

        unchanged = await get(api, cluster, board, **{"if-none-match": etag})
        assert unchanged.status_code == 304
        assert unchanged.content == b""

        # Anything recorded moves the log, here a refused read by a dashboard.
        dashboard = token(dsn, "Màn hình", [cluster], Role.DASHBOARD)
        await api.refused(
            "{ cluster { auditTrail { edges { cursor } } } }", token=dashboard, cluster=cluster
        )
        moved = await get(api, cluster, board, **{"if-none-match": etag})
        assert moved.status_code == 200
        assert moved.headers["etag"] != etag
        position = first.json()["data"]["cluster"]["position"]
        assert moved.json()["data"]["cluster"]["position"] == position + 1


async def test_each_caller_gets_their_own_answer(dsn: str) -> None:
    clock = Calendar(datetime(YEAR, 11, 25, 2, tzinfo=UTC))
    async with serving(dsn, clock) as api:
        service = Emulation(api.store, clock)
        await ensure_template(service)
        cluster = "cum-moi-nguoi-mot-dap-an"
        await api.store.create_tenant(cluster, "Cụm thử câu trả lời riêng")
        units = ("dv-1", "dv-2", "dv-3")
        members = tuple(MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in units)
        await service.handle(
            Envelope(cluster, CITY_BOARD.caller()), OpenYear(YEAR, members, "dv-3")
        )
        secretariat = Envelope(cluster, Actor("Văn phòng", Role.SECRETARIAT, "dv-3").caller())
        await service.handle(
            secretariat, AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
        )
        answers: list[Any] = []
        for unit in ("dv-1", "dv-2"):
            scorer = Actor(f"Cán bộ {unit}", Role.MEMBER_OFFICER, unit)
            score = SelfScore(YEAR, unit, "A1", Decimal(20), "Đạt", ("Báo cáo",))
            await service.handle(Envelope(cluster, scorer.caller()), score)
        for unit in ("dv-1", "dv-2"):
            officer = token(dsn, f"Cán bộ {unit}", [cluster], Role.MEMBER_OFFICER, unit)
            body = (await get(api, cluster, officer)).json()
            answers.append([r["unit"] for r in body["data"]["cluster"]["year"]["standings"]])
        # Neither has submitted, so each self-assessment is a draft: each officer sees
        # only their own row.
        assert answers == [["dv-1"], ["dv-2"]]


async def test_a_refused_read_runs_and_is_recorded_every_time(dsn: str) -> None:
    async with serving(dsn) as api:
        cluster = await played(api, 5)
        dashboard = token(dsn, "Màn hình", [cluster], Role.DASHBOARD)
        before, _ = await api.store.head(cluster)
        for _ in range(2):
            code = await api.refused(
                "{ cluster { auditTrail { edges { cursor } } } }", token=dashboard, cluster=cluster
            )
            assert code == "FORBIDDEN"
        assert (await api.store.head(cluster))[0] == before + 2


async def test_a_repeated_mutation_runs_every_time(dsn: str) -> None:
    clock = Calendar(datetime(YEAR, 11, 25, 2, tzinfo=UTC))
    async with serving(dsn, clock) as api:
        service = Emulation(api.store, clock)
        await ensure_template(service)
        cluster = "cum-giu-dap-an"
        await api.store.create_tenant(cluster, "Cụm thử câu trả lời")
        members = tuple(MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in ("dv-1", "dv-2"))
        city = Envelope(cluster, CITY_BOARD.caller())
        await service.handle(city, OpenYear(YEAR, members, "dv-1"))
        secretariat = Envelope(cluster, Actor("Văn phòng", Role.SECRETARIAT, "dv-1").caller())
        await service.handle(
            secretariat, AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
        )
        officer = token(dsn, "Cán bộ", [cluster], Role.MEMBER_OFFICER, "dv-2")
        score = (
            'mutation { selfScore(input: {year: 2025, unit: "dv-2", criterion: "A1",'
            ' points: "20", explanation: "Đạt", evidence: ["Báo cáo"]}) { version } }'
        )
        first = await api.ok(score, token=officer, cluster=cluster)
        again = await api.ok(score, token=officer, cluster=cluster)
        assert again["selfScore"]["version"] == first["selfScore"]["version"] + 1


async def test_a_repeated_read_asks_the_database_nothing_until_another_instance_writes(
    dsn: str,
) -> None:
    """The version of a cluster that stands still is known without the database; an
    append on another instance (its own store, its notification) is seen at once after."""
    async with serving(dsn) as api:
        cluster = await played(api, 5)
        board = token(dsn, "Ban thi đua", [cluster], Role.CITY_BOARD)
        first = await get(api, cluster, board)
        reports: list[str] = []
        report = api.store.report

        async def counted(function: str, *args: object) -> list[Any]:
            reports.append(function)
            return await report(function, *args)

        api.store.report = counted  # type: ignore[method-assign]
        api.store.query_log = []
        again = await get(api, cluster, board)
        assert again.content == first.content
        assert (reports, api.store.query_log) == ([], [])

        elsewhere = await EventStore.open(dsn)
        try:
            dashboard = Actor("Màn hình", Role.DASHBOARD, None).caller()
            service = Emulation(elsewhere, Calendar(datetime.now(UTC)))
            with contextlib.suppress(DomainError):  # refused, and recorded: the log moves
                await service.handle(Envelope(cluster, dashboard), RecordMidYearReview(YEAR))
        finally:
            await elsewhere.close()
        async with asyncio.timeout(10):
            while True:
                moved = await get(api, cluster, board)
                if moved.content != first.content:
                    break
                await asyncio.sleep(0.02)
        position = first.json()["data"]["cluster"]["position"]
        assert moved.json()["data"]["cluster"]["position"] == position + 1
