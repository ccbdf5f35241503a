"""Totals, the floor rule and the tie-break chain, on the domain's model scorecard; no database."""

import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest

from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.errors import InvalidState
from thidua.domain.ranking import (
    DecidedBy,
    Floor,
    Place,
    Ranking,
    UnitTotals,
    floor_reasons,
    rank,
    unit_totals,
)
from thidua.domain.rules import TieBreak, YearRules

HANOI = timezone(timedelta(hours=7))
RULES = YearRules()


def base(code: str, part: str, max_points: int) -> Criterion:
    return Criterion(code, f"Tiêu chí {code}", part, Decimal(max_points))


CRITERIA = CriteriaSet(
    version="2025.1",
    effective_from=date(2025, 1, 1),
    criteria=(
        base("A1", "A", 30),
        base("A2", "A", 15),
        base("A3", "A", 10),
        base("B1", "B", 8),
        base("B2", "B", 7),
        base("B3", "B", 5),
        base("C1", "C", 5),
        base("C2", "C", 5),
        base("D", "D", 15),
        Criterion("E1", "Mô hình được thành phố công nhận", "E", Decimal(10), Kind.BONUS),
        Criterion("E2", "Cờ thi đua của Bộ", "E", Decimal(10), Kind.BONUS),
        Criterion("F1", "Chậm báo cáo", "F", None, Kind.DEDUCTION),
        Criterion("F2", "Kết luận vi phạm kỷ luật", "F", None, Kind.DEDUCTION),
    ),
    bonus_cap=Decimal(10),
)

# A good but not perfect year: base 88, A1 at 27 of 30 (90%), part A 49.
GOOD = {"A1": 27, "A2": 13, "A3": 9, "B1": 7, "B2": 6, "B3": 4, "C1": 5, "C2": 4, "D": 13}


def totals(unit: str, submitted_at: datetime | None = None, /, **changes: str) -> UnitTotals:
    """A unit with GOOD points, some of them changed (values as strings: exact decimals)."""
    points = {code: Decimal(value) for code, value in GOOD.items()}
    points |= {code: Decimal(value) for code, value in changes.items()}
    return unit_totals(unit, CRITERIA, points, submitted_at)


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2025, 12, day, hour, tzinfo=HANOI)


def summary(ranking: Ranking) -> list[tuple[str, int, DecidedBy]]:
    return [(p.unit, p.rank, p.decided_by) for p in ranking.places]


# Totals


def test_total_is_base_plus_capped_bonus_minus_deductions_and_may_pass_100() -> None:
    full = {c.code: str(c.max_points) for c in CRITERIA.criteria if c.kind is Kind.BASE}
    unit = totals("Ba Đình", **full, E1="8", E2="6", F1="1", F2="0.5")

    assert unit.base == Decimal(100)
    assert unit.parts == {
        "A": Decimal(55),
        "B": Decimal(20),
        "C": Decimal(10),
        "D": Decimal(15),
        "E": Decimal(14),  # the raw sum, before the cap
        "F": Decimal("1.5"),
    }
    assert unit.bonus == Decimal(10)  # 14 capped at 10
    assert unit.deductions == Decimal("1.5")
    assert unit.total == Decimal("108.5")
    assert unit.part_a == Decimal(55)
    assert unit.a1_points == Decimal(30)
    assert unit.largest_deduction == Decimal(1)


def test_bonus_under_the_cap_counts_in_full() -> None:
    unit = totals("Hoàn Kiếm", E1="4", E2="2.25")
    assert unit.bonus == Decimal("6.25")
    assert unit.total == Decimal("94.25")
    assert unit.deductions == Decimal(0)
    assert unit.largest_deduction == Decimal(0)


def test_bonus_cap_comes_from_the_criteria_set() -> None:
    criteria = replace(CRITERIA, bonus_cap=Decimal(5))
    points = {code: Decimal(value) for code, value in GOOD.items()} | {"E1": Decimal(8)}
    unit = unit_totals("Đống Đa", criteria, points)
    assert unit.bonus == Decimal(5)
    assert unit.total == Decimal(93)


