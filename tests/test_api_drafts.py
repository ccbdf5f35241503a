"""Drafts and what is published, over HTTP (DOMAIN.md): a unit's self-assessment is its
own draft until its head submits it. Until then nobody but those who may read the unit's
drafts (the unit itself, its assigned inspector, the secretariat, the city board and
auditors) sees any of it, through any read: the standings of every layer (now, as of a
moment, at a position), the mid-year review, the finalised results, the scorecards and
the standingsChanged subscription. For everyone else the unit has no self-layer row, its
verified and city totals count only its verified and city points, and every unit is
ranked on that. Once submitted, every member (and the dashboard) sees it; what was
recorded while it was a draft (the mid-year review, a past position) stays a draft.

One cluster of five: the leader (the secretariat), the drafting unit, its inspector,
another inspector (of another unit) and another member. Every unit but the drafting one
has submitted; the drafting unit's self scores carry quarter points nobody else has, so
any figure they make can be looked for in a whole response.
"""

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from api_client import Api, serving, token
from thidua.demo import CITY_BOARD
from thidua.domain import commands as c
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope

YEAR = 2025
LEAD, UNIT, CHECKER, CHECKER_2, OTHER = (
    "lanh-dao",
    "don-vi-nhap",
    "kiem-tra",
    "kiem-tra-khac",
    "don-vi-khac",
)
UNITS = (LEAD, UNIT, CHECKER, CHECKER_2, OTHER)

CRITERIA = CriteriaSet(
    version="nhap.1",
    effective_from=date(YEAR, 1, 1),
    bonus_cap=Decimal(5),
    criteria=(
        Criterion("A1", "Chỉ tiêu thành phố giao", "A", Decimal(30), Kind.BASE),
        Criterion("A2", "Cải cách hành chính", "A", Decimal(20), Kind.BASE),
        Criterion("B1", "Công tác thi đua", "B", Decimal(10), Kind.BASE),
        Criterion("E1", "Điểm thưởng", "E", Decimal(5), Kind.BONUS),
        Criterion("F1", "Điểm trừ", "F", None, Kind.DEDUCTION),
    ),
)
# Whole points for the units that submitted; A1 at 24 or more, so none is floored.
SUBMITTED = {
    LEAD: {"A1": 26, "A2": 16, "B1": 8},
    CHECKER: {"A1": 25, "A2": 15, "B1": 8},
    CHECKER_2: {"A1": 25, "A2": 14, "B1": 7},
    OTHER: {"A1": 24, "A2": 14, "B1": 6},
}
# The draft: quarter points. Published: its inspector's A1, the city's A2.
DRAFT = {"A1": "29.75", "A2": "19.50", "B1": "9.25", "E1": "4.50", "F1": "0.75"}
VERIFIED_A1, CITY_A2 = "22", "12"
# Every figure the draft makes, in any layer that falls back on it (self: the points, the
# parts A, B, E, F, base 58.50, total 62.25; verified: A 41.50, base 50.75, total 54.50;
# city: base 43.25, total 47.00), and after the draft is changed (A1 29.50: A 49.00,
# total 62.00). None of them is a figure anybody may see while it is a draft.
DRAFT_FIGURES = {
    *DRAFT.values(),
    *("49.25", "58.50", "62.25", "41.50", "50.75", "54.50", "43.25", "47.00"),
}
CHANGED_A1 = "29.50"
CHANGED_FIGURES = {CHANGED_A1, "49.00", "62.00"}

Rows = dict[str, list[tuple[str, int, str]]]  # layer -> (unit, rank, total), best first

