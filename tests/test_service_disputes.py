"""Disputes, the city's decision and revocation, through the service's commands against
the real event store: a unit's explanation decided by the secretariat, the result sent to
the city by its deadline (or late, with a reason), the city's decision on each proposal,
a reopening that marks a decided proposal for revocation, and what changed between two
result versions."""

# ruff: noqa: F811 - `year` is test_service's fixture, imported to be used as one

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from test_service import UNITS, YEAR, Year, year  # noqa: F401
from thidua.domain import commands as c
from thidua.domain.errors import DomainError, InvalidInput
from thidua.domain.proposals import Award, Verdict
from thidua.domain.rights import Role
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import Layer, Outcome

A1 = {"u1": 29, "u2": 26, "u3": 28, "u4": 27, "u5": 25, "u6": 24}  # u1 first, u2 fourth
DOSSIER = ("Tờ trình số 01/TTr-CTĐ", "Biên bản hội nghị tổng kết", "Báo cáo thành tích")


async def refused(year: Year, who: object, command: c.Command) -> str:
    with pytest.raises(DomainError) as refusal:
        await year.run(who, command)  # type: ignore[arg-type]
    return refusal.value.code


async def scored(year: Year) -> None:
    """Every unit self-scores in November, A1 as above."""
    year.clock.on(date(YEAR, 11, 20))
    for unit in UNITS:
        await year.score_all(unit, a1=Decimal(A1[unit]))


async def inspected(year: Year) -> None:
    """u3 inspects u2 and lowers its A1; u2 explains."""
    await year.run(year.secretariat, c.AssignInspection(YEAR, "kt-1", "u3", ("u2",)))
    inspector = year.as_(Role.CROSS_INSPECTOR, "u3", "Kiểm tra chéo")
    await year.run(inspector, c.VerifyScore(YEAR, "u2", "A1", Decimal(22), "Thiếu minh chứng"))
    answer = "Đơn vị đã bổ sung báo cáo số 15/BC về chỉ tiêu A1"
    await year.run(year.as_(Role.MEMBER_OFFICER, "u2"), c.AnswerFinding(YEAR, "u2", "A1", answer))


async def finalised_and_proposed(year: Year, *units: str) -> None:
    """Certificates for half the members may be proposed; the year is finalised and the
    secretariat proposes certificates for these units."""
    rules = YearRules(certificate_share=Fraction(1, 2))
    await year.run(year.secretariat, c.SetRules(YEAR, rules))
    await scored(year)
    year.clock.on(date(YEAR, 12, 15))
    await year.run(year.secretariat, c.Finalise(YEAR))
    proposal = c.Propose(YEAR, "bk-1", Award.CERTIFICATE, units, DOSSIER)
    await year.run(year.secretariat, proposal)


def send(reason: str | None = None) -> c.SendResults:
    return c.SendResults(YEAR, *DOSSIER, reason=reason)


# A unit's explanation, decided by the secretariat.