def test_complete_needs_every_base_criterion_but_no_bonus_or_deduction() -> None:
    assert totals("Long Biên").complete is True

    missing_b3 = {code: Decimal(value) for code, value in GOOD.items() if code != "B3"}
    unit = unit_totals("Hoàng Mai", CRITERIA, missing_b3)
    assert unit.complete is False
    assert unit.base == Decimal(84)


def test_codes_outside_the_criteria_set_are_ignored() -> None:
    unit = totals("Cầu Giấy", Z9="50", E1="2")
    assert unit.total == Decimal(90)
    assert "Z" not in unit.parts


def test_a1_with_sub_criteria_sums_them_and_its_max() -> None:
    criteria = CriteriaSet(
        version="2025.2",
        effective_from=date(2025, 7, 1),
        criteria=(
            base("A1", "A", 30),
            Criterion("A1.1", "Chỉ tiêu kinh tế", "A", Decimal(20), parent="A1"),
            Criterion("A1.2", "Chỉ tiêu xã hội", "A", Decimal(10), parent="A1"),
            base("A2", "A", 15),
        ),
        bonus_cap=Decimal(10),
    )
    points = {"A1": Decimal(30), "A1.1": Decimal(16), "A1.2": Decimal("7.75"), "A2": Decimal(15)}
    unit = unit_totals("Tây Hồ", criteria, points)

    assert unit.a1_points == Decimal("23.75")  # the parent's own entry is not a score
    assert unit.part_a == Decimal("38.75")
    assert unit.complete is True
    assert floor_reasons(unit, criteria, RULES) == (Floor.A1_BELOW_SHARE,)  # 23.75 < 24


def test_totals_round_trip_through_json() -> None:
    unit = totals("Thanh Xuân", at(9, 16), E1="2.5", F1="1")
    data = unit.to_json()
    assert data["total"] == "89.5"
    assert data["submitted_at"] == "2025-12-09T16:00:00+07:00"
    assert data["parts"]["E"] == "2.5"
    assert UnitTotals.from_json(data) == unit


# Floor rule


def test_exactly_80_percent_of_a1_is_not_floored_below_it_is() -> None:
    assert floor_reasons(totals("Ba Đình", A1="24"), CRITERIA, RULES) == ()
    assert floor_reasons(totals("Ba Đình", A1="23.75"), CRITERIA, RULES) == (Floor.A1_BELOW_SHARE,)


def test_a_single_deduction_of_5_floors_two_of_3_do_not() -> None:
    single = totals("Hai Bà Trưng", F2="5")
    two_small = totals("Hai Bà Trưng", F1="3", F2="3")

    assert floor_reasons(single, CRITERIA, RULES) == (Floor.DEDUCTION_TOO_LARGE,)
    assert two_small.deductions == Decimal(6)
    assert floor_reasons(two_small, CRITERIA, RULES) == ()
    assert floor_reasons(totals("Hai Bà Trưng", F2="4.75"), CRITERIA, RULES) == ()


def test_both_floor_reasons_are_listed() -> None:
    unit = totals("Hoàng Mai", A1="20", F1="6")
    assert floor_reasons(unit, CRITERIA, RULES) == (
        Floor.A1_BELOW_SHARE,
        Floor.DEDUCTION_TOO_LARGE,
    )


def test_floor_values_come_from_the_year_rules() -> None:
    strict = replace(RULES, floor_a1_share=Fraction(90, 100), floor_deduction=Decimal(3))
    unit = totals("Long Biên", A1="26.75", F1="3")

    assert floor_reasons(unit, CRITERIA, RULES) == ()
    assert floor_reasons(unit, CRITERIA, strict) == (
        Floor.A1_BELOW_SHARE,  # 26.75 < 27
        Floor.DEDUCTION_TOO_LARGE,
    )


def test_no_a1_in_the_set_means_no_a1_floor() -> None:
    criteria = CriteriaSet("x", date(2025, 1, 1), (base("A2", "A", 15),), Decimal(10))
    unit = unit_totals("Tây Hồ", criteria, {"A2": Decimal(1)})
    assert unit.a1_points == Decimal(0)
    assert floor_reasons(unit, criteria, RULES) == ()


