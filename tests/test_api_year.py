"""One cluster's year end to end over HTTP, as its people would do it: the city opens the
year, the secretariat adopts criteria and drafts the pledge, heads sign, officers score,
an inspector changes a score, the cluster meets and votes, the year is finalised, a
proposal is made and the city reopens it. Standings and the audit trail are checked at
each step, through the same GraphQL a dashboard uses."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from api_client import Api, serving, token
from thidua.demo import CITY_CRITERIA
from thidua.domain.criteria import CriteriaSet, Kind
from thidua.domain.rights import Role
from thidua.service.envelope import Calendar

YEAR = 2026
UNITS = {"so-tu-phap": "Sở Tư pháp", "so-y-te": "Sở Y tế", "so-gd": "Sở Giáo dục và Đào tạo"}
LEADER, DEPUTY, OTHER = UNITS

STANDINGS = """
query ($year: Int!, $layer: Layer, $at: Int, $asOf: DateTime) {
  cluster { position year(year: $year) {
    standings(layer: $layer, atPosition: $at, asOf: $asOf) { unit rank total decidedBy first }
  } }
}"""
NOTES = """
query ($year: Int!) {
  cluster { year(year: $year) { standings(layer: VERIFIED) {
    unit notes {
      kind text on points maximum threshold share percent thresholdShare thresholdPercent
    }
  } } }
}"""
AUDIT = """
query ($filter: AuditFilterInput, $after: String) {
  cluster { auditTrail(filter: $filter, first: 50, after: $after) {
    edges { node { position subject item unit criteria before after actor role reason } }
    pageInfo { hasNextPage endCursor }
  } }
}"""
RESULT = "{ streamId version positions year { status version } }"
RESULTS = """
query ($year: Int!) {
  cluster { year(year: $year) {
    midYearReview { on }
    results { version layers { layer } }
    result {
      version on criteriaVersion
      layer(layer: CITY) {
        ranking { first places { unit rank total decidedBy floor } }
        totals { unit total a1Points complete submittedAt parts { part points } }
      }
      flagged { unit criteria }
    }
  } }
}"""


# Every base criterion but A1 at its maximum: totals differ by A1 alone.
FULL = {
    code: c.max_points
    for code, c in CITY_CRITERIA.scorable().items()
    if c.kind is Kind.BASE and code != "A1" and c.max_points is not None
}
REST = sum(FULL.values(), Decimal(0))


def above(row: dict[str, Any]) -> str:
    """A unit's total less the criteria everyone scored in full: its A1."""
    return str(Decimal(row["total"]) - REST)


def criteria_input(criteria: CriteriaSet) -> dict[str, Any]:
    return {
        "version": criteria.version,
        "effectiveFrom": criteria.effective_from.isoformat(),
        "bonusCap": str(criteria.bonus_cap),
        "criteria": [
            {
                "code": c.code,
                "title": c.title,
                "part": c.part,
                "maxPoints": None if c.max_points is None else str(c.max_points),
                "kind": c.kind.name,
                "parent": c.parent,
            }
            for c in criteria.criteria
        ],
    }


class People:
    """Tokens of the people of one cluster."""

    def __init__(self, dsn: str, cluster: str) -> None:
        self.city = token(dsn, "Nguyễn Văn An", ["*"], Role.CITY_BOARD)
        self.auditor = token(dsn, "Kiểm toán viên", [cluster], Role.AUDITOR)
        self.secretariat = token(dsn, "Văn phòng Sở Tư pháp", [cluster], Role.SECRETARIAT, LEADER)
        self.dashboard = token(dsn, "Màn hình hội trường", [cluster], Role.DASHBOARD)
        self.dsn, self.cluster = dsn, cluster

    def of(self, unit: str, role: Role) -> str:
        return token(self.dsn, f"Cán bộ {unit}", [self.cluster], role, unit)


async def run(api: Api, who: str, cluster: str, mutation: str, **variables: Any) -> Any:
    """A mutation that must succeed: its result."""
    declared = ", ".join(f"${k}: {TYPES.get(k) or _type(v)}" for k, v in variables.items())
    passed = ", ".join(f"{k}: ${k}" for k in variables)
    query = f"mutation ({declared}) {{ {mutation}(input: {{{passed}}}) {RESULT} }}"
    return (await api.ok(query, variables, token=who, cluster=cluster))[mutation]


TYPES = {"points": "Decimal!", "heldOn": "Date!", "award": "Award!"}


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean!"
    if isinstance(value, int):
        return "Int!"
    if isinstance(value, list):
        return "[String!]!"
    return "String!"


