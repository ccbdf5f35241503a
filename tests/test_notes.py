"""Notes on the standings: a partial year, a missing registration, each floor reason with its
figure and threshold, in words and in figures; no database."""

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.membership import Membership
from thidua.domain.notes import (
    Note,
    NoteKind,
    floor_notes,
    membership_notes,
    registration_notes,
)
from thidua.domain.pledge import Pledge, TopicKind
from thidua.domain.ranking import Floor, UnitTotals, floor_reasons, unit_totals
from thidua.domain.results import result_notes, year_result
from thidua.domain.rules import FlagCondition, YearRules
from thidua.domain.scorecard import Entries, Layer

YEAR = 2025
RULES = YearRules()


def base(code: str, part: str, max_points: int) -> Criterion:
    return Criterion(code, f"Tiêu chí {code}", part, Decimal(max_points))


CRITERIA = CriteriaSet(
    version="2025.1",
    effective_from=date(YEAR, 1, 1),
    criteria=(
        base("A1", "A", 30),
        base("A2", "A", 15),
        base("D", "D", 55),
        Criterion("F1", "Chậm báo cáo", "F", None, Kind.DEDUCTION),
        Criterion("F2", "Kết luận vi phạm kỷ luật", "F", None, Kind.DEDUCTION),
    ),
    bonus_cap=Decimal(10),
)


def points(**given: str) -> dict[str, Decimal]:
    return {"A1": Decimal(27), "A2": Decimal(13), "D": Decimal(50)} | {
        code: Decimal(value) for code, value in given.items()
    }


def notes_for(rules: YearRules = RULES, **given: str) -> list[Note]:
    totals = unit_totals("ba-dinh", CRITERIA, points(**given))
    return floor_notes(totals, floor_reasons(totals, CRITERIA, rules), CRITERIA, rules)


# The floor rule, with its figures


def test_a1_below_its_share_says_the_points_the_share_and_the_threshold() -> None:
    (note,) = notes_for(A1="22")
    assert note.kind is NoteKind.A1_BELOW_SHARE
    assert note.text == (
        "Tiêu chí A1 đạt 22.00 trên 30.00 điểm (73.33%), dưới mức 80% điểm tối đa "
        "(24.00 điểm): không được xếp thứ nhất, không được đề nghị Cờ thi đua."
    )
    assert (note.points, note.maximum, note.threshold) == (Decimal(22), Decimal(30), Decimal(24))
    assert (note.share, note.threshold_share) == (Fraction(11, 15), Fraction(4, 5))


def test_a_large_deduction_says_the_deduction_and_the_floor() -> None:
    (note,) = notes_for(F1="1", F2="5")
    assert note.kind is NoteKind.DEDUCTION_TOO_LARGE
    assert note.text == (
        "Có một khoản điểm trừ 5.00 điểm, từ mức 5.00 điểm trở lên: "
        "không được xếp thứ nhất, không được đề nghị Cờ thi đua."
    )
    assert (note.points, note.threshold) == (Decimal(5), Decimal(5))


def test_both_reasons_each_have_a_note_and_none_for_an_eligible_unit() -> None:
    assert [n.kind for n in notes_for(A1="20", F2="6")] == [
        NoteKind.A1_BELOW_SHARE,
        NoteKind.DEDUCTION_TOO_LARGE,
    ]
    assert notes_for() == []
    assert notes_for(A1="24", F1="4.75") == []  # exactly the share; a deduction below 5


def test_a_share_just_below_never_reads_as_reaching_the_threshold() -> None:
    """2/3 of 30 is 20: 19.99 is 66.63% (rounded down), below 66.67% (rounded up)."""
    rules = replace(RULES, floor_a1_share=Fraction(2, 3))
    (note,) = notes_for(rules, A1="19.99")
    assert "(66.63%), dưới mức 66.67% điểm tối đa (20.00 điểm)" in note.text
    rules = replace(RULES, floor_a1_share=Fraction(7, 9))  # 23.333… of 30
    (note,) = notes_for(rules, A1="23.33")
    assert note.threshold == Decimal("23.34")  # the least hundredths that reach it
    assert "(77.76%), dưới mức 77.78% điểm tối đa (23.34 điểm)" in note.text


def test_the_floor_figures_come_from_the_year_rules() -> None:
    strict = replace(RULES, floor_a1_share=Fraction(9, 10), floor_deduction=Decimal("2.5"))
    a1, deduction = notes_for(strict, A1="26.75", F1="3")
    assert "dưới mức 90% điểm tối đa (27.00 điểm)" in a1.text
    assert (deduction.points, deduction.threshold) == (Decimal(3), Decimal("2.5"))
    assert "từ mức 2.50 điểm trở lên" in deduction.text


# A partial year

NAMES = {"ba-dinh": "Quận Ba Đình", "hoan-kiem": "Quận Hoàn Kiếm"}


def test_a_whole_year_member_has_no_note() -> None:
    whole = Membership("ba-dinh", "Quận Ba Đình", date(YEAR, 1, 1))
    earlier = Membership("ba-dinh", "Quận Ba Đình", date(2019, 3, 1), left_on=date(YEAR + 1, 1, 1))
    assert membership_notes("ba-dinh", [whole], YEAR, NAMES) == []
    assert membership_notes("ba-dinh", [earlier], YEAR, NAMES) == []