# Those who may read the draft see what falls back on it: in the verified layer the
# drafting unit leads on its total, but its verified A1 (22) is under the floor, so the
# leader is first.
FULL: Rows = {
    "SELF": [
        (UNIT, 1, "62.25"),
        (LEAD, 2, "50.00"),
        (CHECKER, 3, "48.00"),
        (CHECKER_2, 4, "46.00"),
        (OTHER, 5, "44.00"),
    ],
    "VERIFIED": [
        (LEAD, 1, "50.00"),
        (UNIT, 2, "54.50"),
        (CHECKER, 3, "48.00"),
        (CHECKER_2, 4, "46.00"),
        (OTHER, 5, "44.00"),
    ],
    "CITY": [
        (LEAD, 1, "50.00"),
        (CHECKER, 2, "48.00"),
        (UNIT, 3, "47.00"),
        (CHECKER_2, 4, "46.00"),
        (OTHER, 5, "44.00"),
    ],
}
# The draft changed after a reopening: A1 29.50 in the self layer; A1 is verified, so
# the other layers do not move.
CHANGED: Rows = FULL | {
    "SELF": [
        (UNIT, 1, "62.00"),
        (LEAD, 2, "50.00"),
        (CHECKER, 3, "48.00"),
        (CHECKER_2, 4, "46.00"),
        (OTHER, 5, "44.00"),
    ]
}
# Everyone else: no self row for the drafting unit; verified counts its verified A1
# alone (22), city its verified A1 and the city's A2 (34); ranked last in both.
PUBLISHED: Rows = {
    "SELF": [
        (LEAD, 1, "50.00"),
        (CHECKER, 2, "48.00"),
        (CHECKER_2, 3, "46.00"),
        (OTHER, 4, "44.00"),
    ],
    "VERIFIED": [
        (LEAD, 1, "50.00"),
        (CHECKER, 2, "48.00"),
        (CHECKER_2, 3, "46.00"),
        (OTHER, 4, "44.00"),
        (UNIT, 5, "22.00"),
    ],
    "CITY": [
        (LEAD, 1, "50.00"),
        (CHECKER, 2, "48.00"),
        (CHECKER_2, 3, "46.00"),
        (OTHER, 4, "44.00"),
        (UNIT, 5, "34.00"),
    ],
}


@dataclass(frozen=True)
class Reader:
    name: str
    role: Role
    unit: str | None
    reads_drafts: bool  # may read the drafting unit's drafts (READ_OWN_UNIT on it)


READERS = [
    Reader("officer of another unit", Role.MEMBER_OFFICER, OTHER, False),
    Reader("head of another unit", Role.MEMBER_HEAD, OTHER, False),
    Reader("officer of the inspector's unit", Role.MEMBER_OFFICER, CHECKER, False),
    Reader("the unit's officer", Role.MEMBER_OFFICER, UNIT, True),
    Reader("the unit's head", Role.MEMBER_HEAD, UNIT, True),
    Reader("its assigned inspector", Role.CROSS_INSPECTOR, CHECKER, True),
    Reader("an inspector not assigned to it", Role.CROSS_INSPECTOR, CHECKER_2, False),
    Reader("the secretariat", Role.SECRETARIAT, LEAD, True),
    Reader("the city board", Role.CITY_BOARD, None, True),
    Reader("an auditor", Role.AUDITOR, None, True),
    Reader("a dashboard", Role.DASHBOARD, None, False),
]

STANDING_FIELDS = (
    "unit layer rank total base bonus deductions parts complete submittedAt flagged"
    " decidedBy first mayBeFirst floor"
)
RESULT_FIELDS = """on criteriaVersion flagged { unit criteria }
  layers { layer
    totals { unit base bonus deductions total partA a1Points largestDeduction complete
             submittedAt }
    ranking { first places { unit rank total decidedBy floor mayBeFirst } } }"""
STANDINGS = f"""query ($layer: Layer, $at: Int, $asOf: DateTime) {{ cluster {{ year(year: {YEAR})
  {{ standings(layer: $layer, atPosition: $at, asOf: $asOf) {{ {STANDING_FIELDS} }} }} }} }}"""
REVIEW = f"{{ cluster {{ year(year: {YEAR}) {{ midYearReview {{ {RESULT_FIELDS} }} }} }} }}"
LAYER_FIELDS = """totals { unit base bonus deductions total partA a1Points largestDeduction
    complete submittedAt }
  ranking { first places { unit rank total decidedBy floor mayBeFirst } }"""
RESULTS = f"""query ($layer: Layer!) {{ cluster {{ year(year: {YEAR}) {{ results
  {{ version layer(layer: $layer) {{ {LAYER_FIELDS} }} }} }} }} }}"""
