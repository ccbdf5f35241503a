"""The whole self-assessment form in one command, over HTTP: `selfScoreMany`.

A unit's officer saves every criterion of the form at once. What the officer, the
dashboard and the auditor see: the form lands as one command (one append, its events at
contiguous positions, one version step per event) and every point shows in the scorecard
and the standings; a form with one refused entry writes nothing of the form, and the
refusal, with the form's criteria, is in the audit log; an empty form, a criterion twice,
a form over the size cap and another unit's form are refused (a form that cannot be a
command at all, over the cap or with a blank evidence, as bad input, before anything runs).
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from api_client import Api, serving, token
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, YEAR, ensure_template
from thidua.domain.checks import MANY_SCORES
from thidua.domain.commands import AdoptCriteria, MemberGiven, OpenYear, RegisterCluster
from thidua.domain.criteria import Kind
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import HANOI, Calendar, Envelope

UNITS = {"so-tu-phap": "Sở Tư pháp", "so-y-te": "Sở Y tế", "so-gd": "Sở Giáo dục và Đào tạo"}
LEADER, UNIT, OTHER = UNITS
SCORING_DAY = date(YEAR, 11, 20)  # before the self-score deadline (10 December)

SCORE_MANY = """
mutation ($year: Int!, $unit: String!, $scores: [ScoreInput!]!, $key: String, $v: Int) {
  selfScoreMany(input: {year: $year, unit: $unit, scores: $scores},
                options: {idempotencyKey: $key, expectedVersion: $v}) {
    streamId version positions
  }
}"""
SCORECARD = """
query ($year: Int!, $unit: String!) { cluster { year(year: $year) {
  scorecard(unit: $unit) { entries { layer criterion points explanation evidence position } }
} } }"""
STANDINGS = """
query ($year: Int!) { cluster { year(year: $year) {
  standings(layer: SELF) { unit base bonus total complete }
} } }"""
AUDIT = """
query ($filter: AuditFilterInput) { cluster { auditTrail(filter: $filter, first: 100) {
  edges { node { position subject unit criteria actor after } }
} } }"""

# The whole form: every base criterion a little under its maximum, and one bonus.
FORM = {
    code: (c.max_points or Decimal(0)) - Decimal("0.5")
    for code, c in CITY_CRITERIA.scorable().items()
    if c.kind is Kind.BASE
} | {"E2": Decimal(3)}
BASE = sum((p for code, p in FORM.items() if code != "E2"), Decimal(0))


def entry(
    code: str, points: Decimal | int | str, evidence: list[str] | None = None
) -> dict[str, Any]:
    return {
        "criterion": code,
        "points": str(points),
        "explanation": f"Tự đánh giá tiêu chí {code}",
        "evidence": ["Báo cáo tổng kết năm, tr. 3"] if evidence is None else evidence,
    }


def form(scores: dict[str, Decimal]) -> list[dict[str, Any]]:
    return [entry(code, points) for code, points in scores.items()]


@dataclass
class Cluster:
    api: Api
    code: str

    def officer(self, unit: str) -> str:
        return token(self.api.dsn, f"Cán bộ {unit}", [self.code], Role.MEMBER_OFFICER, unit)

    @property
    def auditor(self) -> str:
        return token(self.api.dsn, "Kiểm toán viên", [self.code], Role.AUDITOR)

    async def post(
        self, who: str, unit: str, scores: list[dict[str, Any]], **more: Any
    ) -> tuple[int, dict[str, Any]]:
        variables = {"year": YEAR, "unit": unit, "scores": scores, **more}
        return await self.api.post(SCORE_MANY, variables, token=who, cluster=self.code)

    async def score_many(
        self, unit: str, scores: list[dict[str, Any]], **more: Any
    ) -> dict[str, Any]:
        variables = {"year": YEAR, "unit": unit, "scores": scores, **more}
        data = await self.api.ok(SCORE_MANY, variables, token=self.officer(unit), cluster=self.code)
        result: dict[str, Any] = data["selfScoreMany"]
        return result

    async def refused(
        self, who: str, unit: str, scores: list[dict[str, Any]], code: str
    ) -> tuple[str, dict[str, Any]]:
        """A form that must be refused with this code: nothing of it is written, the
        refusal alone is recorded. Its message and the refusal as the auditor reads it."""
        card, head = await self.scorecard(unit), await self.head()
        status, body = await self.post(who, unit, scores)
        assert (status, body.get("data")) == (200, None), body
        error = body["errors"][0]
        assert error["extensions"]["code"] == code, body
        assert await self.scorecard(unit) == card
        assert await self.head() == head + 1
        [refusal] = await self.audit(subject="refusal")
        assert (refusal["position"], refusal["after"]["code"]) == (head + 1, code)
        message: str = error["message"]
        return message, refusal

    async def bad_input(self, unit: str, scores: list[dict[str, Any]], code: str) -> str:
        """A form that cannot be a command: refused before anything runs, so nothing of it
        is written and nothing is recorded. Its message."""
        card, head = await self.scorecard(unit), await self.head()
        status, body = await self.post(self.officer(unit), unit, scores)
        assert (status, body.get("data")) == (200, None), body
        error = body["errors"][0]
        assert error["extensions"] == {"code": code, "kind": "BAD_INPUT"}, body
        assert await self.scorecard(unit) == card
        assert await self.head() == head  # refused before any command ran
        message: str = error["message"]
        return message

    async def scorecard(self, unit: str) -> list[dict[str, Any]]:
        data = await self.api.ok(
            SCORECARD, {"year": YEAR, "unit": unit}, token=self.auditor, cluster=self.code
        )
        entries: list[dict[str, Any]] = data["cluster"]["year"]["scorecard"]["entries"]
        return entries

    async def standings(self) -> dict[str, dict[str, Any]]:
        data = await self.api.ok(STANDINGS, {"year": YEAR}, token=self.auditor, cluster=self.code)
        return {r["unit"]: r for r in data["cluster"]["year"]["standings"]}

    async def audit(self, **where: Any) -> list[dict[str, Any]]:
        data = await self.api.ok(AUDIT, {"filter": where}, token=self.auditor, cluster=self.code)
        return [e["node"] for e in data["cluster"]["auditTrail"]["edges"]]

    async def head(self) -> int:
        position, _ = await self.api.store.head(self.code)
        return position

    async def version(self, unit: str) -> int:
        stream = await self.api.store.read_stream(self.code, f"scorecard/{YEAR}/{unit}")
        return len(stream)


@pytest.fixture(scope="module")
async def api(dsn: str) -> AsyncIterator[Api]:
    async with serving(dsn, Calendar(datetime.combine(SCORING_DAY, time(9), HANOI))) as api:
        await ensure_template(Emulation(api.store, api.clock))
        yield api


@pytest.fixture
async def cluster(api: Api) -> Cluster:
    """A cluster of three units whose year 2025 has the city's criteria, opened through the
    service; the server's day is in the self-scoring season."""
    code = f"cum-form-{uuid.uuid4().hex[:6]}"
    service = Emulation(api.store, api.clock)
    city = CITY_BOARD.caller()
    await service.handle(
        Envelope(CITY_LOG, city), RegisterCluster(code, "Cụm thi đua thử bản tự chấm")
    )
    members = tuple(MemberGiven(u, n, date(YEAR, 1, 1)) for u, n in UNITS.items())
    await service.handle(Envelope(code, city), OpenYear(YEAR, members, LEADER, (UNIT,)))
    secretariat = Actor("Văn phòng Sở Tư pháp", Role.SECRETARIAT, LEADER).caller()
    adopt = AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
    await service.handle(Envelope(code, secretariat), adopt)
    return Cluster(api, code)


