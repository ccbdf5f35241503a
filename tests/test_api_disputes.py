"""Disputes, the city's decision and revocation over HTTP, as the people of a cluster do
it: an inspector's finding, the unit's explanation read by the secretariat beside it and
accepted or rejected, the result sent to the city (on time, then late), the city's cut,
a reopening that marks the decided proposal for revocation, and what changed between the
two result versions, with the score events behind it."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from api_client import Api, serving
from test_api_year import FULL, LEADER, UNITS, YEAR, People, criteria_input, open_cluster
from thidua.demo import CITY_CRITERIA
from thidua.domain.rights import Role
from thidua.service.envelope import Calendar

DEPUTY, OTHER = list(UNITS)[1:]

FINDINGS = """
query ($u: String!) { cluster { year(year: 2026) { scorecard(unit: $u) {
  findings { criterion points explanation
    answer { text finding findingPoints outcome reason points } }
} } } }"""
PROPOSALS = """{ cluster { year(year: 2026) {
  proposals { proposalId superseded sentOn
    decision { outcome unitsKept reason decidedOn } revocation { reason resultVersion } }
  sending { resultVersion proposals proposalLetter minutes achievementReport sentOn deadline
    late reason }
  sendings { resultVersion late }
  reopenings { reason resultVersion }
} } }"""
DIFF = """
query ($from: Int!, $to: Int!) { cluster { year(year: 2026) { resultDiff(from: $from, to: $to) {
  fromVersion toVersion reopenings { reason resultVersion }
  layer(layer: CITY) { firstBefore firstAfter
    units { unit totalBefore totalAfter totalChange rankBefore rankAfter rankChange } }
  layers { layer units { unit } }
  events(first: 20) { edges { node { eventType subject unit criteria role before after } } }
} } } }"""
AUDIT = """
query ($filter: AuditFilterInput) { cluster { auditTrail(filter: $filter, first: 50) {
  edges { node { eventType item before after role reason } }
} } }"""


async def mutate(api: Api, who: str, cluster: str, name: str, **given: Any) -> dict[str, Any]:
    """A command that must succeed, its input as one variable."""
    kind = name[0].upper() + name[1:] + "Input"
    query = f"mutation ($i: {kind}!) {{ {name}(input: $i) {{ version }} }}"
    found: dict[str, Any] = (await api.ok(query, {"i": given}, token=who, cluster=cluster))[name]
    return found


async def refused(api: Api, who: str, cluster: str, name: str, **given: Any) -> str:
    kind = name[0].upper() + name[1:] + "Input"
    query = f"mutation ($i: {kind}!) {{ {name}(input: $i) {{ version }} }}"
    return await api.refused(query, {"i": given}, token=who, cluster=cluster)


async def year_of(api: Api, who: str, cluster: str, query: str, **variables: Any) -> Any:
    return (await api.ok(query, variables, token=who, cluster=cluster))["cluster"]["year"]


async def scored_year(api: Api, people: People, cluster: str, template: str) -> None:
    """Criteria adopted; A1 self-scored 28, 26, 24; everything else in full."""
    sec = people.secretariat
    api.clock.on(date(YEAR, 2, 20))
    await mutate(
        api,
        sec,
        cluster,
        "adoptCriteria",
        year=YEAR,
        templateName=template,
        templateVersion=CITY_CRITERIA.version,
        criteria=criteria_input(CITY_CRITERIA),
    )
    api.clock.on(date(YEAR, 11, 20))
    for share, unit in zip((28, 26, 24), UNITS, strict=True):
        officer = people.of(unit, Role.MEMBER_OFFICER)
        for code, points in {**FULL, "A1": Decimal(share)}.items():
            await mutate(
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


async def test_disputes_the_citys_decision_revocation_and_the_diff_over_http(dsn: str) -> None:
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    cluster = f"cum-gt-{uuid.uuid4().hex[:6]}"
    template = f"bo-tieu-chi-gt-{uuid.uuid4().hex[:6]}"
    people = People(dsn, cluster)
    async with serving(dsn, clock) as api:
        await open_cluster(api, people, cluster, template)
        await scored_year(api, people, cluster, template)
        sec, city = people.secretariat, people.city

        # The cross-inspection: OTHER checks DEPUTY and lowers A1 and A2; DEPUTY explains.
        clock.on(date(YEAR, 12, 5))
        await mutate(
            api,
            sec,
            cluster,
            "assignInspection",
            year=YEAR,
            inspectionId="kt",
            inspector=OTHER,
            units=[DEPUTY],
        )
        inspector = people.of(OTHER, Role.CROSS_INSPECTOR)
        for code, points in (("A1", "20"), ("A2", "10")):
            await mutate(
                api,
                inspector,
                cluster,
                "verifyScore",
                year=YEAR,
                unit=DEPUTY,
                criterion=code,
                points=points,
                explanation=f"Minh chứng {code} chưa đủ",
            )
        deputy = people.of(DEPUTY, Role.MEMBER_OFFICER)
        for code in ("A1", "A2"):
            await mutate(
                api,
                deputy,
                cluster,
                "answerFinding",
                year=YEAR,
                unit=DEPUTY,
                criterion=code,
                text=f"Đơn vị đã bổ sung báo cáo về {code}",
            )

        # The secretariat and the inspector read each explanation beside its finding.
        for reader in (sec, inspector):
            card = await year_of(api, reader, cluster, FINDINGS, u=DEPUTY)
            assert card["scorecard"]["findings"][0] == {
                "criterion": "A1",
                "points": "20.00",
                "explanation": "Minh chứng A1 chưa đủ",
                "answer": {
                    "text": "Đơn vị đã bổ sung báo cáo về A1",
                    "finding": "Minh chứng A1 chưa đủ",
                    "findingPoints": "20.00",
                    "outcome": "PENDING",
                    "reason": None,
                    "points": None,
                },
            }
        for outsider in (people.of(LEADER, Role.MEMBER_OFFICER), people.dashboard):
            code = await api.refused(FINDINGS, {"u": DEPUTY}, token=outsider, cluster=cluster)
            assert code == "FORBIDDEN"

        # Accepted on A1 (the verified score changes), rejected on A2 (it stands).
        assert (
            await refused(
                api,
                inspector,
                cluster,
                "acceptExplanation",
                year=YEAR,
                unit=DEPUTY,
                criterion="A1",
                points="25",
                reason="Hợp lệ",
            )
            == "FORBIDDEN"
        )
        await mutate(
            api,
            sec,
            cluster,
            "acceptExplanation",
            year=YEAR,
            unit=DEPUTY,
            criterion="A1",
            points="25",
            reason="Báo cáo bổ sung chứng minh chỉ tiêu",
        )
        await mutate(
            api,
            sec,
            cluster,
            "rejectExplanation",
            year=YEAR,
            unit=DEPUTY,
            criterion="A2",
            reason="Báo cáo lập sau thời điểm kiểm tra",
        )
        card = await year_of(api, sec, cluster, FINDINGS, u=DEPUTY)
        a1, a2 = card["scorecard"]["findings"]
        assert (a1["points"], a1["answer"]["outcome"], a1["answer"]["points"]) == (
            "25.00",
            "ACCEPTED",
            "25.00",
        )
        assert a1["explanation"].endswith("Báo cáo bổ sung chứng minh chỉ tiêu")
        assert (a2["points"], a2["answer"]["outcome"], a2["answer"]["reason"]) == (
            "10.00",
            "REJECTED",
            "Báo cáo lập sau thời điểm kiểm tra",
        )
        again = await refused(
            api,
            sec,
            cluster,
            "rejectExplanation",
            year=YEAR,
            unit=DEPUTY,
            criterion="A1",
            reason="Xét lại",
        )
        assert again == "EXPLANATION_DECIDED"

        # Each step is in the audit trail, the decision's `before` the explanation decided.
        where = {"unit": DEPUTY, "subject": "finding", "criterion": "A1"}
        data = await api.ok(AUDIT, {"filter": where}, token=people.auditor, cluster=cluster)
        steps = [e["node"] for e in data["cluster"]["auditTrail"]["edges"]]
        assert [s["eventType"] for s in steps] == ["FindingAnswered", "ExplanationAccepted"]
        answered, accepted = steps
        assert answered["before"] is None
        assert accepted["before"] == answered["after"]
        assert accepted["after"]["points"] == "25"
        assert accepted["after"]["answer"] == "Đơn vị đã bổ sung báo cáo về A1"
        assert (accepted["role"], accepted["reason"]) == (
            "secretariat",
            "Báo cáo bổ sung chứng minh chỉ tiêu",
        )
        where = {"unit": DEPUTY, "subject": "score", "criterion": "A1"}
        data = await api.ok(AUDIT, {"filter": where}, token=people.auditor, cluster=cluster)
        scores = [e["node"] for e in data["cluster"]["auditTrail"]["edges"]]
        assert scores[-1]["before"]["points"] == "20"  # the inspector's finding
        assert scores[-1]["after"]["points"] == "25"

        # Finalised; certificates for two units proposed and sent on time.
        await mutate(api, sec, cluster, "setRules", year=YEAR, rules={"certificate_share": "2/3"})
        clock.on(date(YEAR, 12, 15))
        await mutate(api, sec, cluster, "finalise", year=YEAR)
        await mutate(
            api,
            sec,
            cluster,
            "propose",
            year=YEAR,
            proposalId="bk",
            award="CERTIFICATE",
            units=[DEPUTY, OTHER],
            documents=["Tờ trình"],
        )
        dossier = {
            "proposalLetter": "Tờ trình số 01/TTr-CTĐ",
            "minutes": "Biên bản hội nghị tổng kết",
            "achievementReport": "Báo cáo thành tích năm 2026",
        }
        clock.on(date(YEAR + 1, 1, 12))
        await mutate(api, sec, cluster, "sendResults", year=YEAR, **dossier)
        found = await year_of(api, people.dashboard, cluster, PROPOSALS)
        assert found["sending"] == {
            "resultVersion": 1,
            "proposals": ["bk"],
            **dossier,
            "sentOn": f"{YEAR + 1}-01-12",
            "deadline": f"{YEAR + 1}-01-15",
            "late": False,
            "reason": None,
        }

        # The city cuts the proposal to one unit, with its reason.
        cut = {"year": YEAR, "proposalId": "bk", "outcome": "CUT", "unitsKept": [DEPUTY]}
        assert await refused(api, sec, cluster, "decideProposal", **cut, reason="x") == (
            "FORBIDDEN"
        )
        assert await refused(api, city, cluster, "decideProposal", **cut) == "REASON_REQUIRED"
        clock.on(date(YEAR + 1, 3, 2))
        await mutate(api, city, cluster, "decideProposal", **cut, reason="Vượt chỉ tiêu")
        found = await year_of(api, people.dashboard, cluster, PROPOSALS)
        assert found["proposals"] == [
            {
                "proposalId": "bk",
                "superseded": False,
                "sentOn": f"{YEAR + 1}-01-12",
                "decision": {
                    "outcome": "CUT",
                    "unitsKept": [DEPUTY],
                    "reason": "Vượt chỉ tiêu",
                    "decidedOn": f"{YEAR + 1}-03-02",
                },
                "revocation": None,
            }
        ]

        # The city reopens: the decided proposal is marked for revocation, with the reason.
        reason = "Thanh tra xác định lại chỉ tiêu A1 của Sở Giáo dục"
        await mutate(api, city, cluster, "reopen", year=YEAR, reason=reason)
        found = await year_of(api, people.dashboard, cluster, PROPOSALS)
        [proposal] = found["proposals"]
        assert proposal["superseded"]
        assert proposal["revocation"] == {"reason": reason, "resultVersion": 1}
        assert proposal["decision"]["outcome"] == "CUT"  # kept, marked for revocation
        assert found["reopenings"] == [{"reason": reason, "resultVersion": 1}]

        # A city adjustment moves OTHER to the top; the new version is diffed with the old.
        await mutate(
            api,
            city,
            cluster,
            "cityAdjust",
            year=YEAR,
            unit=OTHER,
            criterion="A1",
            points="30",
            explanation="Thành phố thẩm định lại",
        )
        await mutate(api, sec, cluster, "finalise", year=YEAR)
        for reader in (sec, people.auditor, city):
            diff = (await year_of(api, reader, cluster, DIFF, **{"from": 1, "to": 2}))["resultDiff"]
            assert (diff["fromVersion"], diff["toVersion"]) == (1, 2)
            assert diff["reopenings"] == [{"reason": reason, "resultVersion": 1}]
            layer = diff["layer"]
            assert (layer["firstBefore"], layer["firstAfter"]) == (LEADER, OTHER)
            assert layer["units"][0] == {
                "unit": OTHER,
                "totalBefore": str(sum(FULL.values()) + 24) + ".00",
                "totalAfter": str(sum(FULL.values()) + 30) + ".00",
                "totalChange": "6.00",
                "rankBefore": 2,  # DEPUTY, its A2 lowered, was third
                "rankAfter": 1,
                "rankChange": -1,
            }
            # LEADER lost first place with its total unchanged; DEPUTY did not move.
            assert layer["units"][1] == {
                "unit": LEADER,
                "totalBefore": str(sum(FULL.values()) + 28) + ".00",
                "totalAfter": str(sum(FULL.values()) + 28) + ".00",
                "totalChange": "0.00",
                "rankBefore": 1,
                "rankAfter": 2,
                "rankChange": 1,
            }
            assert len(layer["units"]) == 2
            self_layer = next(d for d in diff["layers"] if d["layer"] == "SELF")
            assert self_layer["units"] == []
            [event] = [e["node"] for e in diff["events"]["edges"]]
            assert (event["eventType"], event["subject"], event["unit"], event["role"]) == (
                "Scored",
                "score",
                OTHER,
                "city_board",
            )
            assert (event["before"], event["after"]["points"]) == (None, "30")
        member = people.of(OTHER, Role.MEMBER_OFFICER)
        code = await api.refused(DIFF, {"from": 1, "to": 2}, token=member, cluster=cluster)
        assert code == "FORBIDDEN"
        code = await api.refused(DIFF, {"from": 1, "to": 3}, token=sec, cluster=cluster)
        assert code == "UNKNOWN_RESULT_VERSION"

        # The new result goes to the city after the deadline: marked late, with a reason.
        await mutate(
            api,
            sec,
            cluster,
            "propose",
            year=YEAR,
            proposalId="bk-2",
            award="CERTIFICATE",
            units=[OTHER],
            documents=["Tờ trình"],
        )
        late = await refused(api, sec, cluster, "sendResults", year=YEAR, **dossier)
        assert late == "LATE_REASON_REQUIRED"
        why = "Gửi lại sau khi thành phố mở lại kết quả"
        await mutate(api, sec, cluster, "sendResults", year=YEAR, **dossier, reason=why)
        found = await year_of(api, people.dashboard, cluster, PROPOSALS)
        assert found["sendings"] == [
            {"resultVersion": 1, "late": False},
            {"resultVersion": 2, "late": True},
        ]
        assert (found["sending"]["proposals"], found["sending"]["reason"]) == (["bk-2"], why)