async def test_the_secretariat_accepts_an_explanation_and_the_verified_score_changes(
    year: Year,
) -> None:
    await scored(year)
    await inspected(year)
    card = await year.service.scorecard(year.tenant, YEAR, "u2")
    [finding] = card.findings()
    assert (finding.criterion, finding.points, finding.explanation) == (
        "A1",
        Decimal(22),
        "Thiếu minh chứng",
    )
    assert finding.dispute is not None
    assert finding.dispute.outcome is Outcome.PENDING
    assert finding.dispute.answer.startswith("Đơn vị đã bổ sung")

    accepted = c.AcceptExplanation(YEAR, "u2", "A1", Decimal(25), "Báo cáo bổ sung hợp lệ")
    recorded = await year.run(year.secretariat, accepted)

    events = await year.events_of(recorded)
    assert [e.event_type.rsplit(".", 1)[1] for e in events] == ["Scored", "ExplanationAccepted"]
    assert {e.metadata_json["reason"] for e in events} == {"Báo cáo bổ sung hợp lệ"}
    card = await year.service.scorecard(year.tenant, YEAR, "u2")
    assert card.points(Layer.VERIFIED)["A1"] == Decimal(25)
    [finding] = card.findings()
    assert finding.dispute is not None
    assert (finding.dispute.outcome, finding.dispute.points, finding.dispute.finding) == (
        Outcome.ACCEPTED,
        Decimal(25),
        "Thiếu minh chứng",  # what the unit answered, kept beside the score that replaced it
    )
    standings = await year.service.standings(year.tenant, YEAR)
    assert standings.layers[Layer.VERIFIED].totals_by_unit()["u2"].a1_points == Decimal(25)

    # Decided once: neither decision again, and the unit does not answer again...
    again = c.RejectExplanation(YEAR, "u2", "A1", "Xét lại")
    assert await refused(year, year.secretariat, again) == "EXPLANATION_DECIDED"
    officer = year.as_(Role.MEMBER_OFFICER, "u2")
    more = c.AnswerFinding(YEAR, "u2", "A1", "Bổ sung thêm")
    assert await refused(year, officer, more) == "EXPLANATION_DECIDED"
    # ...until a new finding is recorded.
    inspector = year.as_(Role.CROSS_INSPECTOR, "u3")
    await year.run(inspector, c.VerifyScore(YEAR, "u2", "A1", Decimal(24), "Kiểm tra lại"))
    await year.run(officer, more)
    card = await year.service.scorecard(year.tenant, YEAR, "u2")
    assert card.disputes["A1"].outcome is Outcome.PENDING
    assert card.disputes["A1"].finding == "Kiểm tra lại"


async def test_the_secretariat_rejects_an_explanation_with_a_reason_and_the_finding_stands(
    year: Year,
) -> None:
    await scored(year)
    await inspected(year)
    secretariat = year.secretariat

    with pytest.raises(InvalidInput) as no_reason:
        await year.run(secretariat, c.RejectExplanation(YEAR, "u2", "A1", "  "))
    assert no_reason.value.code == "REASON_REQUIRED"
    rejected = c.RejectExplanation(YEAR, "u2", "A1", "Báo cáo bổ sung lập sau thời điểm kiểm tra")
    await year.run(secretariat, rejected)

    card = await year.service.scorecard(year.tenant, YEAR, "u2")
    assert card.points(Layer.VERIFIED)["A1"] == Decimal(22)
    dispute = card.disputes["A1"]
    assert (dispute.outcome, dispute.reason, dispute.points) == (
        Outcome.REJECTED,
        "Báo cáo bổ sung lập sau thời điểm kiểm tra",
        None,
    )
    accept = c.AcceptExplanation(YEAR, "u2", "A1", Decimal(26), "Đổi ý")
    assert await refused(year, secretariat, accept) == "EXPLANATION_DECIDED"


async def test_only_the_secretariat_decides_an_explanation_and_never_its_own_units(
    year: Year,
) -> None:
    await scored(year)
    await inspected(year)
    accept = c.AcceptExplanation(YEAR, "u2", "A1", Decimal(26), "Hợp lệ")
    inspector = year.as_(Role.CROSS_INSPECTOR, "u3")
    assert await refused(year, inspector, accept) == "FORBIDDEN"
    assert await refused(year, year.as_(Role.MEMBER_OFFICER, "u2"), accept) == "FORBIDDEN"
    assert await refused(year, year.city, accept) == "FORBIDDEN"
    # Nothing to decide where nobody explained.
    nothing = c.RejectExplanation(YEAR, "u4", "A1", "Không")
    assert await refused(year, year.secretariat, nothing) == "NO_EXPLANATION"
    # The secretariat's own unit, inspected by u5, explains: it is not the secretariat's
    # to judge, as verifying it is not.
    await year.run(year.secretariat, c.AssignInspection(YEAR, "kt-2", "u5", ("u1",)))
    checker = year.as_(Role.CROSS_INSPECTOR, "u5")
    await year.run(checker, c.VerifyScore(YEAR, "u1", "B1", Decimal(6), "Chưa đủ"))
    await year.run(year.as_(Role.MEMBER_OFFICER, "u1"), c.AnswerFinding(YEAR, "u1", "B1", "Đã đủ"))
    own = c.AcceptExplanation(YEAR, "u1", "B1", Decimal(8), "Hợp lệ")
    assert await refused(year, year.secretariat, own) == "OWN_UNIT_INSPECTION"
    assert await year.refused_codes() == [
        "FORBIDDEN",
        "FORBIDDEN",
        "FORBIDDEN",
        "NO_EXPLANATION",
        "OWN_UNIT_INSPECTION",
    ]