def self_points(entries: list[dict[str, Any]]) -> dict[str, str]:
    return {e["criterion"]: e["points"] for e in entries if e["layer"] == "SELF"}


def cents(points: Decimal) -> str:
    return str(points.quantize(Decimal("0.01")))


async def test_a_whole_form_lands_as_one_command(cluster: Cluster) -> None:
    head = await cluster.head()

    done = await cluster.score_many(UNIT, form(FORM))

    # The card's opening and one event per criterion, in one append: contiguous positions,
    # the stream's version the number of its events, the log's head at the last position.
    positions = done["positions"]
    assert done["streamId"] == f"scorecard/{YEAR}/{UNIT}"
    assert len(positions) == 1 + len(FORM)
    assert positions == list(range(head + 1, head + 1 + len(positions)))
    assert done["version"] == len(positions) == await cluster.version(UNIT)
    assert await cluster.head() == positions[-1]

    entries = await cluster.scorecard(UNIT)
    assert self_points(entries) == {code: cents(p) for code, p in FORM.items()}
    assert {e["position"] for e in entries} == set(positions[1:])
    assert all(e["evidence"] == ["Báo cáo tổng kết năm, tr. 3"] for e in entries)
    standing = (await cluster.standings())[UNIT]
    assert (standing["base"], standing["bonus"]) == (cents(BASE), "3.00")
    assert standing["total"] == cents(BASE + 3)
    assert standing["complete"] is True

    # Every criterion is in the audit trail, by the officer who saved the form.
    scored = await cluster.audit(unit=UNIT, subject="score")
    assert [(s["criteria"], s["actor"]) for s in scored] == [
        ([code], f"Cán bộ {UNIT}") for code in FORM
    ]

    # Saving part of the form again: one version step per criterion changed.
    again = await cluster.score_many(
        UNIT, form({"A1": Decimal(25), "D": Decimal(10)}), v=done["version"]
    )
    assert again["version"] == done["version"] + 2
    assert again["positions"] == [positions[-1] + 1, positions[-1] + 2]
    expected = {code: cents(p) for code, p in FORM.items()} | {"A1": "25.00", "D": "10.00"}
    assert self_points(await cluster.scorecard(UNIT)) == expected
    standing = (await cluster.standings())[UNIT]
    assert standing["total"] == cents(BASE + 3 - FORM["A1"] + 25 - FORM["D"] + 10)