# Ranking by the chain


def test_higher_total_ranks_first() -> None:
    ranking = rank(
        [totals("Đống Đa"), totals("Ba Đình", E1="3"), totals("Hoàn Kiếm", E1="1")],
        CRITERIA,
        RULES,
    )
    assert summary(ranking) == [
        ("Ba Đình", 1, DecidedBy.TOTAL),
        ("Hoàn Kiếm", 2, DecidedBy.TOTAL),
        ("Đống Đa", 3, DecidedBy.TOTAL),
    ]
    assert [p.total for p in ranking.places] == [Decimal(91), Decimal(89), Decimal(88)]
    assert ranking.first == "Ba Đình"


def test_equal_totals_are_split_by_part_a() -> None:
    strong_a = totals("Hoàn Kiếm", A1="30", D="10")  # part A 52
    weak_a = totals("Ba Đình")  # part A 49, same total 88
    assert strong_a.total == weak_a.total == Decimal(88)

    ranking = rank([weak_a, strong_a], CRITERIA, RULES)
    assert summary(ranking) == [
        ("Hoàn Kiếm", 1, DecidedBy.PART_A),
        ("Ba Đình", 2, DecidedBy.PART_A),
    ]
    assert ranking.first == "Hoàn Kiếm"


def test_then_by_fewer_deduction_points() -> None:
    fewer = totals("Long Biên", E1="2", F1="1")  # 88 + 2 - 1
    more = totals("Hoàng Mai", E1="3", F1="1", F2="1")  # 88 + 3 - 2
    assert fewer.total == more.total == Decimal(89)

    ranking = rank([more, fewer], CRITERIA, RULES)
    assert summary(ranking) == [
        ("Long Biên", 1, DecidedBy.DEDUCTIONS),
        ("Hoàng Mai", 2, DecidedBy.DEDUCTIONS),
    ]
    assert ranking.first == "Long Biên"


def test_then_by_earlier_complete_submission() -> None:
    late = totals("Ba Đình", at(10, 16))
    early = totals("Đống Đa", at(8))
    never = totals("Cầu Giấy")  # no complete submission: after every submitted unit

    ranking = rank([never, late, early], CRITERIA, RULES)
    assert summary(ranking) == [
        ("Đống Đa", 1, DecidedBy.SUBMISSION),
        ("Ba Đình", 2, DecidedBy.SUBMISSION),
        ("Cầu Giấy", 3, DecidedBy.SUBMISSION),
    ]
    assert ranking.first == "Đống Đa"


def test_a_full_tie_at_the_top_needs_a_vote_and_produces_no_first() -> None:
    ranking = rank(
        [totals("Hoàn Kiếm", at(9)), totals("Ba Đình", at(9)), totals("Tây Hồ", at(9), D="12")],
        CRITERIA,
        RULES,
    )
    assert summary(ranking) == [
        ("Ba Đình", 1, DecidedBy.TIED),
        ("Hoàn Kiếm", 1, DecidedBy.TIED),
        ("Tây Hồ", 3, DecidedBy.TOTAL),
    ]
    assert ranking.first is None


def test_a_tie_lower_down_shares_the_rank_and_keeps_the_first() -> None:
    ranking = rank(
        [totals("Ba Đình", E1="5"), totals("Đống Đa"), totals("Cầu Giấy"), totals("Tây Hồ", D="1")],
        CRITERIA,
        RULES,
    )
    assert summary(ranking) == [
        ("Ba Đình", 1, DecidedBy.TOTAL),
        ("Cầu Giấy", 2, DecidedBy.TIED),
        ("Đống Đa", 2, DecidedBy.TIED),
        ("Tây Hồ", 4, DecidedBy.TOTAL),
    ]
    assert ranking.first == "Ba Đình"