RESULT = f"""query ($v: Int) {{ cluster {{ year(year: {YEAR})
  {{ result(version: $v) {{ version {RESULT_FIELDS} }} }} }} }}"""
SCORECARD = f"""query ($at: Int) {{ cluster {{ year(year: {YEAR})
  {{ scorecard(unit: "{UNIT}", atPosition: $at)
    {{ submittedAt entries {{ layer criterion points }} }} }} }} }}"""
STANDING_CARDS = f"""{{ cluster {{ year(year: {YEAR}) {{ standings(layer: CITY)
  {{ unit total scorecard {{ entries {{ layer criterion points }} }} }} }} }} }}"""
LIVE = f"""subscription {{ standingsChanged(year: {YEAR}) {{
  position standings {{ {STANDING_FIELDS} }} }} }}"""


def quoted(figures: set[str]) -> set[str]:
    """The figures as a response writes them: strings of two decimals."""
    return {json.dumps(str(Decimal(f).quantize(Decimal("0.01")))) for f in figures}


def leaked(body: Any, figures: set[str] = DRAFT_FIGURES) -> set[str]:
    """The draft's figures found anywhere in a response."""
    text = json.dumps(body, ensure_ascii=False)
    return {f for f in quoted(figures) if f in text}


def by_layer(rows: list[dict[str, Any]]) -> Rows:
    found: Rows = {}
    for r in sorted(rows, key=lambda r: (r["layer"], r["rank"], r["unit"])):
        found.setdefault(r["layer"], []).append((r["unit"], r["rank"], r["total"]))
    return found


def layers_of(result: dict[str, Any]) -> Rows:
    return {
        layer["layer"]: [(p["unit"], p["rank"], p["total"]) for p in layer["ranking"]["places"]]
        for layer in result["layers"]
    }


@dataclass
class Cluster:
    api: Api
    code: str
    service: Emulation
    clock: Calendar

    def token(self, reader: Reader) -> str:
        clusters = ["*"] if reader.role is Role.CITY_BOARD else [self.code]
        return token(
            self.api.dsn, f"{reader.name} ({reader.unit})", clusters, reader.role, reader.unit
        )

    async def run(self, actor: Actor, command: c.Command, reason: str | None = None) -> None:
        await self.service.handle(Envelope(self.code, actor.caller(), reason=reason), command)

    async def self_score(self, unit: str, code: str, points: str) -> None:
        officer = Actor(f"Cán bộ {unit}", Role.MEMBER_OFFICER, unit)
        score = c.SelfScore(
            year=YEAR,
            unit=unit,
            criterion=code,
            points=Decimal(points),
            explanation=f"Tự đánh giá tiêu chí {code}",
            evidence=("Báo cáo số 01",),
        )
        await self.run(officer, score)

    async def submit(self, unit: str) -> None:
        head = Actor(f"Thủ trưởng {unit}", Role.MEMBER_HEAD, unit)
        await self.run(head, c.SubmitSelfAssessment(year=YEAR, unit=unit))

    async def finalise(self) -> None:
        await self.run(SECRETARIAT, c.Finalise(year=YEAR))

    async def post(self, query: str, reader: Reader, **variables: Any) -> dict[str, Any]:
        _, body = await self.api.post(query, variables, token=self.token(reader), cluster=self.code)
        return body

    async def read(self, query: str, reader: Reader, **variables: Any) -> dict[str, Any]:
        data = await self.api.ok(query, variables, token=self.token(reader), cluster=self.code)
        year: dict[str, Any] = data["cluster"]["year"]
        return year

    async def head(self) -> int:
        position, _ = await self.api.store.head(self.code)
        return position


SECRETARIAT = Actor("Văn phòng thường trực", Role.SECRETARIAT, LEAD)