async def standings(api: Api, who: str, cluster: str, **variables: Any) -> list[dict[str, Any]]:
    data = await api.ok(STANDINGS, {"year": YEAR, **variables}, token=who, cluster=cluster)
    rows: list[dict[str, Any]] = data["cluster"]["year"]["standings"]
    return rows


async def audit(api: Api, who: str, cluster: str, **where: Any) -> list[dict[str, Any]]:
    data = await api.ok(AUDIT, {"filter": where}, token=who, cluster=cluster)
    return [e["node"] for e in data["cluster"]["auditTrail"]["edges"]]


async def open_cluster(api: Api, people: People, cluster: str, template: str) -> None:
    city = people.city
    registered = await api.ok(
        "mutation ($c: String!) {"
        ' registerCluster(input: {code: $c, name: "Cụm thi đua thử"}) { cluster } }',
        {"c": cluster},
        token=city,
    )
    assert registered == {"registerCluster": {"cluster": cluster}}
    published = await api.ok(
        "mutation ($n: String!, $c: CriteriaSetInput!) {"
        " publishTemplate(input: {name: $n, criteria: $c}) { streamId } }",
        {"n": template, "c": criteria_input(CITY_CRITERIA)},
        token=city,
    )
    assert published["publishTemplate"]["streamId"].startswith("criteria-template/")
    members = [{"unit": u, "name": n, "joinedOn": f"{YEAR}-01-01"} for u, n in UNITS.items()]
    opened = await api.ok(
        "mutation ($y: Int!, $m: [MemberInput!]!, $r: JSON) { openYear(input: {year: $y,"
        f' members: $m, leader: "{LEADER}", deputies: ["{DEPUTY}"], rules: $r}}) {RESULT} }}',
        {"y": YEAR, "m": members, "r": {"certificate_share": "1/2"}},  # one of three
        token=city,
        cluster=cluster,
    )
    assert opened["openYear"]["year"] == {"status": "open", "version": 1}