async def test_a_retried_form_is_recorded_once(cluster: Cluster) -> None:
    first = await cluster.score_many(UNIT, form(FORM), key="ban-tu-cham-1")
    head = await cluster.head()

    again = await cluster.score_many(UNIT, form(FORM), key="ban-tu-cham-1")

    assert again == first
    assert await cluster.head() == head


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        pytest.param(entry("Z9", 1), "UNKNOWN_CRITERION", id="unknown-criterion"),
        pytest.param(entry("C2", 4, evidence=[]), "EVIDENCE_REQUIRED", id="no-evidence"),
        pytest.param(entry("C2", 6), "SCORE_OUT_OF_RANGE", id="above-max"),
        pytest.param(entry("C2", "4.1"), "SCORE_STEP", id="off-step"),
        pytest.param(
            entry("C2", 4) | {"explanation": " "}, "EXPLANATION_REQUIRED", id="no-explanation"
        ),
    ],
)
async def test_one_bad_entry_refuses_the_whole_form(
    cluster: Cluster, bad: dict[str, Any], code: str
) -> None:
    await cluster.score_many(UNIT, form({"A1": Decimal(20)}))  # an earlier save
    scores = [*form({"A1": Decimal(29), "A2": Decimal(14)}), bad, entry("D", 15)]

    message, refusal = await cluster.refused(cluster.officer(UNIT), UNIT, scores, code)

    assert bad["criterion"] in message
    assert self_points(await cluster.scorecard(UNIT)) == {"A1": "20.00"}
    assert (refusal["actor"], refusal["unit"]) == (f"Cán bộ {UNIT}", UNIT)
    assert refusal["after"]["command"] == "selfScoreMany"
    assert refusal["after"]["target"] == {
        "year": str(YEAR),
        "unit": UNIT,
        "criteria": f"A1,A2,{bad['criterion']},D",
        "layer": "self",
    }