async def test_a_finalised_year_hears_a_rejection_but_an_acceptance_waits_for_a_reopening(
    year: Year,
) -> None:
    await scored(year)
    await inspected(year)
    year.clock.on(date(YEAR, 12, 15))
    await year.run(year.secretariat, c.Finalise(YEAR))
    accept = c.AcceptExplanation(YEAR, "u2", "A1", Decimal(26), "Hợp lệ")
    assert await refused(year, year.secretariat, accept) == "YEAR_FINALISED"
    await year.run(year.city, c.Reopen(YEAR, "Đơn vị giải trình sau khi chốt"))
    await year.run(year.secretariat, accept)
    card = await year.service.scorecard(year.tenant, YEAR, "u2")
    assert card.points(Layer.VERIFIED)["A1"] == Decimal(26)


# The result to the city, and the city's decision.


async def test_results_sent_by_the_deadline_and_the_city_approves(year: Year) -> None:
    await scored(year)
    assert await refused(year, year.secretariat, send()) == "RESULT_NOT_FINALISED"
    year.clock.on(date(YEAR, 12, 15))
    await year.run(year.secretariat, c.Finalise(YEAR))
    assert await refused(year, year.secretariat, send()) == "NOTHING_TO_SEND"
    await year.run(year.secretariat, c.Propose(YEAR, "bk-1", Award.CERTIFICATE, ("u3",), DOSSIER))
    approve = c.DecideProposal(YEAR, "bk-1", Verdict.APPROVED)
    assert await refused(year, year.city, approve) == "PROPOSAL_NOT_SENT"

    year.clock.on(date(YEAR + 1, 1, 15))  # the deadline itself is on time
    await year.run(year.secretariat, send())

    cluster_year = await year.service.year(year.tenant, YEAR)
    [sending] = cluster_year.sendings
    assert (sending.result_version, sending.proposals, sending.on, sending.late) == (
        1,
        ("bk-1",),
        date(YEAR + 1, 1, 15),
        False,
    )
    assert sending.deadline == date(YEAR + 1, 1, 15)
    assert sending.dossier.minutes == "Biên bản hội nghị tổng kết"
    assert cluster_year.proposals["bk-1"].sent_on == date(YEAR + 1, 1, 15)
    assert await refused(year, year.secretariat, send()) == "NOTHING_TO_SEND"

    assert await refused(year, year.secretariat, approve) == "FORBIDDEN"  # the city's alone
    year.clock.on(date(YEAR + 1, 3, 2))
    await year.run(year.city, approve)
    decision = (await year.service.year(year.tenant, YEAR)).proposals["bk-1"].decision
    assert decision is not None
    assert (decision.verdict, decision.units_kept, decision.on) == (
        Verdict.APPROVED,
        ("u3",),
        date(YEAR + 1, 3, 2),
    )
    assert await refused(year, year.city, approve) == "PROPOSAL_DECIDED"
    unknown = c.DecideProposal(YEAR, "bk-9", Verdict.APPROVED)
    assert await refused(year, year.city, unknown) == "UNKNOWN_PROPOSAL"