def test_joined_and_left_mid_year_are_dated() -> None:
    period = Membership("ba-dinh", "Quận Ba Đình", date(YEAR, 4, 1), left_on=date(YEAR, 10, 1))
    joined, left = membership_notes("ba-dinh", [period], YEAR, NAMES)
    assert (joined.kind, joined.on) == (NoteKind.JOINED, date(YEAR, 4, 1))
    assert joined.text == "Gia nhập cụm từ ngày 01/04/2025: không là thành viên cả năm 2025."
    assert (left.kind, left.on, left.unit) == (NoteKind.LEFT, date(YEAR, 10, 1), None)
    assert left.text == "Rời cụm từ ngày 01/10/2025: không là thành viên cả năm 2025."


def test_a_merger_is_noted_on_both_units() -> None:
    merged = Membership(
        "ba-dinh", "Quận Ba Đình", date(YEAR, 1, 1), date(YEAR, 7, 1), merged_into="hoan-kiem"
    )
    target = Membership("hoan-kiem", "Quận Hoàn Kiếm", date(YEAR, 1, 1))
    (left,) = membership_notes("ba-dinh", [merged, target], YEAR, NAMES)
    assert (left.kind, left.on, left.unit) == (NoteKind.LEFT, date(YEAR, 7, 1), "hoan-kiem")
    assert left.text == (
        "Sáp nhập vào Quận Hoàn Kiếm (hoan-kiem) từ ngày 01/07/2025: "
        "không là thành viên cả năm 2025."
    )
    (received,) = membership_notes("hoan-kiem", [merged, target], YEAR, NAMES)
    assert (received.kind, received.on, received.unit) == (
        NoteKind.MERGED_IN,
        date(YEAR, 7, 1),
        "ba-dinh",
    )
    assert received.text == "Quận Ba Đình (ba-dinh) sáp nhập vào đơn vị từ ngày 01/07/2025."


def test_a_unit_that_left_and_came_back_has_every_date_in_order() -> None:
    first = Membership("ba-dinh", "Quận Ba Đình", date(YEAR, 1, 1), left_on=date(YEAR, 3, 1))
    again = Membership("ba-dinh", "Quận Ba Đình", date(YEAR, 6, 1))
    found = membership_notes("ba-dinh", [again, first], YEAR, NAMES)
    assert [(n.kind, n.on) for n in found] == [
        (NoteKind.LEFT, date(YEAR, 3, 1)),
        (NoteKind.JOINED, date(YEAR, 6, 1)),
    ]


# Registrations in the pledge

MARCH = datetime(YEAR, 3, 10, 2, tzinfo=UTC)


def pledge_with(*topics: tuple[str, TopicKind, bool | None]) -> Pledge:
    pledge = Pledge.draft(YEAR, ["Hoàn thành chỉ tiêu"], [])
    for number, (unit, kind, carried_out) in enumerate(topics):
        topic_id = f"t{number}"
        pledge.register_topic(topic_id, unit, kind, "Nội dung", MARCH, date(YEAR, 3, 31))
        if carried_out is not None:
            pledge.mark_topic(topic_id, carried_out, "Ghi nhận")
    return pledge


def kinds(notes: list[Note]) -> list[NoteKind]:
    return [n.kind for n in notes]


def test_no_registration_at_all_is_noted_with_the_deadline() -> None:
    for pledge in (None, pledge_with(("hoan-kiem", TopicKind.TOPIC, None))):
        no_topic, no_model = registration_notes("ba-dinh", pledge, YEAR, RULES)
        assert (no_topic.kind, no_topic.on, no_topic.registered) == (
            NoteKind.NO_TOPIC,
            date(YEAR, 3, 31),
            0,
        )
        assert no_topic.text == (
            "Chưa đăng ký chuyên đề thi đua hoặc mô hình mới nào (hạn đăng ký 31/03/2025)."
        )
        assert (no_model.kind, no_model.registered, no_model.carried_out) == (
            NoteKind.NO_NEW_MODEL,
            0,
            0,
        )
        assert no_model.text == ("Chưa đăng ký mô hình mới: chưa đủ điều kiện đề nghị Cờ thi đua.")


def test_a_topic_without_a_new_model_misses_only_the_flag() -> None:
    pledge = pledge_with(("ba-dinh", TopicKind.TOPIC, True))
    assert kinds(registration_notes("ba-dinh", pledge, YEAR, RULES)) == [NoteKind.NO_NEW_MODEL]


def test_a_new_model_not_carried_out_says_how_many_were_registered() -> None:
    pledge = pledge_with(
        ("ba-dinh", TopicKind.NEW_MODEL, None), ("ba-dinh", TopicKind.NEW_MODEL, False)
    )
    (note,) = registration_notes("ba-dinh", pledge, YEAR, RULES)
    assert (note.kind, note.registered, note.carried_out) == (NoteKind.NO_NEW_MODEL, 2, 0)
    assert note.text == (
        "Đã đăng ký 2 mô hình mới, chưa mô hình nào được ghi nhận đã triển khai thực hiện: "
        "chưa đủ điều kiện đề nghị Cờ thi đua."
    )
    done = pledge_with(("ba-dinh", TopicKind.NEW_MODEL, True))
    assert registration_notes("ba-dinh", done, YEAR, RULES) == []