async def drafted(api: Api, clock: Calendar) -> Cluster:
    """The cluster at the mid-year review: every unit but UNIT has submitted; its draft has
    a verified A1 and a city A2."""
    service = Emulation(api.store, clock)
    code = f"cum-nhap-{uuid.uuid4().hex[:6]}"
    template = f"tieu-chi-nhap-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(api, code, service, clock)
    city = Envelope(CITY_LOG, CITY_BOARD.caller())
    await service.handle(city, c.PublishTemplate(name=template, criteria=CRITERIA))
    await api.store.create_tenant(code, "Cụm thử bản nháp")

    clock.on(date(YEAR, 1, 10))
    members = tuple(
        c.MemberGiven(unit=u, name=f"Đơn vị {u}", joined_on=date(YEAR, 1, 1)) for u in UNITS
    )
    await cluster.run(CITY_BOARD, c.OpenYear(year=YEAR, members=members, leader=LEAD))
    clock.on(date(YEAR, 2, 20))
    adopt = c.AdoptCriteria(
        year=YEAR, template_name=template, template_version=CRITERIA.version, criteria=CRITERIA
    )
    await cluster.run(SECRETARIAT, adopt)
    for inspection, inspector, unit in (("kt-nhap", CHECKER, UNIT), ("kt-khac", CHECKER_2, OTHER)):
        assign = c.AssignInspection(
            year=YEAR, inspection_id=inspection, inspector=inspector, units=(unit,)
        )
        await cluster.run(SECRETARIAT, assign)

    clock.on(date(YEAR, 6, 1))
    for unit, points in SUBMITTED.items():
        for code_, value in points.items():
            await cluster.self_score(unit, code_, str(value))
        await cluster.submit(unit)
    for code_, draft in DRAFT.items():
        await cluster.self_score(UNIT, code_, draft)

    clock.on(date(YEAR, 6, 10))
    checker = Actor("Kiểm tra chéo", Role.CROSS_INSPECTOR, CHECKER)
    verify = c.VerifyScore(
        year=YEAR,
        unit=UNIT,
        criterion="A1",
        points=Decimal(VERIFIED_A1),
        explanation="Minh chứng chưa đủ",
    )
    await cluster.run(checker, verify, "Kiểm tra chéo")
    clock.on(date(YEAR, 6, 20))
    adjust = c.CityAdjust(
        year=YEAR, unit=UNIT, criterion="A2", points=Decimal(CITY_A2), explanation="Điều chỉnh"
    )
    await cluster.run(CITY_BOARD, adjust)
    clock.on(date(YEAR, 7, 15))
    await cluster.run(SECRETARIAT, c.RecordMidYearReview(year=YEAR))
    return cluster


def expect_rows(rows: list[dict[str, Any]], expected: Rows, reader: Reader) -> None:
    assert by_layer(rows) == expected, reader.name


def expect_published_unit(rows: list[dict[str, Any]], reader: Reader) -> None:
    """The drafting unit's own rows, for those who may not read its draft: no self row;
    verified and city count only what was verified or adjusted."""
    mine = {r["layer"]: r for r in rows if r["unit"] == UNIT}
    assert set(mine) == {"VERIFIED", "CITY"}, reader.name
    verified, city = mine["VERIFIED"], mine["CITY"]
    assert (verified["base"], verified["bonus"], verified["deductions"]) == (
        "22.00",
        "0.00",
        "0.00",
    )
    assert verified["parts"] == {"A": "22.00", "B": "0.00", "E": "0.00", "F": "0.00"}
    assert city["parts"] == {"A": "34.00", "B": "0.00", "E": "0.00", "F": "0.00"}
    assert not verified["complete"]
    assert not city["complete"]
    assert verified["submittedAt"] is None
    assert city["submittedAt"] is None


async def expect_standings(
    cluster: Cluster, reader: Reader, expected: Rows, figures: set[str], **at: Any
) -> None:
    """Every layer's standings, all at once and one layer at a time."""
    everything = await cluster.read(STANDINGS, reader, **at)
    expect_rows(everything["standings"], expected, reader)
    for layer in ("SELF", "VERIFIED", "CITY"):
        one = await cluster.read(STANDINGS, reader, layer=layer, **at)
        assert by_layer(one["standings"]) == {layer: expected[layer]}, (reader.name, layer)
    if expected is PUBLISHED:
        expect_published_unit(everything["standings"], reader)
        assert not leaked(everything, figures), reader.name
    else:
        assert leaked(everything, figures), reader.name  # the figures are there to find