def test_a_single_unit_is_first_alone() -> None:
    ranking = rank([totals("Ba Đình")], CRITERIA, RULES)
    assert summary(ranking) == [("Ba Đình", 1, DecidedBy.ALONE)]
    assert ranking.first == "Ba Đình"
    assert rank([], CRITERIA, RULES) == Ranking(places=(), first=None)


# The year's own tie-break chain

# Three units with the same total, 88: each comes out ahead on one step of the chain.
STRONG_A = ("Hoàn Kiếm", at(10), {"A1": "30", "D": "10", "E1": "2", "F1": "2"})  # part A 52
NO_DEDUCTION: tuple[str, datetime, dict[str, str]] = (
    "Ba Đình",
    at(9),
    {},
)  # part A 49, no deduction
EARLY = ("Đống Đa", at(8), {"E1": "1", "F1": "1"})  # part A 49, 1 deducted, submitted first
THREE = [totals(unit, when, **changes) for unit, when, changes in (STRONG_A, NO_DEDUCTION, EARLY)]


def chain(*steps: TieBreak) -> YearRules:
    return replace(RULES, tie_break=steps)


def test_the_default_chain_is_part_a_then_deductions_then_submission() -> None:
    assert {t.total for t in THREE} == {Decimal(88)}
    assert RULES.tie_break == (
        TieBreak.PART_A,
        TieBreak.FEWER_DEDUCTIONS,
        TieBreak.EARLIER_SUBMISSION,
    )
    ranking = rank(THREE, CRITERIA, RULES)
    assert summary(ranking) == [
        ("Hoàn Kiếm", 1, DecidedBy.PART_A),
        ("Ba Đình", 2, DecidedBy.PART_A),
        ("Đống Đa", 3, DecidedBy.DEDUCTIONS),
    ]
    assert ranking.first == "Hoàn Kiếm"


def test_deductions_first_puts_the_unit_without_deductions_first() -> None:
    rules = chain(TieBreak.FEWER_DEDUCTIONS, TieBreak.PART_A, TieBreak.EARLIER_SUBMISSION)
    ranking = rank(THREE, CRITERIA, rules)
    assert summary(ranking) == [
        ("Ba Đình", 1, DecidedBy.DEDUCTIONS),
        ("Đống Đa", 2, DecidedBy.DEDUCTIONS),
        ("Hoàn Kiếm", 3, DecidedBy.DEDUCTIONS),
    ]
    assert ranking.first == "Ba Đình"


def test_submission_first_puts_the_earliest_complete_submission_first() -> None:
    rules = chain(TieBreak.EARLIER_SUBMISSION, TieBreak.PART_A, TieBreak.FEWER_DEDUCTIONS)
    ranking = rank(THREE, CRITERIA, rules)
    assert summary(ranking) == [
        ("Đống Đa", 1, DecidedBy.SUBMISSION),
        ("Ba Đình", 2, DecidedBy.SUBMISSION),
        ("Hoàn Kiếm", 3, DecidedBy.SUBMISSION),
    ]
    assert ranking.first == "Đống Đa"


def test_a_shorter_chain_leaves_the_rest_to_a_vote() -> None:
    part_a_only = rank(THREE, CRITERIA, chain(TieBreak.PART_A))
    assert summary(part_a_only) == [
        ("Hoàn Kiếm", 1, DecidedBy.PART_A),
        ("Ba Đình", 2, DecidedBy.TIED),
        ("Đống Đa", 2, DecidedBy.TIED),
    ]
    assert part_a_only.first == "Hoàn Kiếm"

    no_chain = rank(THREE, CRITERIA, chain())  # equal totals go straight to the vote
    assert summary(no_chain) == [
        ("Ba Đình", 1, DecidedBy.TIED),
        ("Hoàn Kiếm", 1, DecidedBy.TIED),
        ("Đống Đa", 1, DecidedBy.TIED),
    ]
    assert no_chain.first is None