def test_no_new_model_note_when_the_flag_does_not_require_one() -> None:
    rules = replace(RULES, flag_requires=frozenset({FlagCondition.FIRST, FlagCondition.VOTE_WON}))
    pledge = pledge_with(("ba-dinh", TopicKind.TOPIC, None))
    assert registration_notes("ba-dinh", pledge, YEAR, rules) == []
    assert kinds(registration_notes("ba-dinh", None, YEAR, rules)) == [NoteKind.NO_TOPIC]


def test_the_deadline_comes_from_the_year_rules() -> None:
    rules = YearRules.from_json({"deadlines": {"topic_registration": [4, 15]}})
    (note, _) = registration_notes("ba-dinh", None, YEAR, rules)
    assert note.on == date(YEAR, 4, 15)
    assert "(hạn đăng ký 15/04/2025)" in note.text


# A year's notes, per layer


@dataclass
class Card:
    by_layer: dict[Layer, dict[str, Decimal]] = field(default_factory=dict)
    submitted_at: datetime | None = None

    def points(self, layer: Layer) -> dict[str, Decimal]:
        found: dict[str, Decimal] = {}
        for source in (Layer.SELF, Layer.VERIFIED, Layer.CITY):
            found |= self.by_layer.get(source, {})
            if source is layer:
                return found
        return found

    def flagged(self, criteria: CriteriaSet) -> list[str]:
        return []

    def totals(self, unit: str, layer: Layer, criteria: CriteriaSet) -> UnitTotals:
        return unit_totals(unit, criteria, self.points(layer), self.submitted_at)

    @property
    def entries(self) -> Entries:
        return {
            layer: {code: {"points": value} for code, value in scored.items()}
            for layer, scored in self.by_layer.items()
        }


def test_a_years_notes_combine_membership_registration_and_each_layers_floor() -> None:
    members = [
        Membership("ba-dinh", "Quận Ba Đình", date(YEAR, 1, 1)),
        Membership("hoan-kiem", "Quận Hoàn Kiếm", date(YEAR, 1, 1)),
    ]
    year = ClusterYear.open(YEAR, members, "hoan-kiem", [], RULES)
    year.adopt_criteria(CRITERIA, CRITERIA, "city-2025")
    year.join("tay-ho", "Quận Tây Hồ", date(YEAR, 5, 1))
    pledge = pledge_with(
        ("hoan-kiem", TopicKind.NEW_MODEL, True), ("ba-dinh", TopicKind.TOPIC, None)
    )
    cards = {
        "ba-dinh": Card({Layer.SELF: points(), Layer.VERIFIED: {"A1": Decimal(22)}}),
        "hoan-kiem": Card({Layer.SELF: points(A1="30")}),
        "tay-ho": Card({Layer.SELF: points(F2="5")}),
    }
    day = date(YEAR, 12, 15)
    result = year_result(year, cards, day)
    notes = result_notes(year, pledge, result)

    assert {unit: kinds(list(n)) for unit, n in notes[Layer.SELF].items()} == {
        "ba-dinh": [NoteKind.NO_NEW_MODEL],
        "hoan-kiem": [],
        "tay-ho": [
            NoteKind.JOINED,
            NoteKind.NO_TOPIC,
            NoteKind.NO_NEW_MODEL,
            NoteKind.DEDUCTION_TOO_LARGE,
        ],
    }
    # The verified layer lowered Ba Đình's A1: its floor note is there, and in the city view.
    for layer in (Layer.VERIFIED, Layer.CITY):
        assert kinds(list(notes[layer]["ba-dinh"])) == [
            NoteKind.NO_NEW_MODEL,
            NoteKind.A1_BELOW_SHARE,
        ]
    ranking = result.layers[Layer.VERIFIED].ranking
    floored = {p.unit: p.floor for p in ranking.places}
    assert floored["ba-dinh"] == (Floor.A1_BELOW_SHARE,)


def test_a_note_round_trips_through_json() -> None:
    for note in [
        *notes_for(A1="22", F2="7.5"),
        *membership_notes(
            "ba-dinh",
            [Membership("ba-dinh", "B", date(YEAR, 2, 1), date(YEAR, 9, 1), "hoan-kiem")],
            YEAR,
            NAMES,
        ),
        *registration_notes("ba-dinh", None, YEAR, RULES),
    ]:
        data = note.to_json()
        assert all(isinstance(value, str | int) for value in data.values())
        assert Note.from_json(data) == note
    (a1,) = notes_for(A1="22")
    assert a1.to_json() == {
        "kind": "a1_below_share",
        "text": a1.text,
        "points": "22",
        "maximum": "30",
        "threshold": "24.00",
        "share": "11/15",
        "threshold_share": "4/5",
    }