async def test_a_year_over_http(dsn: str) -> None:
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    cluster = f"cum-api-{uuid.uuid4().hex[:6]}"
    template = f"bo-tieu-chi-thu-{uuid.uuid4().hex[:6]}"
    people = People(dsn, cluster)
    async with serving(dsn, clock) as api:
        await open_cluster(api, people, cluster, template)
        sec = people.secretariat

        clock.on(date(YEAR, 2, 20))
        adopted = await api.ok(
            "mutation ($y: Int!, $n: String!, $v: String!, $c: CriteriaSetInput!) {"
            " adoptCriteria(input: {year: $y, templateName: $n, templateVersion: $v,"
            " criteria: $c}) { version } }",
            {
                "y": YEAR,
                "n": template,
                "v": CITY_CRITERIA.version,
                "c": criteria_input(CITY_CRITERIA),
            },
            token=sec,
            cluster=cluster,
        )
        assert adopted["adoptCriteria"]["version"] == 2
        await run(
            api,
            sec,
            cluster,
            "draftPledge",
            year=YEAR,
            commitments=["Hoàn thành xuất sắc"],
            targets=["100% hồ sơ trực tuyến"],
        )
        for unit in UNITS:
            await run(
                api, people.of(unit, Role.MEMBER_HEAD), cluster, "signPledge", year=YEAR, unit=unit
            )
        pledge = await api.ok(
            "{ cluster { year(year: 2026) { pledge { signatures { unit person } } } } }",
            token=people.dashboard,
            cluster=cluster,
        )
        signed = pledge["cluster"]["year"]["pledge"]["signatures"]
        assert [s["unit"] for s in signed] == sorted(UNITS)

        # Self scores: the leader strongest; standings follow at once (read-your-writes).
        clock.on(date(YEAR, 11, 20))
        for share, unit in zip((28, 26, 24), UNITS, strict=True):
            officer = people.of(unit, Role.MEMBER_OFFICER)
            for code, points in {**FULL, "A1": Decimal(share)}.items():
                await run(
                    api,
                    officer,
                    cluster,
                    "selfScore",
                    year=YEAR,
                    unit=unit,
                    criterion=code,
                    points=str(points),
                    explanation="Tự đánh giá",
                    evidence=["Báo cáo 01"],
                )
        assert await standings(api, people.dashboard, cluster, layer="SELF") == []  # drafts
        ranked = await standings(api, people.auditor, cluster, layer="SELF")
        assert [(r["unit"], r["rank"], above(r)) for r in ranked] == [
            (LEADER, 1, "28.00"),
            (DEPUTY, 2, "26.00"),
            (OTHER, 3, "24.00"),
        ]
        before_inspection = await api.ok(
            STANDINGS, {"year": YEAR}, token=people.auditor, cluster=cluster
        )
        position_before = before_inspection["cluster"]["position"]

        # A correction: the officer lowers a score; the audit trail shows before and after.
        officer = people.of(OTHER, Role.MEMBER_OFFICER)
        await run(
            api,
            officer,
            cluster,
            "selfScore",
            year=YEAR,
            unit=OTHER,
            criterion="A1",
            points="23.5",
            explanation="Điều chỉnh theo minh chứng",
            evidence=["Báo cáo 02"],
        )
        changes = await audit(api, people.auditor, cluster, unit=OTHER, criterion="A1")
        scores = [c for c in changes if c["subject"] == "score"]
        assert [c["after"]["points"] for c in scores] == ["24", "23.5"]
        assert scores[1]["before"] == scores[0]["after"]
        assert scores[1]["actor"] == f"Cán bộ {OTHER}"

        # Heads submit; cross-inspection: the deputy checks the leader and lowers A1.
        for unit in UNITS:
            await run(
                api,
                people.of(unit, Role.MEMBER_HEAD),
                cluster,
                "submitSelfAssessment",
                year=YEAR,
                unit=unit,
            )
        clock.on(date(YEAR, 12, 5))
        await run(
            api,
            sec,
            cluster,
            "assignInspection",
            year=YEAR,
            inspectionId="kt-2026",
            inspector=DEPUTY,
            units=[LEADER],
        )
        inspector = people.of(DEPUTY, Role.CROSS_INSPECTOR)
        await run(
            api,
            inspector,
            cluster,
            "verifyScore",
            year=YEAR,
            unit=LEADER,
            criterion="A1",
            points="22",
            explanation="Minh chứng chưa đủ",
        )
        for unit in (DEPUTY, OTHER):
            card = await api.ok(
                "query ($u: String!) { cluster { year(year: 2026) { scorecard(unit: $u)"
                " { entries { layer criterion points } } } } }",
                {"u": unit},
                token=sec,
                cluster=cluster,
            )
            self_points = [
                e["points"]
                for e in card["cluster"]["year"]["scorecard"]["entries"]
                if e["layer"] == "SELF"
            ]
            await run(
                api,
                sec,
                cluster,
                "verifyScore",
                year=YEAR,
                unit=unit,
                criterion="A1",
                points=self_points[0],
                explanation="Thống nhất",
            )
        verified = await standings(api, people.dashboard, cluster, layer="VERIFIED")
        assert [(r["unit"], above(r)) for r in verified] == [
            (DEPUTY, "26.00"),
            (OTHER, "23.50"),
            (LEADER, "22.00"),
        ]
        # Each row says why, in words and figures: nobody registered a topic or a new model,
        # and the inspection put the leader's A1 below 80% of its maximum.
        noted = await api.ok(NOTES, {"year": YEAR}, token=people.dashboard, cluster=cluster)
        notes = {r["unit"]: r["notes"] for r in noted["cluster"]["year"]["standings"]}
        assert [n["kind"] for n in notes[DEPUTY]] == ["NO_TOPIC", "NO_NEW_MODEL"]
        assert notes[DEPUTY][0]["on"] == f"{YEAR}-03-31"
        no_topic, no_model, a1 = notes[LEADER]
        assert (no_topic["kind"], no_model["kind"]) == ("NO_TOPIC", "NO_NEW_MODEL")
        assert a1 == {
            "kind": "A1_BELOW_SHARE",
            "text": "Tiêu chí A1 đạt 22.00 trên 30.00 điểm (73.33%), dưới mức 80% điểm tối đa"
            " (24.00 điểm): không được xếp thứ nhất, không được đề nghị Cờ thi đua.",
            "on": None,
            "points": "22.00",
            "maximum": "30.00",
            "threshold": "24.00",
            "share": "11/15",
            "percent": "73.33",
            "thresholdShare": "4/5",
            "thresholdPercent": "80.00",
        }
        assert notes[OTHER][-1]["points"] == "23.50"
        inspected = await audit(api, people.auditor, cluster, unit=LEADER, subject="score")
        assert inspected[-1]["role"] == "cross_inspector"
        assert inspected[-1]["after"]["points"] == "22"

        # Time travel: the standings as they stood before the inspection are unchanged.
        past = await standings(api, people.auditor, cluster, layer="SELF", at=position_before)
        assert [(r["unit"], above(r)) for r in past] == [
            (LEADER, "28.00"),
            (DEPUTY, "26.00"),
            (OTHER, "24.00"),
        ]

        # The meeting and its secret ballot: tallies only.
        clock.on(date(YEAR, 12, 15))
        await run(
            api,
            sec,
            cluster,
            "conveneMeeting",
            year=YEAR,
            meetingId="tk",
            title="Hội nghị tổng kết",
            heldOn=str(clock().date()),
        )
        await run(
            api, sec, cluster, "recordAttendance", year=YEAR, meetingId="tk", present=list(UNITS)
        )
        await run(
            api,
            sec,
            cluster,
            "openBallot",
            year=YEAR,
            meetingId="tk",
            candidate=DEPUTY,
            question="Suy tôn",
        )
        await run(api, sec, cluster, "recordTally", year=YEAR, meetingId="tk", yes=3, no=0, blank=0)
        meeting = await api.ok(
            "{ cluster { year(year: 2026) {"
            " meetings { quorum ballots { candidate yes passed } } } } }",
            token=people.dashboard,
            cluster=cluster,
        )
        assert meeting["cluster"]["year"]["meetings"] == [
            {"quorum": True, "ballots": [{"candidate": DEPUTY, "yes": 3, "passed": True}]}
        ]

        # Finalise, propose, and the city reopens with a reason.
        done = await run(api, sec, cluster, "finalise", year=YEAR)
        assert done["year"]["status"] == "finalised"
        refused = await api.refused(
            f'mutation {{ selfScore(input: {{year: {YEAR}, unit: "{OTHER}", criterion: "A1",'
            ' points: "1", explanation: "muộn", evidence: []}) { version } }',
            token=people.of(OTHER, Role.MEMBER_OFFICER),
            cluster=cluster,
        )
        assert refused == "YEAR_FINALISED"
        results = await api.ok(RESULTS, {"year": YEAR}, token=people.dashboard, cluster=cluster)
        found = results["cluster"]["year"]
        assert found["midYearReview"] is None  # none was recorded this year
        assert found["results"] == [
            {"version": 1, "layers": [{"layer": "SELF"}, {"layer": "VERIFIED"}, {"layer": "CITY"}]}
        ]
        final = found["result"]
        assert (final["version"], final["on"], final["criteriaVersion"]) == (
            1,
            f"{YEAR}-12-15",
            CITY_CRITERIA.version,
        )
        city = final["layer"]
        assert city["ranking"]["first"] == DEPUTY
        assert [
            (p["unit"], p["rank"], above(p), p["floor"]) for p in city["ranking"]["places"]
        ] == [
            (DEPUTY, 1, "26.00", []),
            (OTHER, 2, "23.50", ["a1_below_share"]),
            (LEADER, 3, "22.00", ["a1_below_share"]),
        ]
        deputy = next(t for t in city["totals"] if t["unit"] == DEPUTY)
        assert (deputy["a1Points"], deputy["complete"]) == ("26.00", True)
        assert {p["part"] for p in deputy["parts"]} >= {"A", "B", "C", "D"}
        assert deputy["submittedAt"] is not None
        assert final["flagged"] == [{"unit": u, "criteria": []} for u in sorted(UNITS)]
        await run(
            api,
            sec,
            cluster,
            "propose",
            year=YEAR,
            proposalId="bk",
            award="CERTIFICATE",
            units=[DEPUTY],
            documents=["Tờ trình"],
        )
        reopened = await api.ok(
            "mutation { reopen(input: {year: 2026,"
            f' reason: "Rà soát lại điểm kiểm tra chéo"}}) {RESULT} }}',
            token=people.city,
            cluster=cluster,
        )
        assert reopened["reopen"]["year"]["status"] == "open"
        proposals = await api.ok(
            "{ cluster { year(year: 2026) { proposals { proposalId superseded } } } }",
            token=people.auditor,
            cluster=cluster,
        )
        assert proposals["cluster"]["year"]["proposals"] == [
            {"proposalId": "bk", "superseded": True}
        ]

        # The refusal above is in the log, with who tried.
        refusals = await audit(api, people.auditor, cluster, subject="refusal")
        assert any(r["actor"] == f"Cán bộ {OTHER}" for r in refusals), refusals