def test_the_floor_rule_holds_whatever_the_chain() -> None:
    floored = totals("Hai Bà Trưng", at(7), A1="23.75", E1="3.25")  # 88, A1 below 24
    for steps in itertools.permutations(TieBreak):
        ranking = rank([*THREE, floored], CRITERIA, chain(*steps))
        assert ranking.first not in (None, "Hai Bà Trưng")
    submitted_first = rank([*THREE, floored], CRITERIA, chain(TieBreak.EARLIER_SUBMISSION))
    assert summary(submitted_first)[:2] == [
        ("Đống Đa", 1, DecidedBy.FLOOR),
        ("Hai Bà Trưng", 2, DecidedBy.FLOOR),  # the chain alone would have put it first
    ]


# Ranking with the floor rule


def test_highest_total_with_a1_below_80_percent_is_not_first() -> None:
    floored = totals("Hai Bà Trưng", A1="23.75", E1="10")  # 94.75, A1 below 24
    second = totals("Ba Đình", E1="4")  # 92
    third = totals("Đống Đa", E1="2")  # 90

    ranking = rank([floored, second, third], CRITERIA, RULES)
    assert summary(ranking) == [
        ("Ba Đình", 1, DecidedBy.FLOOR),
        ("Hai Bà Trưng", 2, DecidedBy.FLOOR),
        ("Đống Đa", 3, DecidedBy.TOTAL),
    ]
    assert ranking.first == "Ba Đình"
    assert ranking.places[1].floor == (Floor.A1_BELOW_SHARE,)
    assert ranking.places[1].may_be_first is False
    assert ranking.places[0].may_be_first is True


def test_exactly_80_percent_of_a1_may_be_first() -> None:
    ranking = rank([totals("Hai Bà Trưng", A1="24", E1="10"), totals("Ba Đình")], CRITERIA, RULES)
    assert summary(ranking) == [
        ("Hai Bà Trưng", 1, DecidedBy.TOTAL),
        ("Ba Đình", 2, DecidedBy.TOTAL),
    ]
    assert ranking.first == "Hai Bà Trưng"


def test_a_deduction_of_5_keeps_a_unit_from_first_two_of_3_do_not() -> None:
    disciplined = totals("Hoàng Mai", E1="10", F2="5")  # 93
    often_late = totals("Long Biên", E1="10", F1="3", F2="3")  # 92
    ranking = rank([disciplined, often_late, totals("Ba Đình")], CRITERIA, RULES)

    assert summary(ranking) == [
        ("Long Biên", 1, DecidedBy.FLOOR),
        ("Hoàng Mai", 2, DecidedBy.FLOOR),
        ("Ba Đình", 3, DecidedBy.TOTAL),
    ]
    assert ranking.first == "Long Biên"
    assert ranking.places[1].floor == (Floor.DEDUCTION_TOO_LARGE,)


def test_several_floored_units_keep_their_order_below_the_first() -> None:
    ranking = rank(
        [
            totals("Hoàn Kiếm", A1="20", E1="10"),  # 91, floored
            totals("Hai Bà Trưng", F2="5", E1="10"),  # 93, floored
            totals("Đống Đa"),  # 88
            totals("Ba Đình", D="10"),  # 85
        ],
        CRITERIA,
        RULES,
    )
    assert summary(ranking) == [
        ("Đống Đa", 1, DecidedBy.FLOOR),
        ("Hai Bà Trưng", 2, DecidedBy.FLOOR),
        ("Hoàn Kiếm", 3, DecidedBy.TOTAL),
        ("Ba Đình", 4, DecidedBy.TOTAL),
    ]
    assert ranking.first == "Đống Đa"


def test_floored_unit_tied_with_an_eligible_one_goes_below_it_whatever_the_names() -> None:
    for floored_name, eligible_name in (("An Khánh", "Xuân Đỉnh"), ("Xuân Đỉnh", "An Khánh")):
        floored = totals(floored_name, at(9), F1="5", E1="5")  # 88, one deduction of 5
        eligible = totals(eligible_name, at(9), F1="2.5", F2="2.5", E1="5")  # 88, two of 2.5
        ranking = rank([floored, eligible], CRITERIA, RULES)
        assert summary(ranking) == [
            (eligible_name, 1, DecidedBy.FLOOR),
            (floored_name, 2, DecidedBy.FLOOR),
        ]
        assert ranking.first == eligible_name


