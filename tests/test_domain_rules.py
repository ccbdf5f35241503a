"""The pure domain against docs/domain.md's rules: no database, no fixtures, concrete numbers.

Aggregates are built directly; every refusal is checked by its stable code and by the fact
that the aggregate is left exactly as it was (no new event, same state).
"""

import copy
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from thidua.domain.cluster_year import ClusterYear, Status
from thidua.domain.criteria import CriteriaSet, Criterion, Kind, changed_codes
from thidua.domain.entity import KEPT, Entity
from thidua.domain.errors import DomainError, Forbidden, InvalidState, RuleViolation
from thidua.domain.meetings import Meeting
from thidua.domain.membership import Membership, current_members
from thidua.domain.pledge import Pledge, TopicKind
from thidua.domain.proposals import Award, FlagFacts
from thidua.domain.ranking import DecidedBy, Floor, Place, Ranking
from thidua.domain.results import RANKING_LAYER, LayerResult, YearResult
from thidua.domain.rights import Action, Actor, Role, YearContext, authorise, may
from thidua.domain.rules import (
    Deadlines,
    FlagCondition,
    VoteBase,
    YearRules,
    amendments_allowed,
    certificate_quota,
    check_points,
    quorum_met,
    vote_base_size,
    vote_passed,
)
from thidua.domain.scorecard import Layer, Scorecard

# Helpers -------------------------------------------------------------------------------------