async def test_results_sent_after_the_deadline_are_marked_late_and_need_a_reason(
    year: Year,
) -> None:
    await finalised_and_proposed(year, "u3")
    year.clock.on(date(YEAR + 1, 1, 16))
    assert await refused(year, year.secretariat, send()) == "LATE_REASON_REQUIRED"
    await year.run(year.secretariat, send("Chờ biên bản hội nghị có đủ chữ ký"))

    [sending] = (await year.service.year(year.tenant, YEAR)).sendings
    assert (sending.late, sending.reason, sending.deadline) == (
        True,
        "Chờ biên bản hội nghị có đủ chữ ký",
        date(YEAR + 1, 1, 15),
    )


async def test_the_city_cuts_a_proposal_to_the_units_it_keeps(year: Year) -> None:
    await finalised_and_proposed(year, "u3", "u4", "u5")
    year.clock.on(date(YEAR + 1, 1, 10))
    await year.run(year.secretariat, send())
    year.clock.on(date(YEAR + 1, 3, 2))

    with pytest.raises(InvalidInput) as no_reason:
        c.DecideProposal(YEAR, "bk-1", Verdict.CUT, ("u3",))
    assert no_reason.value.code == "REASON_REQUIRED"
    with pytest.raises(InvalidInput) as nobody:
        c.DecideProposal(YEAR, "bk-1", Verdict.CUT, reason="Vượt chỉ tiêu")
    assert nobody.value.code == "UNITS_KEPT_REQUIRED"
    for kept in (("u3", "u6"), ("u3", "u4", "u5"), ("u3", "u3")):
        cut = c.DecideProposal(YEAR, "bk-1", Verdict.CUT, kept, "Vượt chỉ tiêu")
        assert await refused(year, year.city, cut) == "CUT_UNITS_INVALID"

    reason = "Chỉ tiêu Bằng khen của thành phố năm nay còn hai"
    await year.run(year.city, c.DecideProposal(YEAR, "bk-1", Verdict.CUT, ("u5", "u3"), reason))
    decision = (await year.service.year(year.tenant, YEAR)).proposals["bk-1"].decision
    assert decision is not None
    assert (decision.verdict, decision.units_kept, decision.reason) == (
        Verdict.CUT,
        ("u3", "u5"),  # in the proposal's order
        reason,
    )


async def test_the_city_rejects_a_proposal_with_a_reason(year: Year) -> None:
    await finalised_and_proposed(year, "u3")
    year.clock.on(date(YEAR + 1, 1, 10))
    await year.run(year.secretariat, send())
    with pytest.raises(InvalidInput) as no_reason:
        c.DecideProposal(YEAR, "bk-1", Verdict.REJECTED)
    assert no_reason.value.code == "REASON_REQUIRED"
    with pytest.raises(InvalidInput) as units:
        c.DecideProposal(YEAR, "bk-1", Verdict.REJECTED, ("u3",), "Không đủ điều kiện")
    assert units.value.code == "UNITS_KEPT_ONLY_FOR_CUT"

    reason = "Đơn vị có cán bộ bị kỷ luật trong năm"
    await year.run(year.city, c.DecideProposal(YEAR, "bk-1", Verdict.REJECTED, reason=reason))
    decision = (await year.service.year(year.tenant, YEAR)).proposals["bk-1"].decision
    assert decision is not None
    assert (decision.verdict, decision.units_kept, decision.reason) == (
        Verdict.REJECTED,
        (),
        reason,
    )