async def expect_review(cluster: Cluster, reader: Reader, expected: Rows) -> None:
    """The mid-year review was taken while UNIT's self-assessment was a draft."""
    review = (await cluster.read(REVIEW, reader))["midYearReview"]
    assert layers_of(review) == expected, reader.name
    if expected is PUBLISHED:
        assert not leaked(review), reader.name
        self_units = [t["unit"] for t in review["layers"][0]["totals"]]
        assert review["layers"][0]["layer"] == "SELF"
        assert UNIT not in self_units
        published = {layer["layer"]: layer["totals"] for layer in review["layers"]}
        unit = next(t for t in published["VERIFIED"] if t["unit"] == UNIT)
        assert (unit["total"], unit["a1Points"], unit["complete"]) == ("22.00", "22.00", False)
    else:
        assert leaked(review), reader.name
    assert review["flagged"] == [{"unit": u, "criteria": []} for u in sorted(UNITS)]


async def results(cluster: Cluster, reader: Reader) -> list[tuple[int, Rows]]:
    """Every finalised version, one layer at a time (all at once costs too much); the
    latest version's figures, for those who may not read a draft recorded in it, are
    none of the draft's."""
    found: dict[int, Rows] = {}
    for layer in ("SELF", "VERIFIED", "CITY"):
        versions = (await cluster.read(RESULTS, reader, layer=layer))["results"]
        for v in versions:
            places = v["layer"]["ranking"]["places"]
            found.setdefault(v["version"], {})[layer] = [
                (p["unit"], p["rank"], p["total"]) for p in places
            ]
            if v["version"] == 2 and not reader.reads_drafts:
                assert not leaked(v, DRAFT_FIGURES | CHANGED_FIGURES), reader.name
                assert UNIT not in [t["unit"] for t in v["layer"]["totals"] if layer == "SELF"]
    return sorted(found.items())


async def expect_scorecards(cluster: Cluster, reader: Reader, at: int | None) -> None:
    """The scorecard is read only by those who may read the unit's drafts, before and
    after it is submitted; a refusal shows nothing of it."""
    if reader.reads_drafts:
        card = (await cluster.read(SCORECARD, reader, at=at))["scorecard"]
        own = {e["criterion"]: e["points"] for e in card["entries"] if e["layer"] == "SELF"}
        assert set(own) == set(DRAFT), reader.name
        if reader.role in (Role.SECRETARIAT, Role.CITY_BOARD, Role.AUDITOR):  # every unit's
            cards = await cluster.read(STANDING_CARDS, reader)
            assert all(row["scorecard"]["entries"] for row in cards["standings"])
        return
    body = await cluster.post(SCORECARD, reader, at=at)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert not leaked(body), reader.name
    body = await cluster.post(STANDING_CARDS, reader)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert not leaked(body), reader.name