RULES = YearRules()
JAN_1 = date(2025, 1, 1)
AT = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
DOCS = ["Tờ trình", "Biên bản họp", "Báo cáo thành tích"]
BASE_CODES = ["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "D"]


def crit(code: str, part: str, max_points: int | None, kind: Kind = Kind.BASE) -> Criterion:
    points = None if max_points is None else Decimal(max_points)
    return Criterion(code, f"Tiêu chí {code}", part, points, kind)


TEMPLATE = CriteriaSet(
    version="2025.1",
    effective_from=JAN_1,
    criteria=(
        crit("A1", "A", 30),
        crit("A2", "A", 15),
        crit("A3", "A", 10),
        crit("B1", "B", 8),
        crit("B2", "B", 7),
        crit("B3", "B", 5),
        crit("C1", "C", 5),
        crit("C2", "C", 5),
        crit("D", "D", 15),
        crit("E1", "E", 10, Kind.BONUS),
        crit("E2", "E", 10, Kind.BONUS),
        crit("F1", "F", None, Kind.DEDUCTION),
        crit("F2", "F", None, Kind.DEDUCTION),
    ),
    bonus_cap=Decimal(10),
)


def amended(
    base: CriteriaSet,
    version: str,
    new_max: dict[str, int],
    effective_from: date = JAN_1,
) -> CriteriaSet:
    """The set with some maxima changed (dataclasses.replace on each changed Criterion)."""
    criteria = tuple(
        replace(c, max_points=Decimal(new_max[c.code])) if c.code in new_max else c
        for c in base.criteria
    )
    return replace(base, version=version, effective_from=effective_from, criteria=criteria)


def members_of(n: int, joined_on: date = JAN_1) -> list[Membership]:
    return [Membership(f"u{i}", f"Đơn vị số {i}", joined_on) for i in range(1, n + 1)]


def make_year(
    n: int = 6,
    rules: YearRules | None = None,
    leader: str = "u1",
    deputies: tuple[str, ...] = ("u2",),
) -> ClusterYear:
    """A 2025 cluster-year of members u1..un; leader u1, deputy u2."""
    return ClusterYear.open(2025, members_of(n), leader, list(deputies), rules or RULES)


def year_with_criteria(n: int = 6, rules: YearRules | None = None) -> ClusterYear:
    year = make_year(n, rules)
    year.adopt_criteria(TEMPLATE, TEMPLATE, "city-2025")
    return year


def ranked(*units: str) -> YearResult:
    """A result whose ranking layer lists these units in this order, the first one first."""
    places = tuple(
        Place(unit, i + 1, Decimal(90 - i), DecidedBy.TOTAL, (), True)
        for i, unit in enumerate(units)
    )
    ranking = Ranking(places, units[0] if units else None)
    return YearResult(
        on=date(2025, 12, 15),
        criteria_version="2025.1",
        layers={RANKING_LAYER: LayerResult(totals=(), ranking=ranking)},
        flagged={unit: () for unit in units},
    )


def finalised_year(n: int = 6) -> ClusterYear:
    year = make_year(n)
    year.finalise(ranked("u1", "u2"), flagged={})
    return year


def snapshot(aggregate: Entity) -> tuple[int, int, dict[str, Any]]:
    """Version, pending events and every attribute of the state (not the bookkeeping)."""
    skipped = {"_pending_events", "_modified_on", "_version"}
    state = {
        k: v for k, v in vars(aggregate).items() if k not in skipped and not k.startswith(KEPT)
    }
    return aggregate.version, len(aggregate.pending_events), copy.deepcopy(state)


def refused(code: str, action: Callable[[], object], *aggregates: Entity) -> DomainError:
    """The action raises a DomainError with this code, and leaves the aggregates unchanged."""
    before = [snapshot(a) for a in aggregates]
    with pytest.raises(DomainError) as caught:
        action()
    assert caught.value.code == code
    assert [snapshot(a) for a in aggregates] == before
    return caught.value


def scorecard(unit: str = "u1") -> Scorecard:
    return Scorecard(year=2025, unit=unit)


def self_score(
    card: Scorecard,
    code: str,
    points: str,
    criteria: CriteriaSet = TEMPLATE,
    at: datetime = AT,
) -> None:
    card.score(
        Layer.SELF, criteria, code, Decimal(points), "Giải trình", ["minh-chung.pdf"], at, RULES
    )


def verify(card: Scorecard, code: str, points: str, layer: Layer = Layer.VERIFIED) -> None:
    card.score(layer, TEMPLATE, code, Decimal(points), "Kết quả kiểm tra", [], AT, RULES)


def complete_self_assessment(card: Scorecard) -> None:
    for code in BASE_CODES:
        self_score(card, code, "5")


# Votes and the quorum (rules.py) -------------------------------------------------------------


def test_three_yes_of_six_is_not_more_than_half() -> None:
    assert vote_passed(3, 6, RULES) is False


def test_four_yes_of_six_is_more_than_half() -> None:
    assert vote_passed(4, 6, RULES) is True


def test_vote_with_empty_base_never_passes() -> None:
    assert vote_passed(0, 0, RULES) is False


def test_vote_base_all_members_counts_every_member() -> None:
    assert vote_base_size(members=6, present=4, rules=RULES) == 6
    # 3 yes with 4 present: not enough of all 6 members.
    assert vote_passed(3, vote_base_size(6, 4, RULES), RULES) is False


def test_vote_base_present_counts_those_present() -> None:
    rules = YearRules(vote_base=VoteBase.PRESENT)
    assert vote_base_size(members=6, present=4, rules=rules) == 4
    # The same 3 yes with 4 present is more than half of those present.
    assert vote_passed(3, vote_base_size(6, 4, rules), rules) is True


def test_four_of_six_attending_meets_quorum() -> None:
    assert quorum_met(4, 6, RULES) is True


def test_three_of_six_attending_does_not_meet_quorum() -> None:
    assert quorum_met(3, 6, RULES) is False


def test_quorum_of_an_empty_cluster_is_never_met() -> None:
    assert quorum_met(0, 0, RULES) is False


def test_certificate_quota_is_30_percent_of_ten() -> None:
    assert certificate_quota(10, RULES) == 3


def test_certificate_quota_of_six_is_rounded_down_to_one() -> None:
    assert certificate_quota(6, RULES) == 1


def test_certificate_quota_of_nine_is_two() -> None:
    assert certificate_quota(9, RULES) == 2


def test_amendments_allowed_is_30_percent_of_thirteen_rounded_down() -> None:
    assert amendments_allowed(13, RULES) == 3


def test_amendments_allowed_follows_a_custom_share() -> None:
    assert amendments_allowed(13, YearRules(amendment_share=Fraction(40, 100))) == 5


# Points (check_points) -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "0.25", "7.25", "29.75", "30"])
def test_points_on_the_step_within_zero_and_max_are_accepted(value: str) -> None:
    check_points(Decimal(value), Decimal(30), RULES, "A1")


def test_points_off_the_quarter_step_are_refused() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_points(Decimal("7.3"), Decimal(30), RULES, "A1")
    assert caught.value.code == "SCORE_STEP"


@pytest.mark.parametrize("value", ["-1", "30.25"])
def test_points_outside_zero_and_max_are_refused(value: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_points(Decimal(value), Decimal(30), RULES, "A1")
    assert caught.value.code == "SCORE_OUT_OF_RANGE"


def test_deduction_points_have_no_upper_cap() -> None:
    check_points(Decimal("250"), None, RULES, "F1")


def test_deduction_points_cannot_be_negative() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_points(Decimal("-0.25"), None, RULES, "F1")
    assert caught.value.code == "SCORE_OUT_OF_RANGE"


def test_a_float_or_nan_is_not_a_score() -> None:
    not_decimal: Any = 7.25
    with pytest.raises(RuleViolation) as caught:
        check_points(not_decimal, Decimal(30), RULES, "A1")
    assert caught.value.code == "SCORE_NOT_A_NUMBER"
    with pytest.raises(RuleViolation) as caught:
        check_points(Decimal("NaN"), Decimal(30), RULES, "A1")
    assert caught.value.code == "SCORE_NOT_A_NUMBER"


def test_score_step_comes_from_year_rules() -> None:
    half = YearRules(score_step=Decimal("0.5"))
    with pytest.raises(RuleViolation) as caught:
        check_points(Decimal("7.25"), Decimal(30), half, "A1")
    assert caught.value.code == "SCORE_STEP"
    check_points(Decimal("7.5"), Decimal(30), half, "A1")


# Criteria (criteria.py) ----------------------------------------------------------------------


def test_template_model_has_thirteen_criteria_and_a_base_of_100() -> None:
    assert len(TEMPLATE.criteria) == 13
    base = sum(TEMPLATE.max_of(c) for c in BASE_CODES)
    assert base == Decimal(100)


def test_changed_codes_lists_changed_added_and_removed_criteria() -> None:
    changed = amended(TEMPLATE, "x", {"A2": 20})
    extra = replace(changed, criteria=(*changed.criteria[1:], crit("G1", "G", 3)))
    assert changed_codes(TEMPLATE, changed) == {"A2"}
    assert changed_codes(TEMPLATE, extra) == {"A1", "A2", "G1"}
    assert changed_codes(TEMPLATE, TEMPLATE) == set()


def test_duplicate_criterion_codes_are_refused() -> None:
    with pytest.raises(RuleViolation) as caught:
        CriteriaSet("x", JAN_1, (crit("A1", "A", 30), crit("A1", "A", 10)), Decimal(10))
    assert caught.value.code == "CRITERIA_DUPLICATE"


def test_a_parent_max_is_the_sum_of_its_sub_criteria_and_is_not_scorable() -> None:
    criteria = CriteriaSet(
        "x",
        JAN_1,
        (
            crit("A1", "A", None),
            replace(crit("A1.1", "A", 20), parent="A1"),
            replace(crit("A1.2", "A", 10), parent="A1"),
        ),
        Decimal(10),
    )
    assert criteria.max_of("A1") == Decimal(30)
    assert sorted(criteria.scorable()) == ["A1.1", "A1.2"]


# Membership and leadership -------------------------------------------------------------------


def test_open_year_has_its_members_and_leadership() -> None:
    year = make_year(6)
    assert year.id == "year/2025"
    assert year.members_on(date(2025, 3, 1)) == frozenset({"u1", "u2", "u3", "u4", "u5", "u6"})
    assert (year.leader, year.deputies, year.status) == ("u1", ["u2"], Status.OPEN)
    assert len(year.pending_events) == 1


def test_open_year_refuses_a_leader_that_is_not_a_member() -> None:
    with pytest.raises(RuleViolation) as caught:
        ClusterYear.open(2025, members_of(6), "x9", ["u2"], RULES)
    assert caught.value.code == "LEADER_NOT_MEMBER"


def test_member_that_left_mid_year_is_out_of_current_members_from_that_day() -> None:
    year = make_year(6)
    year.leave("u6", date(2025, 7, 1))
    assert "u6" in year.members_on(date(2025, 6, 30))
    assert "u6" not in year.members_on(date(2025, 7, 1))
    assert year.members_on(date(2025, 12, 1)) == frozenset({"u1", "u2", "u3", "u4", "u5"})
    assert year.members["u6"].left_on == date(2025, 7, 1)


def test_member_that_left_is_out_of_the_quorum_base_of_a_later_meeting() -> None:
    year = make_year(7)
    year.leave("u7", date(2025, 7, 1))
    year.convene("m1", "Hội nghị tổng kết", date(2025, 12, 20))
    meeting = year.meeting("m1")
    assert meeting.members == frozenset({"u1", "u2", "u3", "u4", "u5", "u6"})
    # 4 of the 6 current members meet 2/3; with the leaver counted it would be 4 of 7.
    year.record_attendance("m1", ["u1", "u2", "u3", "u4"])
    assert year.meeting("m1").quorum(RULES) is True
    assert quorum_met(4, 7, RULES) is False
    year.open_ballot("m1", "u1", "Suy tôn dẫn đầu")
    assert year.meeting("m1").open_round() is not None


def test_member_that_left_cannot_be_recorded_present_at_a_later_meeting() -> None:
    year = make_year(7)
    year.leave("u7", date(2025, 7, 1))
    year.convene("m1", "Hội nghị tổng kết", date(2025, 12, 20))
    refused("NOT_A_MEMBER", lambda: year.record_attendance("m1", ["u1", "u7"]), year)


def test_meeting_convened_before_the_leave_keeps_the_member_in_its_base() -> None:
    year = make_year(7)
    year.convene("m0", "Sơ kết 6 tháng", date(2025, 6, 30))
    year.leave("u7", date(2025, 7, 1))
    assert "u7" in year.meeting("m0").members
    assert len(year.meeting("m0").members) == 7


def test_member_that_left_is_out_of_the_certificate_quota_base() -> None:
    year = make_year(10)
    year.leave("u10", date(2025, 7, 1))
    year.finalise(ranked(), flagged={})
    on = date(2025, 12, 31)
    # 30% of the 9 current members is 2, not the 3 of 10.
    refused(
        "CERTIFICATE_QUOTA_EXCEEDED",
        lambda: year.propose("c1", Award.CERTIFICATE, ["u2", "u3", "u4"], DOCS, on),
        year,
    )
    refused(
        "NOT_A_MEMBER",
        lambda: year.propose("c1", Award.CERTIFICATE, ["u2", "u10"], DOCS, on),
        year,
    )
    year.propose("c1", Award.CERTIFICATE, ["u2", "u3"], DOCS, on)
    assert year.proposals["c1"].units == ("u2", "u3")


def test_merge_into_another_member_records_the_target() -> None:
    year = make_year(6)
    year.leave("u6", date(2025, 7, 1), merged_into="u5")
    assert year.members["u6"].merged_into == "u5"
    assert year.members["u6"].left_on == date(2025, 7, 1)
    assert year.members_on(date(2025, 7, 1)) == frozenset({"u1", "u2", "u3", "u4", "u5"})


@pytest.mark.parametrize("target", ["x9", "u6"])
def test_merge_into_a_non_member_or_itself_is_refused(target: str) -> None:
    year = make_year(6)
    refused(
        "MERGE_TARGET_NOT_MEMBER",
        lambda: year.leave("u6", date(2025, 7, 1), merged_into=target),
        year,
    )


def test_merge_into_a_member_that_already_left_is_refused() -> None:
    year = make_year(6)
    year.leave("u5", date(2025, 3, 1))
    refused(
        "MERGE_TARGET_NOT_MEMBER",
        lambda: year.leave("u6", date(2025, 7, 1), merged_into="u5"),
        year,
    )


def test_leaving_twice_is_refused() -> None:
    year = make_year(6)
    year.leave("u6", date(2025, 7, 1))
    refused("NOT_A_MEMBER", lambda: year.leave("u6", date(2025, 8, 1)), year)


def test_the_leader_cannot_leave() -> None:
    year = make_year(6)
    refused("LEADER_CANNOT_LEAVE", lambda: year.leave("u1", date(2025, 7, 1)), year)


def test_a_deputy_that_leaves_is_no_longer_deputy() -> None:
    year = make_year(6, deputies=("u2", "u3"))
    year.leave("u2", date(2025, 7, 1))
    assert year.deputies == ["u3"]


def test_join_mid_year_counts_from_the_join_date() -> None:
    year = make_year(6)
    year.join("u7", "Đơn vị số 7", date(2025, 7, 1))
    assert "u7" not in year.members_on(date(2025, 6, 30))
    assert "u7" in year.members_on(date(2025, 7, 1))
    refused("ALREADY_MEMBER", lambda: year.join("u7", "Đơn vị số 7", date(2025, 8, 1)), year)


def test_rejoining_keeps_the_earlier_membership_period() -> None:
    year = make_year(6)
    year.leave("u6", date(2025, 7, 1))
    year.join("u6", "Đơn vị số 6", date(2025, 9, 1))
    assert "u6" in year.members_on(date(2025, 9, 1))
    assert "u6" not in year.members_on(date(2025, 8, 1))
    assert "u6" in year.members_on(date(2025, 3, 1))


def test_current_members_is_the_pure_dated_relation() -> None:
    records = {
        "a": Membership("a", "A", JAN_1),
        "b": Membership("b", "B", JAN_1, left_on=date(2025, 4, 1)),
        "c": Membership("c", "C", date(2025, 5, 1)),
    }
    assert current_members(records, date(2025, 3, 31)) == frozenset({"a", "b"})
    assert current_members(records, date(2025, 5, 1)) == frozenset({"a", "c"})


def test_rotate_leadership_takes_effect_at_once_and_records_the_former_leader() -> None:
    year = make_year(6)
    year.rotate_leadership("u2", ["u3"], date(2025, 12, 20))
    assert (year.leader, year.deputies, year.former_leaders) == ("u2", ["u3"], ["u1"])


def test_rotate_leadership_to_a_non_member_is_refused() -> None:
    year = make_year(6)
    year.leave("u6", date(2025, 7, 1))
    refused("LEADER_NOT_MEMBER", lambda: year.rotate_leadership("u6", [], date(2025, 12, 20)), year)
    refused(
        "DEPUTIES_INVALID",
        lambda: year.rotate_leadership("u2", ["u2"], date(2025, 12, 20)),
        year,
    )


# Criteria adoption ---------------------------------------------------------------------------


def test_adopting_three_changed_of_thirteen_criteria_is_accepted() -> None:
    year = make_year(6)
    three = amended(TEMPLATE, "cum-2025.1", {"A1": 25, "A2": 20, "A3": 15})
    assert changed_codes(TEMPLATE, three) == {"A1", "A2", "A3"}
    year.adopt_criteria(three, TEMPLATE, "city-2025")
    assert year.criteria[-1]["amended"] == ["A1", "A2", "A3"]
    assert year.latest_criteria() == three


def test_adopting_four_changed_of_thirteen_criteria_is_refused() -> None:
    year = make_year(6)
    four = amended(TEMPLATE, "cum-2025.1", {"A1": 25, "A2": 20, "A3": 15, "B1": 10})
    refused(
        "AMENDMENT_SHARE_EXCEEDED", lambda: year.adopt_criteria(four, TEMPLATE, "city-2025"), year
    )
    assert year.criteria == []


def test_amendment_share_comes_from_year_rules() -> None:
    four = amended(TEMPLATE, "cum-2025.1", {"A1": 25, "A2": 20, "A3": 15, "B1": 10})
    generous = make_year(6, YearRules(amendment_share=Fraction(40, 100)))  # 5 of 13
    generous.adopt_criteria(four, TEMPLATE, "city-2025")
    assert len(generous.criteria) == 1
    strict = make_year(6, YearRules(amendment_share=Fraction(10, 100)))  # 1 of 13
    two = amended(TEMPLATE, "cum-2025.1", {"A1": 25, "A2": 20})
    refused("AMENDMENT_SHARE_EXCEEDED", lambda: strict.adopt_criteria(two, TEMPLATE, "t"), strict)


def test_adopting_the_same_version_twice_or_an_earlier_date_is_refused() -> None:
    year = year_with_criteria()
    refused("CRITERIA_VERSION_EXISTS", lambda: year.adopt_criteria(TEMPLATE, TEMPLATE, "t"), year)
    year.adopt_criteria(amended(TEMPLATE, "2025.2", {}, date(2025, 7, 1)), TEMPLATE, "t")
    earlier = amended(TEMPLATE, "2025.3", {}, date(2025, 3, 1))
    refused("CRITERIA_EFFECTIVE_DATE", lambda: year.adopt_criteria(earlier, TEMPLATE, "t"), year)


def test_criteria_in_force_on_a_day_is_the_latest_effective_version() -> None:
    year = year_with_criteria()
    year.adopt_criteria(amended(TEMPLATE, "2025.2", {"A2": 20}, date(2025, 7, 1)), TEMPLATE, "t")
    assert year.criteria_on(date(2025, 6, 30)).version == "2025.1"
    assert year.criteria_on(date(2025, 7, 1)).version == "2025.2"
    assert year.criteria_on(date(2025, 7, 1)).max_of("A2") == Decimal(20)
    refused("NO_CRITERIA", lambda: make_year().criteria_on(date(2025, 7, 1)))


# Cross-inspection and rights -----------------------------------------------------------------


def test_an_inspector_cannot_be_assigned_its_own_unit() -> None:
    year = make_year(6)
    refused(
        "OWN_UNIT_INSPECTION",
        lambda: year.assign_inspection("k1", "u3", ["u2", "u3"], date(2025, 9, 1)),
        year,
    )
    assert year.inspections == {}


def test_inspection_of_a_non_member_is_refused() -> None:
    year = make_year(6)
    refused(
        "NOT_A_MEMBER",
        lambda: year.assign_inspection("k1", "u3", ["x9"], date(2025, 9, 1)),
        year,
    )


def inspected_year() -> tuple[ClusterYear, YearContext]:
    year = make_year(6)
    year.assign_inspection("k1", "u3", ["u2"], date(2025, 9, 1))
    return year, year.context(date(2025, 9, 1))


def test_assigned_inspection_appears_in_the_year_context() -> None:
    _, context = inspected_year()
    assert context.inspected_by == frozenset({("u3", "u2")})


def test_cross_inspector_may_not_verify_its_own_unit() -> None:
    _, context = inspected_year()
    inspector = Actor("hung", Role.CROSS_INSPECTOR, "u3")
    with pytest.raises(Forbidden) as caught:
        authorise(inspector.caller(), Action.VERIFY_SCORE, context, "u3")
    assert caught.value.code == "OWN_UNIT_INSPECTION"


def test_cross_inspector_may_not_verify_a_unit_not_assigned_to_it() -> None:
    _, context = inspected_year()
    inspector = Actor("hung", Role.CROSS_INSPECTOR, "u3")
    with pytest.raises(Forbidden) as caught:
        authorise(inspector.caller(), Action.VERIFY_SCORE, context, "u4")
    assert caught.value.code == "NOT_ASSIGNED_INSPECTOR"


def test_assigned_cross_inspector_may_verify() -> None:
    _, context = inspected_year()
    inspector = Actor("hung", Role.CROSS_INSPECTOR, "u3")
    authorise(inspector.caller(), Action.VERIFY_SCORE, context, "u2")
    assert may(inspector, Action.VERIFY_SCORE, context, "u2") is True
    # The assignment is one way: u2 does not inspect u3.
    assert (
        may(Actor("mai", Role.CROSS_INSPECTOR, "u2"), Action.VERIFY_SCORE, context, "u3") is False
    )


MEMBERS6 = frozenset({"u1", "u2", "u3", "u4", "u5", "u6"})
CONTEXT = YearContext(leader="u1", members=MEMBERS6)


def test_member_officer_may_self_score_its_own_unit() -> None:
    officer = Actor("lan", Role.MEMBER_OFFICER, "u2")
    assert may(officer, Action.SELF_SCORE, CONTEXT, "u2") is True
    authorise(officer.caller(), Action.SELF_SCORE, CONTEXT, "u2")


def test_member_officer_may_not_self_score_another_unit() -> None:
    officer = Actor("lan", Role.MEMBER_OFFICER, "u2")
    assert may(officer, Action.SELF_SCORE, CONTEXT, "u3") is False
    with pytest.raises(Forbidden) as caught:
        authorise(officer.caller(), Action.SELF_SCORE, CONTEXT, "u3")
    assert caught.value.code == "FORBIDDEN"


def test_member_officer_may_not_verify_read_the_year_or_manage() -> None:
    officer = Actor("lan", Role.MEMBER_OFFICER, "u2")
    for action in (Action.VERIFY_SCORE, Action.MANAGE_YEAR, Action.READ_YEAR, Action.FINALISE):
        assert may(officer, action, CONTEXT, "u2") is False, action


def test_officer_of_a_unit_that_left_loses_its_rights() -> None:
    year = make_year(6)
    year.leave("u6", date(2025, 7, 1))
    officer = Actor("lan", Role.MEMBER_OFFICER, "u6")
    assert may(officer, Action.SELF_SCORE, year.context(date(2025, 6, 30)), "u6") is True
    assert may(officer, Action.SELF_SCORE, year.context(date(2025, 7, 1)), "u6") is False


def test_member_head_signs_the_pledge_and_submits_only_for_its_unit() -> None:
    head = Actor("binh", Role.MEMBER_HEAD, "u2")
    assert may(head, Action.SIGN_PLEDGE, CONTEXT, "u2") is True
    assert may(head, Action.SUBMIT_SELF_ASSESSMENT, CONTEXT, "u2") is True
    assert may(head, Action.SIGN_PLEDGE, CONTEXT, "u3") is False
    assert may(head, Action.MANAGE_YEAR, CONTEXT) is False


def allowed(actor: Actor, context: YearContext, unit: str | None = None) -> set[Action]:
    return {a for a in Action if may(actor, a, context, unit)}


def test_dashboard_may_only_read_published() -> None:
    dashboard = Actor("screen", Role.DASHBOARD)
    assert allowed(dashboard, CONTEXT) == {Action.READ_PUBLISHED}
    assert allowed(dashboard, CONTEXT, "u2") == {Action.READ_PUBLISHED}


def test_auditor_reads_everything_and_changes_nothing() -> None:
    auditor = Actor("kt", Role.AUDITOR)
    reads = {Action.READ_YEAR, Action.READ_OWN_UNIT, Action.READ_PUBLISHED, Action.READ_AUDIT}
    assert allowed(auditor, CONTEXT) == reads
    assert allowed(auditor, CONTEXT, "u2") == reads
    with pytest.raises(Forbidden) as caught:
        authorise(auditor.caller(), Action.MANAGE_YEAR, CONTEXT)
    assert caught.value.code == "FORBIDDEN"


def test_secretariat_rights_follow_the_leader_after_rotation() -> None:
    year = make_year(6)
    old, new = Actor("an", Role.SECRETARIAT, "u1"), Actor("ba", Role.SECRETARIAT, "u2")
    before = year.context(date(2025, 12, 1))
    assert may(old, Action.MANAGE_YEAR, before) is True
    assert may(new, Action.MANAGE_YEAR, before) is False

    year.rotate_leadership("u2", ["u3"], date(2025, 12, 20))
    after = year.context(date(2025, 12, 20))
    assert may(old, Action.MANAGE_YEAR, after) is False
    assert may(old, Action.READ_YEAR, after) is True
    assert may(new, Action.MANAGE_YEAR, after) is True
    with pytest.raises(Forbidden) as caught:
        authorise(old.caller(), Action.MANAGE_YEAR, after)
    assert caught.value.code == "NOT_THE_LEADER"


def test_secretariat_of_a_unit_that_never_led_has_no_rights() -> None:
    outsider = Actor("cu", Role.SECRETARIAT, "u4")
    assert allowed(outsider, YearContext(leader="u1", former_leaders=frozenset({"u2"}))) == set()


def test_city_board_may_reopen_and_the_secretariat_may_not() -> None:
    board = Actor("ban", Role.CITY_BOARD)
    secretariat = Actor("an", Role.SECRETARIAT, "u1")
    assert may(board, Action.REOPEN, CONTEXT) is True
    assert may(secretariat, Action.REOPEN, CONTEXT) is False
    with pytest.raises(Forbidden) as caught:
        authorise(secretariat.caller(), Action.REOPEN, CONTEXT)
    assert caught.value.code == "FORBIDDEN"


# Meetings and ballots ------------------------------------------------------------------------


def convened(n: int = 6, present: int = 6, rules: YearRules | None = None) -> ClusterYear:
    year = make_year(n, rules)
    year.convene("m1", "Hội nghị tổng kết", date(2025, 12, 20))
    year.record_attendance("m1", [f"u{i}" for i in range(1, present + 1)])
    return year


def test_no_ballot_opens_without_quorum() -> None:
    year = convened(6, present=3)
    refused("NO_QUORUM", lambda: year.open_ballot("m1", "u1", "Suy tôn"), year)
    assert year.meeting("m1").rounds == ()


def test_a_ballot_opens_with_four_of_six_present() -> None:
    year = convened(6, present=4)
    year.open_ballot("m1", "u1", "Suy tôn")
    assert year.meeting("m1").rounds[0].number == 1
    assert year.meeting("m1").rounds[0].passed is None


def test_attendance_can_be_completed_until_voting_starts() -> None:
    year = convened(6, present=3)
    year.record_attendance("m1", ["u1", "u2", "u3", "u4"])
    year.open_ballot("m1", "u1", "Suy tôn")
    refused("VOTING_STARTED", lambda: year.record_attendance("m1", ["u1", "u2"]), year)


def test_tally_with_more_ballots_than_units_present_is_refused() -> None:
    year = convened(6, present=4)
    year.open_ballot("m1", "u1", "Suy tôn")
    refused("TALLY_INVALID", lambda: year.record_tally("m1", yes=3, no=1, blank=1), year)
    refused("TALLY_INVALID", lambda: year.record_tally("m1", yes=5, no=-1, blank=0), year)
    assert year.meeting("m1").rounds[0].yes is None


def test_tally_without_an_open_round_is_refused() -> None:
    year = convened(6, present=4)
    refused("NO_OPEN_ROUND", lambda: year.record_tally("m1", yes=4, no=0, blank=0), year)


def test_second_ballot_while_one_is_open_is_refused() -> None:
    year = convened(6, present=4)
    year.open_ballot("m1", "u1", "Suy tôn")
    refused("ROUND_OPEN", lambda: year.open_ballot("m1", "u2", "Suy tôn"), year)


def test_a_failed_round_can_be_rerun_as_a_new_round_that_passes() -> None:
    year = convened(6, present=5)
    year.open_ballot("m1", "u1", "Suy tôn dẫn đầu")
    year.record_tally("m1", yes=3, no=2, blank=0)
    first = year.meeting("m1").rounds[0]
    assert (first.yes, first.base, first.passed) == (3, 6, False)
    assert year.vote_won_by("u1") is False

    year.open_ballot("m1", "u1", "Suy tôn dẫn đầu (vòng 2)")
    year.record_tally("m1", yes=4, no=1, blank=0)
    rounds = year.meeting("m1").rounds
    assert [(r.number, r.passed) for r in rounds] == [(1, False), (2, True)]
    assert year.vote_won_by("u1") is True


def test_vote_base_present_in_a_meeting() -> None:
    year = convened(6, present=5, rules=YearRules(vote_base=VoteBase.PRESENT))
    year.open_ballot("m1", "u1", "Suy tôn")
    year.record_tally("m1", yes=3, no=2, blank=0)
    done = year.meeting("m1").rounds[0]
    assert (done.base, done.passed) == (5, True)


def test_ballot_on_a_candidate_that_is_not_a_member_is_refused() -> None:
    year = convened(6, present=6)
    refused("CANDIDATE_NOT_MEMBER", lambda: year.open_ballot("m1", "x9", "Suy tôn"), year)


def test_meeting_keeps_only_the_tally() -> None:
    year = convened(6, present=6)
    year.open_ballot("m1", "u1", "Suy tôn")
    year.record_tally("m1", yes=5, no=0, blank=1)
    stored = year.meeting("m1").to_json()["rounds"][0]
    assert set(stored) == {
        "number",
        "candidate",
        "question",
        "yes",
        "no",
        "blank",
        "base",
        "passed",
    }
    assert Meeting.from_json(year.meeting("m1").to_json()) == year.meeting("m1")


# Scorecard -----------------------------------------------------------------------------------


def test_a_new_scorecard_is_empty() -> None:
    card = scorecard("u1")
    assert card.id == "scorecard/2025/u1"
    assert card.points(Layer.CITY) == {}
    assert card.submitted_at is None


def test_self_score_is_stored_as_an_exact_decimal() -> None:
    card = scorecard()
    self_score(card, "A1", "27.75")
    assert card.points(Layer.SELF) == {"A1": Decimal("27.75")}
    assert card.entries[Layer.SELF]["A1"]["criteria_version"] == "2025.1"


def test_a_cards_answers_follow_its_every_score_and_are_not_its_state() -> None:
    """A card keeps its last answers for its version: a new score changes them at once,
    and a card that kept answers equals one that did not."""
    card = scorecard()
    self_score(card, "A1", "20")
    assert card.points(Layer.CITY) == {"A1": Decimal(20)}
    assert card.flagged(TEMPLATE) == []
    untouched = copy.deepcopy(card)
    untouched.__dict__ = {k: v for k, v in card.__dict__.items() if not k.startswith(KEPT)}
    assert card == untouched
    self_score(card, "A1", "25")
    assert card.points(Layer.CITY) == {"A1": Decimal(25)}
    card.points(Layer.SELF)["A1"] = Decimal(0)  # a caller's copy, not the card's
    assert card.points(Layer.SELF) == {"A1": Decimal(25)}


def test_self_score_off_the_step_is_refused() -> None:
    card = scorecard()
    refused("SCORE_STEP", lambda: self_score(card, "A2", "7.3"), card)


@pytest.mark.parametrize("points", ["-1", "15.25"])
def test_self_score_outside_zero_and_max_is_refused(points: str) -> None:
    card = scorecard()
    refused("SCORE_OUT_OF_RANGE", lambda: self_score(card, "A2", points), card)


def test_bonus_is_bounded_by_its_own_max() -> None:
    card = scorecard()
    refused("SCORE_OUT_OF_RANGE", lambda: self_score(card, "E1", "10.25"), card)
    self_score(card, "E1", "10")
    assert card.points(Layer.SELF)["E1"] == Decimal(10)


def test_deductions_have_no_upper_cap_in_a_scorecard() -> None:
    card = scorecard()
    self_score(card, "F1", "120.5")
    assert card.points(Layer.SELF)["F1"] == Decimal("120.5")


def test_scoring_an_unknown_criterion_is_refused() -> None:
    card = scorecard()
    refused("UNKNOWN_CRITERION", lambda: self_score(card, "Z9", "1"), card)


def test_self_score_needs_an_explanation() -> None:
    card = scorecard()
    refused(
        "EXPLANATION_REQUIRED",
        lambda: card.score(Layer.SELF, TEMPLATE, "A1", Decimal(20), "  ", ["a.pdf"], AT, RULES),
        card,
    )


def test_self_score_needs_evidence() -> None:
    card = scorecard()
    refused(
        "EVIDENCE_REQUIRED",
        lambda: card.score(Layer.SELF, TEMPLATE, "A1", Decimal(20), "Giải trình", [], AT, RULES),
        card,
    )
    refused(
        "EVIDENCE_REQUIRED",
        lambda: card.score(Layer.SELF, TEMPLATE, "A1", Decimal(20), "Giải trình", [" "], AT, RULES),
        card,
    )


def test_verified_score_needs_an_explanation_but_no_evidence() -> None:
    card = scorecard()
    refused(
        "EXPLANATION_REQUIRED",
        lambda: card.score(Layer.VERIFIED, TEMPLATE, "A1", Decimal(20), "", [], AT, RULES),
        card,
    )
    card.score(Layer.VERIFIED, TEMPLATE, "A1", Decimal(20), "Đối chiếu hồ sơ", [], AT, RULES)
    assert card.points(Layer.VERIFIED) == {"A1": Decimal(20)}


def test_verified_view_falls_back_to_self_scores() -> None:
    card = scorecard()
    self_score(card, "A1", "25")
    self_score(card, "A2", "10")
    verify(card, "A1", "20")
    assert card.points(Layer.VERIFIED) == {"A1": Decimal(20), "A2": Decimal(10)}
    assert card.points(Layer.SELF) == {"A1": Decimal(25), "A2": Decimal(10)}


def test_city_view_falls_back_to_verified_then_self() -> None:
    card = scorecard()
    self_score(card, "A1", "25")
    self_score(card, "A2", "10")
    self_score(card, "A3", "8")
    verify(card, "A1", "20")
    verify(card, "A2", "9")
    verify(card, "A2", "9.5", layer=Layer.CITY)
    assert card.points(Layer.CITY) == {"A1": Decimal(20), "A2": Decimal("9.5"), "A3": Decimal(8)}
    assert card.points(Layer.VERIFIED)["A2"] == Decimal(9)


def test_submit_is_refused_while_base_criteria_are_missing() -> None:
    card = scorecard()
    self_score(card, "A1", "25")
    assert card.missing(TEMPLATE) == ["A2", "A3", "B1", "B2", "B3", "C1", "C2", "D"]
    refused("SELF_ASSESSMENT_INCOMPLETE", lambda: card.submit(TEMPLATE, AT), card)
    assert card.submitted_at is None


def test_submit_of_a_complete_self_assessment_without_bonus_or_deductions() -> None:
    card = scorecard()
    complete_self_assessment(card)
    assert card.missing(TEMPLATE) == []
    card.submit(TEMPLATE, AT)
    assert card.submitted_at == AT


def test_a_new_self_score_withdraws_the_submission() -> None:
    card = scorecard()
    complete_self_assessment(card)
    card.submit(TEMPLATE, AT)
    self_score(card, "A1", "26")
    assert card.submitted_at is None


def test_a_verified_score_keeps_the_submission() -> None:
    card = scorecard()
    complete_self_assessment(card)
    card.submit(TEMPLATE, AT)
    verify(card, "A1", "4")
    assert card.submitted_at == AT


def test_answering_needs_a_finding_and_a_text() -> None:
    card = scorecard()
    self_score(card, "A1", "25")
    refused("NO_FINDING", lambda: card.answer("A1", "Đã bổ sung"), card)
    verify(card, "A1", "20")
    refused("ANSWER_REQUIRED", lambda: card.answer("A1", "  "), card)
    card.answer("A1", "Đã bổ sung minh chứng")
    assert card.answers == {"A1": "Đã bổ sung minh chứng"}


# Criteria changed mid-year -------------------------------------------------------------------

V2 = amended(TEMPLATE, "2025.2", {"A2": 20}, date(2025, 7, 1))


def test_changed_criterion_is_flagged_and_never_rescaled() -> None:
    card = scorecard("u")
    self_score(card, "A2", "12")
    self_score(card, "A1", "25")
    assert card.flagged(TEMPLATE) == []
    assert card.flagged(V2) == ["A2"]
    assert card.points(Layer.SELF) == {"A1": Decimal(25), "A2": Decimal(12)}
    assert card.entries[Layer.SELF]["A2"]["criteria_version"] == "2025.1"


def test_rescoring_against_the_new_version_clears_the_flag() -> None:
    card = scorecard("u")
    self_score(card, "A2", "12")
    self_score(card, "A2", "18", criteria=V2)  # 18 is above the old max 15
    assert card.flagged(V2) == []
    assert card.points(Layer.SELF) == {"A2": Decimal(18)}


def test_a_verified_entry_on_the_old_version_stays_flagged() -> None:
    card = scorecard("u")
    self_score(card, "A2", "12")
    verify(card, "A2", "11")
    self_score(card, "A2", "18", criteria=V2)
    assert card.flagged(V2) == ["A2"]


def test_submit_is_refused_with_flagged_criteria() -> None:
    card = scorecard("u")
    complete_self_assessment(card)
    refused("CRITERIA_FLAGGED", lambda: card.submit(V2, AT), card)


def test_finalise_is_refused_while_a_unit_has_flagged_criteria() -> None:
    year = year_with_criteria()
    year.adopt_criteria(V2, TEMPLATE, "city-2025")
    card = scorecard("u")
    self_score(card, "A2", "12")
    flagged = {"u": card.flagged(year.criteria_on(date(2025, 12, 31)))}
    assert flagged == {"u": ["A2"]}
    refused("CRITERIA_FLAGGED", lambda: year.finalise(ranked("u"), flagged=flagged), year)
    assert year.status.value == "open"
    year.finalise(ranked("u"), flagged={"u": []})
    assert year.status.value == "finalised"


def test_a_score_is_not_flagged_against_its_own_criteria_whatever_the_title_form() -> None:
    title = unicodedata.normalize("NFD", "Cải cách hành chính, chuyển đổi số")
    criteria = CriteriaSet("v", JAN_1, (Criterion("A2", title, "A", Decimal(15)),), Decimal(10))
    card = scorecard()
    self_score(card, "A2", "10", criteria=criteria)
    assert card.flagged(criteria) == []


# Finalisation, reopening, results ------------------------------------------------------------


def test_finalising_twice_is_refused() -> None:
    year = finalised_year()
    refused("YEAR_FINALISED", lambda: year.finalise(ranked("u2"), flagged={}), year)
    assert year.result_version == 1


def test_a_finalised_year_refuses_changes() -> None:
    year = finalised_year()
    refused("YEAR_FINALISED", year.check_open, year)
    refused("YEAR_FINALISED", lambda: year.adopt_criteria(TEMPLATE, TEMPLATE, "t"), year)
    refused(
        "YEAR_FINALISED",
        lambda: year.assign_inspection("k1", "u3", ["u2"], date(2025, 12, 31)),
        year,
    )
    refused("YEAR_FINALISED", lambda: year.set_rules(YearRules()), year)


def test_reopen_needs_a_reason() -> None:
    year = finalised_year()
    refused("REASON_REQUIRED", lambda: year.reopen(""), year)
    refused("REASON_REQUIRED", lambda: year.reopen("   "), year)
    assert year.status is Status.FINALISED


def test_reopen_of_an_open_year_is_refused() -> None:
    year = make_year()
    refused("YEAR_NOT_FINALISED", lambda: year.reopen("Sai sót"), year)


def test_reopen_makes_the_year_open_and_supersedes_proposals_on_the_old_result() -> None:
    year = finalised_year(10)
    year.propose("c1", Award.CERTIFICATE, ["u2", "u3"], DOCS, date(2025, 12, 31))
    assert year.proposals["c1"].superseded is False
    year.reopen("Phát hiện kê khai không đúng")
    assert year.status is Status.OPEN
    year.check_open()
    assert year.proposals["c1"].superseded is True
    assert year.proposals["c1"].result_version == 1
    assert year.reopenings == [{"reason": "Phát hiện kê khai không đúng", "result_version": 1}]


def test_finalising_again_makes_version_two_and_keeps_version_one() -> None:
    year = finalised_year()
    first = year.results[1]
    year.reopen("Thẩm định lại")
    year.finalise(ranked("u2", "u1"), flagged={})
    assert year.result_version == 2
    assert year.results[1] == first == ranked("u1", "u2")
    assert year.results[2] == ranked("u2", "u1")
    assert year.current_result() == ranked("u2", "u1")


def test_a_new_proposal_may_be_built_on_the_new_result() -> None:
    year = finalised_year(10)
    year.propose("c1", Award.CERTIFICATE, ["u2"], DOCS, date(2025, 12, 31))
    year.reopen("Thẩm định lại")
    year.finalise(ranked("u3", "u2"), flagged={})
    year.propose("c2", Award.CERTIFICATE, ["u3"], DOCS, date(2025, 12, 31))
    assert year.proposals["c2"].result_version == 2
    assert (year.proposals["c1"].superseded, year.proposals["c2"].superseded) == (True, False)


def test_self_score_deadline_passed_on_11_december() -> None:
    year = make_year()
    refused(
        "SELF_SCORE_DEADLINE_PASSED", lambda: year.check_self_score_deadline(date(2025, 12, 11))
    )


def test_self_score_deadline_day_10_december_is_accepted() -> None:
    make_year().check_self_score_deadline(date(2025, 12, 10))


def test_self_score_deadline_comes_from_year_rules() -> None:
    year = make_year(rules=YearRules(deadlines=Deadlines(self_scores=(12, 15))))
    year.check_self_score_deadline(date(2025, 12, 15))
    refused(
        "SELF_SCORE_DEADLINE_PASSED", lambda: year.check_self_score_deadline(date(2025, 12, 16))
    )


# Proposals -----------------------------------------------------------------------------------

ON = date(2025, 12, 31)
ALL_HOLD = FlagFacts(first="u1", vote_won=True, new_model_carried_out=True)


def test_proposal_before_finalisation_is_refused() -> None:
    year = make_year(10)
    refused(
        "RESULT_NOT_FINALISED",
        lambda: year.propose("c1", Award.CERTIFICATE, ["u2"], DOCS, ON),
        year,
    )
    refused(
        "RESULT_NOT_FINALISED",
        lambda: year.propose("f1", Award.FLAG, ["u1"], DOCS, ON, {"u1": ALL_HOLD}),
        year,
    )


def test_flag_refused_when_not_first() -> None:
    year = finalised_year()
    facts = {"u1": replace(ALL_HOLD, first="u2")}
    refused("FLAG_NOT_FIRST", lambda: year.propose("f1", Award.FLAG, ["u1"], DOCS, ON, facts), year)


def test_flag_refused_when_not_voted() -> None:
    year = finalised_year()
    facts = {"u1": replace(ALL_HOLD, vote_won=False)}
    refused("FLAG_NOT_VOTED", lambda: year.propose("f1", Award.FLAG, ["u1"], DOCS, ON, facts), year)


def test_flag_refused_without_a_new_model_carried_out() -> None:
    year = finalised_year()
    facts = {"u1": replace(ALL_HOLD, new_model_carried_out=False)}
    refused(
        "FLAG_NO_NEW_MODEL", lambda: year.propose("f1", Award.FLAG, ["u1"], DOCS, ON, facts), year
    )


def test_flag_refused_without_facts() -> None:
    year = finalised_year()
    refused("FLAG_NOT_FIRST", lambda: year.propose("f1", Award.FLAG, ["u1"], DOCS, ON), year)


def test_flag_accepted_when_first_voted_and_new_model_carried_out() -> None:
    year = finalised_year()
    year.propose("f1", Award.FLAG, ["u1"], DOCS, ON, {"u1": ALL_HOLD})
    proposal = year.proposals["f1"]
    assert (proposal.award, proposal.units, proposal.result_version) == (Award.FLAG, ("u1",), 1)
    assert proposal.superseded is False


def test_flag_facts_gathered_from_the_meeting_and_the_pledge() -> None:
    year = convened(6, present=5)
    year.open_ballot("m1", "u1", "Suy tôn")
    year.record_tally("m1", yes=4, no=1, blank=0)
    pledge = Pledge.draft(2025, ["Hoàn thành chỉ tiêu"], [])
    march = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    pledge.register_topic("t1", "u1", TopicKind.NEW_MODEL, "Mô hình số", march, date(2025, 3, 31))
    pledge.mark_topic("t1", carried_out=True, note="Đã triển khai")
    year.finalise(ranked("u1"), flagged={})
    facts = FlagFacts("u1", year.vote_won_by("u1"), pledge.new_model_carried_out("u1"))
    year.propose("f1", Award.FLAG, ["u1"], DOCS, ON, {"u1": facts})
    assert "f1" in year.proposals


def test_a_second_flag_for_one_result_is_refused() -> None:
    year = finalised_year()
    facts = {"u1": ALL_HOLD, "u2": replace(ALL_HOLD, first="u2")}
    refused(
        "FLAG_QUOTA_EXCEEDED",
        lambda: year.propose("f1", Award.FLAG, ["u1", "u2"], DOCS, ON, facts),
        year,
    )


def test_a_second_active_proposal_of_the_same_award_is_refused() -> None:
    year = finalised_year(10)
    year.propose("f1", Award.FLAG, ["u1"], DOCS, ON, {"u1": ALL_HOLD})
    refused(
        "PROPOSAL_EXISTS",
        lambda: year.propose("f2", Award.FLAG, ["u1"], DOCS, ON, {"u1": ALL_HOLD}),
        year,
    )
    # Another award is still possible on the same result.
    year.propose("c1", Award.CERTIFICATE, ["u2"], DOCS, ON)
    refused(
        "PROPOSAL_EXISTS", lambda: year.propose("c2", Award.CERTIFICATE, ["u3"], DOCS, ON), year
    )


# The flag's conditions are the year's rules; the floor rule holds whatever they are.


def finalised_with(rules: YearRules, result: YearResult | None = None) -> ClusterYear:
    year = make_year(6, rules)
    year.finalise(result or ranked("u1", "u2"), flagged={})
    return year


def with_floored(*units: str) -> YearResult:
    """u1 first, u2 second, and these units floored below them."""
    result = ranked("u1", "u2")
    ranking = result.layers[RANKING_LAYER].ranking
    floored = tuple(
        Place(unit, i + 3, Decimal(95), DecidedBy.FLOOR, (Floor.A1_BELOW_SHARE,), False)
        for i, unit in enumerate(units)
    )
    layer = LayerResult(totals=(), ranking=replace(ranking, places=ranking.places + floored))
    return replace(result, layers={RANKING_LAYER: layer})


def test_the_default_flag_needs_first_place_a_vote_and_a_new_model() -> None:
    assert RULES.flag_requires == set(FlagCondition)


def test_a_flag_without_the_new_model_condition_admits_a_unit_without_one() -> None:
    rules = replace(RULES, flag_requires=frozenset({FlagCondition.FIRST, FlagCondition.VOTE_WON}))
    without = {"u1": replace(ALL_HOLD, new_model_carried_out=False)}
    refused(
        "FLAG_NO_NEW_MODEL",
        lambda: finalised_year().propose("f1", Award.FLAG, ["u1"], DOCS, ON, without),
    )
    year = finalised_with(rules)
    year.propose("f1", Award.FLAG, ["u1"], DOCS, ON, without)
    assert year.proposals["f1"].units == ("u1",)
    # The conditions it keeps still hold.
    refused(
        "FLAG_NOT_VOTED",
        lambda: finalised_with(rules).propose(
            "f1", Award.FLAG, ["u1"], DOCS, ON, {"u1": replace(ALL_HOLD, vote_won=False)}
        ),
    )


def test_a_flag_without_the_first_place_condition_goes_to_the_unit_voted() -> None:
    rules = replace(RULES, flag_requires=frozenset({FlagCondition.VOTE_WON}))
    second = {"u2": FlagFacts(first="u1", vote_won=True, new_model_carried_out=False)}
    refused(
        "FLAG_NOT_FIRST",
        lambda: finalised_year().propose("f1", Award.FLAG, ["u2"], DOCS, ON, second),
    )
    year = finalised_with(rules)
    year.propose("f1", Award.FLAG, ["u2"], DOCS, ON, second)
    assert year.proposals["f1"].units == ("u2",)


def test_the_floor_rule_holds_whatever_the_flag_requires() -> None:
    rules = replace(RULES, flag_requires=frozenset({FlagCondition.VOTE_WON}))
    voted = FlagFacts(first="u1", vote_won=True, new_model_carried_out=True)
    year = finalised_with(rules, with_floored("u3"))
    error = refused(
        "FLAG_FLOOR_RULE",
        lambda: year.propose("f1", Award.FLAG, ["u3"], DOCS, ON, {"u3": voted}),
        year,
    )
    assert "A1 dưới 80% điểm tối đa" in error.message
    refused(  # a member the finalised ranking does not hold (it joined afterwards)
        "FLAG_NOT_RANKED",
        lambda: year.propose("f1", Award.FLAG, ["u4"], DOCS, ON, {"u4": voted}),
        year,
    )


def test_proposal_without_documents_is_refused() -> None:
    year = finalised_year(10)
    refused(
        "DOSSIER_INCOMPLETE", lambda: year.propose("c1", Award.CERTIFICATE, ["u2"], [], ON), year
    )


def test_four_certificates_in_a_ten_member_cluster_are_refused() -> None:
    year = finalised_year(10)
    refused(
        "CERTIFICATE_QUOTA_EXCEEDED",
        lambda: year.propose("c1", Award.CERTIFICATE, ["u2", "u3", "u4", "u5"], DOCS, ON),
        year,
    )


def test_three_certificates_in_a_ten_member_cluster_are_accepted() -> None:
    year = finalised_year(10)
    year.propose("c1", Award.CERTIFICATE, ["u2", "u3", "u4"], DOCS, ON)
    assert year.proposals["c1"].units == ("u2", "u3", "u4")


def test_two_certificates_in_a_six_member_cluster_are_refused() -> None:
    year = finalised_year(6)
    refused(
        "CERTIFICATE_QUOTA_EXCEEDED",
        lambda: year.propose("c1", Award.CERTIFICATE, ["u2", "u3"], DOCS, ON),
        year,
    )


def test_a_unit_named_twice_in_a_certificate_proposal_is_refused() -> None:
    year = finalised_year(10)
    refused(
        "DUPLICATE_UNIT",
        lambda: year.propose("c1", Award.CERTIFICATE, ["u2", "u2"], DOCS, ON),
        year,
    )


# Pledge --------------------------------------------------------------------------------------

MEMBERS = frozenset({"u1", "u2", "u3"})
TOPIC_DEADLINE = date(2025, 3, 31)


def pledge() -> Pledge:
    return Pledge.draft(2025, ["Hoàn thành 100% chỉ tiêu thành phố giao"], ["Không có vi phạm"])


def test_drafting_an_empty_pledge_is_refused() -> None:
    with pytest.raises(RuleViolation) as caught:
        Pledge.draft(2025, [], [])
    assert caught.value.code == "PLEDGE_EMPTY"


def test_a_member_signs_once() -> None:
    p = pledge()
    p.sign("u1", "Nguyễn Văn A", AT, MEMBERS)
    assert p.signatures["u1"] == {"person": "Nguyễn Văn A", "at": AT}
    refused("ALREADY_SIGNED", lambda: p.sign("u1", "Trần Thị B", AT, MEMBERS), p)


def test_a_non_member_cannot_sign() -> None:
    p = pledge()
    refused("NOT_A_MEMBER", lambda: p.sign("x9", "Lê C", AT, MEMBERS), p)
    assert p.signatures == {}


def test_topic_registration_after_the_deadline_is_refused() -> None:
    p = pledge()
    late = datetime(2025, 4, 1, 3, 0, tzinfo=UTC)
    refused(
        "TOPIC_DEADLINE_PASSED",
        lambda: p.register_topic("t1", "u1", TopicKind.TOPIC, "Chuyên đề", late, TOPIC_DEADLINE),
        p,
    )


def test_topic_registration_on_the_deadline_day_is_accepted() -> None:
    p = pledge()
    on_the_day = datetime(2025, 3, 31, 9, 0, tzinfo=UTC)
    p.register_topic("t1", "u1", TopicKind.TOPIC, "Chuyên đề", on_the_day, TOPIC_DEADLINE)
    assert p.topics["t1"]["registered_at"] == on_the_day
    assert p.topics["t1"]["carried_out"] is None


def test_topic_deadline_is_a_hanoi_day() -> None:
    p = pledge()
    hanoi_first_of_april = datetime(2025, 3, 31, 18, 0, tzinfo=UTC)
    refused(
        "TOPIC_DEADLINE_PASSED",
        lambda: p.register_topic(
            "t1", "u1", TopicKind.TOPIC, "Chuyên đề", hanoi_first_of_april, TOPIC_DEADLINE
        ),
        p,
    )


def test_registering_a_topic_twice_or_without_title_is_refused() -> None:
    p = pledge()
    p.register_topic("t1", "u1", TopicKind.TOPIC, "Chuyên đề", AT.replace(month=3), TOPIC_DEADLINE)
    refused(
        "TOPIC_EXISTS",
        lambda: p.register_topic(
            "t1", "u2", TopicKind.TOPIC, "Khác", AT.replace(month=3), date(2025, 12, 31)
        ),
        p,
    )
    refused(
        "TOPIC_TITLE_REQUIRED",
        lambda: p.register_topic(
            "t2", "u2", TopicKind.TOPIC, " ", AT.replace(month=3), TOPIC_DEADLINE
        ),
        p,
    )


def test_marking_an_unknown_topic_is_refused() -> None:
    p = pledge()
    refused("UNKNOWN_TOPIC", lambda: p.mark_topic("t9", carried_out=True, note=""), p)


def test_new_model_carried_out_only_for_a_new_model_marked_carried_out() -> None:
    p = pledge()
    march = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    p.register_topic("t1", "u1", TopicKind.TOPIC, "Chuyên đề cải cách", march, TOPIC_DEADLINE)
    p.register_topic("m1", "u1", TopicKind.NEW_MODEL, "Mô hình một cửa số", march, TOPIC_DEADLINE)
    p.mark_topic("t1", carried_out=True, note="Đã thực hiện")
    assert p.new_model_carried_out("u1") is False  # a topic, not a new model; m1 not marked
    p.mark_topic("m1", carried_out=False, note="Chưa triển khai")
    assert p.new_model_carried_out("u1") is False
    p.mark_topic("m1", carried_out=True, note="Đã triển khai")
    assert p.new_model_carried_out("u1") is True
    assert p.new_model_carried_out("u2") is False


# Vietnamese text in NFC ----------------------------------------------------------------------

NAME = "Bưu điện thành phố Hà Nội"
NAME_NFD = unicodedata.normalize("NFD", NAME)


def test_member_name_given_decomposed_at_opening_is_stored_nfc() -> None:
    assert NAME_NFD != NAME  # the test really passes decomposed text
    members = [Membership("u1", NAME_NFD, JAN_1), *members_of(6)[1:]]
    year = ClusterYear.open(2025, members, "u1", ["u2"], RULES)
    assert year.members["u1"].name == NAME


def test_member_name_given_decomposed_at_joining_is_stored_nfc() -> None:
    year = make_year(6)
    year.join("u7", NAME_NFD, date(2025, 7, 1))
    assert year.members["u7"].name == NAME


def test_topic_title_and_pledge_text_given_decomposed_are_stored_nfc() -> None:
    title = "Mô hình chuyển đổi số"
    p = Pledge.draft(2025, [unicodedata.normalize("NFD", "Cam kết hoàn thành")], [])
    assert p.commitments == ["Cam kết hoàn thành"]
    march = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    nfd = unicodedata.normalize("NFD", title)
    p.register_topic("m1", "u1", TopicKind.NEW_MODEL, nfd, march, TOPIC_DEADLINE)
    assert p.topics["m1"]["title"] == title
    p.sign("u1", unicodedata.normalize("NFD", "Nguyễn Văn Á"), march, MEMBERS)
    assert p.signatures["u1"]["person"] == "Nguyễn Văn Á"


def test_explanation_and_reopen_reason_given_decomposed_are_stored_nfc() -> None:
    card = scorecard()
    text = "Đã hoàn thành đúng hạn"
    card.score(
        Layer.SELF,
        TEMPLATE,
        "A1",
        Decimal(30),
        unicodedata.normalize("NFD", text),
        [unicodedata.normalize("NFD", "minh chứng số 1.pdf")],
        AT,
        RULES,
    )
    assert card.entries[Layer.SELF]["A1"]["explanation"] == text
    assert card.entries[Layer.SELF]["A1"]["evidence"] == ["minh chứng số 1.pdf"]
    year = finalised_year()
    year.reopen(unicodedata.normalize("NFD", "Kê khai sai"))
    assert year.reopenings[0]["reason"] == "Kê khai sai"


# Refusals are typed ---------------------------------------------------------------------------


def test_refusals_are_typed_by_kind() -> None:
    year = finalised_year()
    assert isinstance(refused("YEAR_FINALISED", year.check_open, year), InvalidState)
    card = scorecard()
    assert isinstance(
        refused("SCORE_STEP", lambda: self_score(card, "A1", "7.3"), card), RuleViolation
    )


# Rights and proposals tightened after review ------------------------------------------------


def test_the_secretariat_does_not_verify_its_own_unit() -> None:
    secretariat = Actor("Thường trực", Role.SECRETARIAT, "u1")
    assert may(secretariat, Action.VERIFY_SCORE, CONTEXT, "u2")
    with pytest.raises(DomainError) as caught:
        authorise(secretariat.caller(), Action.VERIFY_SCORE, CONTEXT, "u1")
    assert caught.value.code == "OWN_UNIT_INSPECTION"


def test_members_read_published_results_of_any_unit_but_drafts_only_of_their_own() -> None:
    officer = Actor("Cán bộ", Role.MEMBER_OFFICER, "u3")
    assert may(officer, Action.READ_PUBLISHED, CONTEXT, "u4")
    assert not may(officer, Action.READ_OWN_UNIT, CONTEXT, "u4")
    assert not may(officer, Action.SELF_SCORE, CONTEXT)  # a write names its unit


def test_an_inspector_reads_the_drafts_of_the_units_it_checks() -> None:
    context = YearContext(leader="u1", members=MEMBERS6, inspected_by=frozenset({("u3", "u4")}))
    inspector = Actor("Kiểm tra", Role.CROSS_INSPECTOR, "u3")
    assert may(inspector, Action.READ_OWN_UNIT, context, "u4")
    assert not may(inspector, Action.READ_OWN_UNIT, context, "u5")


def test_a_proposal_naming_no_unit_is_refused() -> None:
    year = finalised_year()
    refused("PROPOSAL_EMPTY", lambda: year.propose("p", Award.CERTIFICATE, [], DOCS, JAN_1), year)