def test_eligible_units_tied_below_a_floored_one_share_first_and_need_a_vote() -> None:
    ranking = rank(
        [totals("Hoàn Kiếm", A1="20", E1="10"), totals("Đống Đa"), totals("Ba Đình")],
        CRITERIA,
        RULES,
    )
    assert summary(ranking) == [
        ("Ba Đình", 1, DecidedBy.TIED),
        ("Đống Đa", 1, DecidedBy.TIED),
        ("Hoàn Kiếm", 3, DecidedBy.FLOOR),
    ]
    assert ranking.first is None


def test_nobody_eligible_means_no_first_but_ranks_in_order() -> None:
    ranking = rank(
        [totals("Ba Đình", A1="20"), totals("Hoàn Kiếm", F1="5"), totals("Tây Hồ", A1="10")],
        CRITERIA,
        RULES,
    )
    assert summary(ranking) == [
        ("Hoàn Kiếm", 1, DecidedBy.TOTAL),  # 83
        ("Ba Đình", 2, DecidedBy.TOTAL),  # 81
        ("Tây Hồ", 3, DecidedBy.TOTAL),  # 71
    ]
    assert ranking.first is None
    assert not any(p.may_be_first for p in ranking.places)


def test_a_stricter_floor_share_changes_who_is_first() -> None:
    leader = totals("Hai Bà Trưng", A1="26", E1="10")  # 97, A1 at 86.7%
    runner_up = totals("Ba Đình")  # 88, A1 at 90%
    units = [leader, runner_up]

    assert rank(units, CRITERIA, RULES).first == "Hai Bà Trưng"
    strict = rank(units, CRITERIA, replace(RULES, floor_a1_share=Fraction(90, 100)))
    assert strict.first == "Ba Đình"
    assert summary(strict) == [
        ("Ba Đình", 1, DecidedBy.FLOOR),
        ("Hai Bà Trưng", 2, DecidedBy.FLOOR),
    ]


def test_input_order_does_not_change_the_result() -> None:
    units = [
        totals("Hai Bà Trưng", A1="23.75", E1="10"),
        totals("Ba Đình", at(9)),
        totals("Đống Đa", at(9)),
        totals("Hoàn Kiếm", at(8)),
        totals("Long Biên", A1="30", D="10"),
        totals("Hoàng Mai", E1="1", F1="1"),
    ]
    expected = rank(units, CRITERIA, RULES)
    assert summary(expected) == [
        ("Long Biên", 1, DecidedBy.FLOOR),
        ("Hai Bà Trưng", 2, DecidedBy.FLOOR),
        ("Hoàn Kiếm", 3, DecidedBy.TOTAL),
        ("Ba Đình", 4, DecidedBy.TIED),
        ("Đống Đa", 4, DecidedBy.TIED),
        ("Hoàng Mai", 6, DecidedBy.DEDUCTIONS),
    ]
    for order in itertools.permutations(units):
        assert rank(order, CRITERIA, RULES) == expected


def test_a_unit_twice_is_refused() -> None:
    with pytest.raises(InvalidState) as refused:
        rank([totals("Ba Đình"), totals("Ba Đình", E1="1")], CRITERIA, RULES)
    assert refused.value.code == "RANKING_DUPLICATE_UNIT"


def test_ranking_round_trips_through_json() -> None:
    ranking = rank(
        [totals("Hai Bà Trưng", F2="5", E1="10"), totals("Ba Đình"), totals("Đống Đa", D="14")],
        CRITERIA,
        RULES,
    )
    data = ranking.to_json()
    assert data["first"] == "Đống Đa"
    assert data["places"][1] == {
        "unit": "Hai Bà Trưng",
        "rank": 2,
        "total": "93",
        "decided_by": "floor_rule",
        "floor": ["deduction_too_large"],
        "may_be_first": False,
    }
    assert Ranking.from_json(data) == ranking
    assert Place.from_json(data["places"][0]) == ranking.places[0]