async def test_a_draft_is_read_only_by_those_who_may_read_its_unit(dsn: str) -> None:
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    async with serving(dsn, clock) as api:
        cluster = await drafted(api, clock)
        drafting = await cluster.head()
        await asyncio.sleep(0.01)
        moment = datetime.now(UTC)  # a moment it was a draft, by the log's own clock

        # While it is a draft: every read, every role.
        for reader in READERS:
            view = FULL if reader.reads_drafts else PUBLISHED
            await expect_standings(cluster, reader, view, DRAFT_FIGURES)
            await expect_standings(cluster, reader, view, DRAFT_FIGURES, at=drafting)
            await expect_standings(cluster, reader, view, DRAFT_FIGURES, asOf=moment.isoformat())
            await expect_review(cluster, reader, view)
            assert await results(cluster, reader) == []
            assert (await cluster.read(RESULT, reader))["result"] is None
            await expect_scorecards(cluster, reader, None)
            await expect_scorecards(cluster, reader, drafting)

        # Submitted: every member (and the dashboard) reads it now. What was recorded or
        # shown while it was a draft stays so: the mid-year review, the past positions.
        clock.on(date(YEAR, 11, 20))
        await cluster.submit(UNIT)
        submitted = await cluster.head()
        for reader in READERS:
            view = FULL if reader.reads_drafts else PUBLISHED
            rows = (await cluster.read(STANDINGS, reader))["standings"]
            expect_rows(rows, FULL, reader)
            assert all(r["submittedAt"] for r in rows if r["unit"] == UNIT)
            await expect_standings(cluster, reader, FULL, DRAFT_FIGURES, at=submitted)
            await expect_standings(cluster, reader, view, DRAFT_FIGURES, at=drafting)
            await expect_standings(cluster, reader, view, DRAFT_FIGURES, asOf=moment.isoformat())
            await expect_review(cluster, reader, view)
            await expect_scorecards(cluster, reader, None)

        # Finalised with every unit submitted: the result is everyone's.
        clock.on(date(YEAR, 11, 25))
        await cluster.finalise()
        for reader in READERS:
            assert await results(cluster, reader) == [(1, FULL)], reader.name
            result = (await cluster.read(RESULT, reader, v=1))["result"]
            assert layers_of(result) == FULL, reader.name

        # Reopened; a new self score withdraws the submission: a draft again, and the
        # result finalised on it is shaped as the live standings are.
        clock.on(date(YEAR, 11, 26))
        await cluster.run(CITY_BOARD, c.Reopen(year=YEAR, reason="Rà soát lại điểm tự chấm"))
        clock.on(date(YEAR, 11, 27))
        await cluster.self_score(UNIT, "A1", CHANGED_A1)
        clock.on(date(YEAR, 11, 28))
        await cluster.finalise()
        for reader in READERS:
            view = CHANGED if reader.reads_drafts else PUBLISHED
            await expect_standings(cluster, reader, view, DRAFT_FIGURES | CHANGED_FIGURES)
            latest = (await cluster.read(RESULT, reader))["result"]
            second = (await cluster.read(RESULT, reader, v=2))["result"]
            assert latest == second
            assert second["version"] == 2
            assert layers_of(second) == view, reader.name
            assert bool(leaked(second, CHANGED_FIGURES)) is reader.reads_drafts, reader.name
            if not reader.reads_drafts:
                assert not leaked(second), reader.name  # nor what falls back on the draft
            assert await results(cluster, reader) == [(1, FULL), (2, view)], reader.name
            first = (await cluster.read(RESULT, reader, v=1))["result"]
            assert layers_of(first) == FULL  # submitted then: published as recorded
            assert not leaked(first, CHANGED_FIGURES)


def socket(url: str, client: httpx.AsyncClient) -> Any:
    return aconnect_ws(url, client, subprotocols=["graphql-transport-ws"])


async def subscribe(ws: AsyncWebSocketSession, bearer: str) -> None:
    await ws.send_json(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {bearer}"}}
    )
    assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
    await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": LIVE}})


async def update(ws: AsyncWebSocketSession) -> dict[str, Any]:
    message = await ws.receive_json(timeout=10)
    assert message["type"] == "next", message
    found: dict[str, Any] = message["payload"]["data"]["standingsChanged"]
    return found


async def test_standings_changed_shows_a_draft_only_to_those_who_may_read_it(dsn: str) -> None:
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    async with serving(dsn, clock) as api:
        cluster = await drafted(api, clock)
        url = f"{api.url.replace('http', 'ws')}/clusters/{cluster.code}/graphql"
        async with httpx.AsyncClient() as client:
            sockets = [socket(url, client) for _ in READERS]
            live = [await s.__aenter__() for s in sockets]
            try:
                for ws, reader in zip(live, READERS, strict=True):
                    await subscribe(ws, cluster.token(reader))
                for ws, reader in zip(live, READERS, strict=True):
                    first = await update(ws)
                    view = FULL if reader.reads_drafts else PUBLISHED
                    expect_rows(first["standings"], view, reader)
                    if not reader.reads_drafts:
                        expect_published_unit(first["standings"], reader)
                    assert bool(leaked(first)) is reader.reads_drafts, reader.name

                clock.on(date(YEAR, 11, 20))
                await cluster.submit(UNIT)
                for ws, reader in zip(live, READERS, strict=True):
                    changed = await update(ws)
                    assert changed["position"] == await cluster.head()
                    expect_rows(changed["standings"], FULL, reader)
            finally:
                for s in reversed(sockets):
                    await s.__aexit__(None, None, None)