async def test_a_reopening_marks_a_decided_proposal_for_revocation_with_its_reason(
    year: Year,
) -> None:
    await finalised_and_proposed(year, "u3", "u4")
    year.clock.on(date(YEAR + 1, 1, 10))
    await year.run(year.secretariat, send())
    year.clock.on(date(YEAR + 1, 3, 2))
    await year.run(year.city, c.DecideProposal(YEAR, "bk-1", Verdict.APPROVED))
    # A flag proposal could not be made (u1 won no vote): only bk-1 was decided.

    year.clock.on(date(YEAR + 1, 5, 20))
    reason = "Thanh tra phát hiện u3 kê khai sai chỉ tiêu A1"
    await year.run(year.city, c.Reopen(YEAR, reason))

    cluster_year = await year.service.year(year.tenant, YEAR)
    proposal = cluster_year.proposals["bk-1"]
    assert proposal.superseded
    assert proposal.revocation is not None
    assert (proposal.revocation.reason, proposal.revocation.result_version) == (reason, 1)
    assert proposal.decision is not None  # the decision is kept, marked, never erased
    again = c.DecideProposal(YEAR, "bk-1", Verdict.REJECTED, reason="Thu hồi")
    assert await refused(year, year.city, again) == "PROPOSAL_SUPERSEDED"

    # The corrected result is finalised, proposed and sent anew; nothing to revoke there.
    wrong = c.CityAdjust(YEAR, "u3", "A1", Decimal(20), "Kê khai sai")
    await year.run(year.city, wrong)
    await year.run(year.secretariat, c.Finalise(YEAR))
    await year.run(year.secretariat, c.Propose(YEAR, "bk-2", Award.CERTIFICATE, ("u4",), DOSSIER))
    await year.run(year.secretariat, send("Gửi lại sau khi mở lại kết quả"))
    cluster_year = await year.service.year(year.tenant, YEAR)
    assert [s.result_version for s in cluster_year.sendings] == [1, 2]
    assert cluster_year.sendings[1].late
    assert cluster_year.proposals["bk-2"].revocation is None


async def test_an_undecided_proposal_is_superseded_but_has_nothing_to_revoke(
    year: Year,
) -> None:
    await finalised_and_proposed(year, "u3")
    year.clock.on(date(YEAR + 1, 1, 10))
    await year.run(year.secretariat, send())
    await year.run(year.city, c.Reopen(YEAR, "Rà soát lại"))
    proposal = (await year.service.year(year.tenant, YEAR)).proposals["bk-1"]
    assert (proposal.superseded, proposal.decision, proposal.revocation) == (True, None, None)


# What changed between two result versions.


async def test_a_diff_shows_who_moved_and_by_how_much_after_a_city_adjustment(
    year: Year,
) -> None:
    await scored(year)
    year.clock.on(date(YEAR, 12, 15))
    await year.run(year.secretariat, c.Finalise(YEAR))
    reason = "Bổ sung kết quả chỉ tiêu A1 của u2 do thành phố thẩm định"
    await year.run(year.city, c.Reopen(YEAR, reason))
    await year.run(year.city, c.CityAdjust(YEAR, "u2", "A1", Decimal(30), "Thành phố thẩm định"))
    await year.run(year.secretariat, c.Finalise(YEAR))

    cluster_year = await year.service.year(year.tenant, YEAR)
    diff = cluster_year.diff(1, 2)
    city = diff.layers[Layer.CITY]
    assert (city.first_before, city.first_after) == ("u1", "u2")
    moved = [(u.unit, u.total_change, u.rank_before, u.rank_after) for u in city.changes]
    assert moved == [
        ("u2", Decimal(4), 4, 1),
        ("u1", Decimal(0), 1, 2),
        ("u3", Decimal(0), 2, 3),
        ("u4", Decimal(0), 3, 4),
    ]
    assert city.changes[0].rank_change == -3
    assert diff.layers[Layer.SELF].changes == ()  # the city's layer moved, no other
    assert diff.layers[Layer.VERIFIED].changes == ()
    assert [(r.reason, r.result_version) for r in diff.reopenings] == [(reason, 1)]
    assert diff.changed_units() == ["u2"]

    backwards = cluster_year.diff(2, 1)
    assert backwards.layers[Layer.CITY].changes[0].total_change is not None
    assert [(r.reason, r.result_version) for r in backwards.reopenings] == [(reason, 1)]
    with pytest.raises(DomainError) as unknown:
        cluster_year.diff(1, 3)
    assert unknown.value.code == "UNKNOWN_RESULT_VERSION"