async def test_one_blank_evidence_refuses_the_whole_form_as_bad_input(cluster: Cluster) -> None:
    await cluster.score_many(UNIT, form({"A1": Decimal(20)}))  # an earlier save
    blank = entry("C2", 4, evidence=["  "])
    scores = [*form({"A1": Decimal(29), "A2": Decimal(14)}), blank, entry("D", 15)]

    message = await cluster.bad_input(UNIT, scores, "EMPTY_NAME")

    assert "evidence" in message
    assert self_points(await cluster.scorecard(UNIT)) == {"A1": "20.00"}


async def test_an_empty_form_is_refused(cluster: Cluster) -> None:
    message, _ = await cluster.refused(cluster.officer(UNIT), UNIT, [], "NO_SCORES")

    assert "ít nhất một tiêu chí" in message


async def test_a_criterion_twice_in_one_form_is_refused(cluster: Cluster) -> None:
    scores = [entry("A1", 20), entry("B1", 8), entry("A1", 25), entry("D", 10)]

    message, refusal = await cluster.refused(
        cluster.officer(UNIT), UNIT, scores, "DUPLICATE_CRITERION"
    )

    assert "lặp: A1." in message
    assert refusal["after"]["target"]["criteria"] == "A1,B1,A1,D"
    assert await cluster.scorecard(UNIT) == []


async def test_a_form_over_the_cap_is_bad_input(cluster: Cluster) -> None:
    scores = [entry(f"X{i}", 1) for i in range(MANY_SCORES + 1)]

    message = await cluster.bad_input(UNIT, scores, "TOO_MANY")

    assert str(MANY_SCORES) in message


async def test_a_form_at_the_cap_is_read(cluster: Cluster) -> None:
    """The cap is on the size alone: a full-size form reaches the rules (and is refused
    there, since these criteria are unknown), recorded like any refusal."""
    scores = [entry(f"X{i}", 1) for i in range(MANY_SCORES)]

    await cluster.refused(cluster.officer(UNIT), UNIT, scores, "UNKNOWN_CRITERION")


async def test_another_units_officer_is_forbidden(cluster: Cluster) -> None:
    _, refusal = await cluster.refused(cluster.officer(OTHER), UNIT, form(FORM), "FORBIDDEN")

    assert refusal["actor"] == f"Cán bộ {OTHER}"
    assert await cluster.scorecard(UNIT) == []


async def test_a_form_after_the_deadline_is_refused(api: Api, cluster: Cluster) -> None:
    api.clock.on(date(YEAR, 12, 11))
    try:
        await cluster.refused(cluster.officer(UNIT), UNIT, form(FORM), "SELF_SCORE_DEADLINE_PASSED")
    finally:
        api.clock.on(SCORING_DAY)

    assert await cluster.scorecard(UNIT) == []


async def test_the_form_matches_single_scores(api: Api, cluster: Cluster) -> None:
    """The form stands for as many `selfScore` calls: the same entries on the card."""
    scores = {"A1": Decimal("27.25"), "B2": Decimal(6), "F1": Decimal(2)}
    await cluster.score_many(UNIT, form(scores))
    officer = cluster.officer(OTHER)
    for code, points in scores.items():
        one = entry(code, points)
        await api.ok(
            "mutation ($year: Int!, $unit: String!, $criterion: String!, $points: Decimal!,"
            " $explanation: String!, $evidence: [String!]!) { selfScore(input: {year: $year,"
            " unit: $unit, criterion: $criterion, points: $points, explanation: $explanation,"
            " evidence: $evidence}) { version } }",
            {"year": YEAR, "unit": OTHER, **one},
            token=officer,
            cluster=cluster.code,
        )

    def content(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "position"} for e in entries]

    assert content(await cluster.scorecard(UNIT)) == content(await cluster.scorecard(OTHER))
    standings = await cluster.standings()
    assert standings[UNIT]["total"] == standings[OTHER]["total"] == "31.25"
