"""Fifty officers score one card at once over HTTP, none naming a version: every write
lands, none is refused with a conflict it did not ask for."""

import asyncio
from datetime import UTC, date, datetime

from api_client import serving, token
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, YEAR, ensure_template
from thidua.domain.commands import AdoptCriteria, MemberGiven, OpenYear
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar, Envelope

SCORE = (
    "mutation ($code: String!, $points: Decimal!, $why: String!) {"
    ' selfScore(input: {year: 2025, unit: "dv-2", criterion: $code, points: $points,'
    ' explanation: $why, evidence: ["Báo cáo"]}) { version } }'
)


async def test_fifty_writers_on_one_card_all_succeed(dsn: str) -> None:
    clock = Calendar(datetime(YEAR, 11, 25, 2, tzinfo=UTC))
    async with serving(dsn, clock) as api:
        service = Emulation(api.store, clock)
        await ensure_template(service)
        cluster = f"cum-nam-muoi-{int(datetime.now(UTC).timestamp() * 1000) % 10**8}"
        await api.store.create_tenant(cluster, "Cụm năm mươi người chấm")
        members = tuple(MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in ("dv-1", "dv-2"))
        await service.handle(
            Envelope(cluster, CITY_BOARD.caller()), OpenYear(YEAR, members, "dv-1")
        )
        secretariat = Envelope(cluster, Actor("Văn phòng", Role.SECRETARIAT, "dv-1").caller())
        await service.handle(
            secretariat, AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
        )
        officer = token(dsn, "Cán bộ", [cluster], Role.MEMBER_OFFICER, "dv-2")
        codes = ["A1", "A2", "A3", "B1", "B2", "B3"]

        async def write(n: int) -> tuple[int, dict[str, object]]:
            variables = {"code": codes[n % len(codes)], "points": str(n % 5), "why": f"Lần {n}"}
            return await api.post(SCORE, variables, token=officer, cluster=cluster)

        answers = await asyncio.gather(*(write(n) for n in range(50)))
        refused = [body for _, body in answers if "errors" in body]
        assert refused == []
        versions = sorted(body["data"]["selfScore"]["version"] for _, body in answers)  # type: ignore[index]
        assert versions == list(range(2, 52))
