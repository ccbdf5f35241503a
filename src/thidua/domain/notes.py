"""Notes on a unit's standing: what a reader needs to know besides its figures, in words
(Vietnamese) and in figures.

- **Partial year**: the unit joined the cluster after 1 January, leaves (or left and came
  back) before the year ends, perhaps merged into another member; or a member merged
  into it during the year.
- **Registration**: it registered no thematic topic nor new model (each member registers
  at least one); it has no new model carried out, when the year's flag requires one.
- **Floor rule**: each reason it cannot be first, with the figure and the threshold:
  A1's points against the share of A1's maximum, its largest deduction against the
  floor deduction.

Notes are computed from the year, the pledge and the ranking, never stored in events:
the standings read model keeps them beside each row.
"""

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from thidua.domain.criteria import CriteriaSet
from thidua.domain.membership import Membership
from thidua.domain.pledge import Pledge, TopicKind
from thidua.domain.ranking import HUNDREDTH, Floor, UnitTotals, percent
from thidua.domain.rules import FlagCondition, YearRules

NOT_FIRST = "không được xếp thứ nhất, không được đề nghị Cờ thi đua"
NO_FLAG = "chưa đủ điều kiện đề nghị Cờ thi đua"


class NoteKind(StrEnum):
    JOINED = "joined"  # joined the cluster after 1 January
    LEFT = "left"  # leaves before the year ends (merged into `unit`, perhaps)
    MERGED_IN = "merged_in"  # `unit` merged into this one during the year
    NO_TOPIC = "no_topic"  # no thematic topic nor new model registered
    NO_NEW_MODEL = "no_new_model"  # no new model carried out, which the flag requires
    A1_BELOW_SHARE = Floor.A1_BELOW_SHARE.value
    DEDUCTION_TOO_LARGE = Floor.DEDUCTION_TOO_LARGE.value


@dataclass(frozen=True)
class Note:
    """One note: its kind, a sentence, and the figures the sentence quotes (those that
    apply to its kind; the others are None)."""

    kind: NoteKind
    text: str
    on: date | None = None  # joined, left, merged; the registration deadline
    unit: str | None = None  # the other unit of a merger
    points: Decimal | None = None  # A1's points; the largest deduction
    maximum: Decimal | None = None  # A1's maximum
    threshold: Decimal | None = None  # least A1 points reaching the share; the floor deduction
    share: Fraction | None = None  # A1's points over its maximum
    threshold_share: Fraction | None = None  # the share of A1's maximum the year requires
    registered: int | None = None  # topics or new models registered
    carried_out: int | None = None  # new models carried out

    def to_json(self) -> dict[str, Any]:
        """Kind, text and the figures that apply; decimals and shares as exact strings."""
        data: dict[str, Any] = {"kind": self.kind.value, "text": self.text}
        for name in _FIGURES:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, date):
                data[name] = value.isoformat()
            elif isinstance(value, int):
                data[name] = value
            else:
                data[name] = str(value)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Note":
        read: dict[str, Callable[[Any], Any]] = {
            "on": date.fromisoformat,
            "unit": str,
            "points": Decimal,
            "maximum": Decimal,
            "threshold": Decimal,
            "share": Fraction,
            "threshold_share": Fraction,
            "registered": int,
            "carried_out": int,
        }
        figures = {name: read[name](data[name]) for name in _FIGURES if name in data}
        return cls(kind=NoteKind(data["kind"]), text=data["text"], **figures)


_FIGURES = (
    "on",
    "unit",
    "points",
    "maximum",
    "threshold",
    "share",
    "threshold_share",
    "registered",
    "carried_out",
)


def _day(on: date) -> str:
    return f"{on:%d/%m/%Y}"


def _points(value: Decimal) -> str:
    return str(value.quantize(HUNDREDTH))


def _named(unit: str, names: Mapping[str, str]) -> str:
    name = names.get(unit)
    return unit if name is None or name == unit else f"{name} ({unit})"


def membership_notes(
    unit: str, periods: Iterable[Membership], year: int, names: Mapping[str, str]
) -> list[Note]:
    """A unit's partial year, from every period of membership of the cluster (its own,
    and those of units that merged into it), in the order of their days.

    A unit joined after 1 January if a period of it starts after then; it leaves before
    the year ends if one ends by 31 December (`left_on` is its first day outside)."""
    starts, ends = date(year, 1, 1), date(year, 12, 31)
    whole = f"không là thành viên cả năm {year}"
    notes: list[Note] = []
    for period in periods:
        left = period.left_on
        if left is not None and left <= starts:
            continue  # ended before the year began
        ends_in_year = left is not None and left <= ends
        if period.unit == unit:
            if starts < period.joined_on <= ends:
                joined = period.joined_on
                text = f"Gia nhập cụm từ ngày {_day(joined)}: {whole}."
                notes.append(Note(NoteKind.JOINED, text, on=joined))
            if left is not None and ends_in_year:
                into = period.merged_into
                if into is None:
                    text = f"Rời cụm từ ngày {_day(left)}: {whole}."
                else:
                    text = f"Sáp nhập vào {_named(into, names)} từ ngày {_day(left)}: {whole}."
                notes.append(Note(NoteKind.LEFT, text, on=left, unit=into))
        elif left is not None and ends_in_year and period.merged_into == unit:
            text = f"{_named(period.unit, names)} sáp nhập vào đơn vị từ ngày {_day(left)}."
            notes.append(Note(NoteKind.MERGED_IN, text, on=left, unit=period.unit))
    return sorted(notes, key=lambda note: note.on or starts)


def registration_notes(unit: str, pledge: Pledge | None, year: int, rules: YearRules) -> list[Note]:
    """No topic nor new model registered (with the deadline); no new model carried out,
    when the year's flag requires one (with how many were registered)."""
    topics = [] if pledge is None else [t for t in pledge.topics.values() if t["unit"] == unit]
    notes: list[Note] = []
    if not topics:
        deadline = rules.deadlines.topic_registration_on(year)
        text = (
            f"Chưa đăng ký chuyên đề thi đua hoặc mô hình mới nào (hạn đăng ký {_day(deadline)})."
        )
        notes.append(Note(NoteKind.NO_TOPIC, text, on=deadline, registered=0))
    models = [t for t in topics if t["kind"] == TopicKind.NEW_MODEL]
    done = sum(1 for t in models if t["carried_out"])
    if rules.requires(FlagCondition.NEW_MODEL) and not done:
        if models:
            text = (
                f"Đã đăng ký {len(models)} mô hình mới, chưa mô hình nào được ghi nhận đã "
                f"triển khai thực hiện: {NO_FLAG}."
            )
        else:
            text = f"Chưa đăng ký mô hình mới: {NO_FLAG}."
        notes.append(Note(NoteKind.NO_NEW_MODEL, text, registered=len(models), carried_out=0))
    return notes


def floor_notes(
    totals: UnitTotals, floor: Iterable[Floor], criteria: CriteriaSet, rules: YearRules
) -> list[Note]:
    """Each floor reason the ranking found, with its figure and its threshold.

    A1's share is shown rounded down and the required share rounded up, so a share below
    the threshold never reads as reaching it; `threshold` is the least A1 points, in
    hundredths, that reach the share."""
    reasons = tuple(floor)
    if not reasons:
        return []
    a1_max = str(criteria.max_of("A1")) if Floor.A1_BELOW_SHARE in reasons else None
    figures = (str(totals.a1_points), a1_max, str(totals.largest_deduction))
    return list(_floor_notes(reasons, *figures, rules.floor_a1_share, str(rules.floor_deduction)))


@functools.lru_cache(maxsize=4096)
def _floor_notes(
    reasons: tuple[Floor, ...],
    a1_text: str,
    a1_max_text: str | None,
    largest_text: str,
    a1_share: Fraction,
    limit_text: str,
) -> tuple[Note, ...]:
    """`floor_notes` on the figures it reads, asked for every unit after each event with
    the same few figures. Figures come as text: 5 and 5.00 are equal decimals, and a note
    must carry the figure as it was given."""
    a1_points, largest, limit = Decimal(a1_text), Decimal(largest_text), Decimal(limit_text)
    notes: list[Note] = []
    for reason in reasons:
        if reason is Floor.A1_BELOW_SHARE:
            assert a1_max_text is not None
            a1_max = Decimal(a1_max_text)
            needed = a1_share * Fraction(a1_max)
            least = (Decimal(needed.numerator) / Decimal(needed.denominator)).quantize(
                HUNDREDTH, rounding=ROUND_CEILING
            )
            share = Fraction(a1_points) / Fraction(a1_max)
            text = (
                f"Tiêu chí A1 đạt {_points(a1_points)} trên {_points(a1_max)} điểm "
                f"({percent(share, ROUND_DOWN)}), dưới mức "
                f"{percent(a1_share, ROUND_UP)} điểm tối đa "
                f"({_points(least)} điểm): {NOT_FIRST}."
            )
            notes.append(
                Note(
                    NoteKind.A1_BELOW_SHARE,
                    text,
                    points=a1_points,
                    maximum=a1_max,
                    threshold=least,
                    share=share,
                    threshold_share=a1_share,
                )
            )
        else:
            text = (
                f"Có một khoản điểm trừ {_points(largest)} điểm, từ mức {_points(limit)} "
                f"điểm trở lên: {NOT_FIRST}."
            )
            notes.append(Note(NoteKind.DEDUCTION_TOO_LARGE, text, points=largest, threshold=limit))
    return tuple(notes)
