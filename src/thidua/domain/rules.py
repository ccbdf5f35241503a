"""The rules a cluster-year sets, with docs/domain.md's defaults, and the pure checks that use them.

Shares are exact fractions and points exact decimals: never floats. A `YearRules` checks
itself when it is made, so a value that exists is one every command, ranking and
projection can use; anything else is refused with the code INVALID_RULES and a sentence
naming the rule and what it may be. The ranges:

- `amendment_share`, `certificate_share`, `floor_a1_share`: a share from 0 to 1 (0: no
  amendments, no certificates, no A1 floor; 1: the whole template, every member, A1's max).
- `quorum`: more than 0, at most 1: a meeting of nobody decides nothing.
- `vote_threshold`: from 1/2 to less than 1. A vote passes with strictly more than this
  share of its base, so at least a majority decides, and 1 would let no vote pass.
- `vote_base`: `all_members` or `present`.
- `flag_quota`: a whole number from 0 to 5 (a cluster proposes one flag; a few at most).
- `floor_deduction`: more than 0, at most 100, at most 2 decimals. Every unit's largest
  deduction is at least 0, so 0 would keep every unit from first place.
- `score_step`: more than 0, at most 10, at most 2 decimals (scores are multiples of it).
- `deadlines`: each a [month, day] that exists in every year; 29 February is refused,
  since the same deadline serves every year.
- `tie_break`: the steps that split equal totals, in order, each at most once, drawn from
  `part_a` (higher part A), `fewer_deductions`, `earlier_submission` (an earlier complete
  submission; none comes last); any of them may be left out. A tie the chain leaves is
  always "tied: vote required", so the list may end in `vote_required` and `to_json`
  writes it there; it may appear nowhere else.
- `flag_requires`: what the flag needs besides the floor rule, which always holds: at
  least one of `first` (first place of the finalised ranking), `vote_won` (a ballot on
  the unit passed), `new_model` (a registered new model carried out), each at most once.

Rules recorded before `tie_break` and `flag_requires` existed lack them, and read as
today's defaults (the whole chain; all three conditions).

A share's denominator has at most 100 digits (a share once read from a float has a long
one). Whole numbers are ints, never bools.

`from_json` reads what `to_json` wrote and what a client submits: a JSON object holding
only these keys (and `deadlines` only its three), shares as "2/3", "0.3" or a whole
number, points as "0.25" or a whole number, never floats (they are not exact) nor NaN or
Infinity; a missing key keeps its default. Whatever it cannot read is INVALID_RULES too.
"""

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeGuard

from thidua.domain.errors import RuleViolation

INVALID_RULES = "INVALID_RULES"
MAX_FLAG_QUOTA = 5
MAX_SHARE_DIGITS = 100  # of a share's denominator
MAX_TEXT = 250  # longer text is no number these rules take
CENT = Decimal("0.01")  # points have at most 2 decimals

_RATIO = re.compile(r"-?([0-9]{1,120})/([0-9]{1,120})")
_DECIMAL = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,3})?")


class VoteBase(StrEnum):
    ALL_MEMBERS = "all_members"
    PRESENT = "present"


class TieBreak(StrEnum):
    """A step of the tie-break chain, applied to units with equal totals."""

    PART_A = "part_a"  # higher part A
    FEWER_DEDUCTIONS = "fewer_deductions"  # fewer deduction points
    EARLIER_SUBMISSION = "earlier_submission"  # earlier complete submission; none comes last


VOTE_REQUIRED = "vote_required"  # what follows every chain: the tie goes to the members' vote


class FlagCondition(StrEnum):
    """A condition a unit must meet to be proposed for the flag (the floor rule always holds)."""

    FIRST = "first"  # first place of the finalised ranking, after the floor rule
    VOTE_WON = "vote_won"  # a ballot round on the unit passed
    NEW_MODEL = "new_model"  # a registered new model carried out


def invalid(message: str) -> RuleViolation:
    return RuleViolation(INVALID_RULES, f"Quy định của năm không hợp lệ: {message}")


@dataclass(frozen=True)
class Bounds:
    """Where a number may lie, and how to say it."""

    low: Fraction
    high: Fraction
    above_low: bool = False  # strictly above low
    below_high: bool = False  # strictly below high

    def hold(self, value: Fraction | Decimal | int) -> bool:
        over = value > self.low if self.above_low else value >= self.low
        under = value < self.high if self.below_high else value <= self.high
        return over and under

    def __str__(self) -> str:
        low = f"lớn hơn {self.low}" if self.above_low else f"từ {self.low}"
        if self.above_low:
            high = f"nhỏ hơn {self.high}" if self.below_high else f"không quá {self.high}"
            return f"{low} và {high}"
        return f"{low} đến {'dưới ' if self.below_high else ''}{self.high}"


@dataclass(frozen=True)
class Rule:
    label: str  # what a civil servant calls it
    bounds: Bounds


ZERO_TO_ONE = Bounds(Fraction(0), Fraction(1))
SHARES = {
    "amendment_share": Rule("Tỷ lệ tiêu chí của thành phố cụm được sửa đổi", ZERO_TO_ONE),
    "quorum": Rule(
        "Tỷ lệ thành viên dự họp tối thiểu", Bounds(Fraction(0), Fraction(1), above_low=True)
    ),
    "vote_threshold": Rule(
        "Ngưỡng biểu quyết (số phiếu đồng ý phải vượt tỷ lệ này)",
        Bounds(Fraction(1, 2), Fraction(1), below_high=True),
    ),
    "certificate_share": Rule("Tỷ lệ thành viên được đề nghị tặng Bằng khen", ZERO_TO_ONE),
    "floor_a1_share": Rule(
        "Tỷ lệ điểm tối đa của tiêu chí A1 phải đạt để được xếp thứ nhất", ZERO_TO_ONE
    ),
}
POINTS = {
    "floor_deduction": Rule(
        "Mức điểm trừ (một lần) khiến đơn vị không được xếp thứ nhất",
        Bounds(Fraction(0), Fraction(100), above_low=True),
    ),
    "score_step": Rule("Bước điểm", Bounds(Fraction(0), Fraction(10), above_low=True)),
}
VOTE_BASE = "Cơ sở tính tỷ lệ biểu quyết"
FLAG_QUOTA = "Số Cờ thi đua cụm được đề nghị"
DEADLINES = {
    "topic_registration": "Hạn đăng ký chuyên đề, mô hình mới",
    "self_scores": "Hạn tự chấm điểm",
    "results_to_city": "Hạn gửi kết quả về thành phố",
}


TIE_BREAK = "Chuỗi tiêu chí phân định thứ hạng khi bằng tổng điểm"
FLAG_REQUIRES = "Điều kiện đề nghị Cờ thi đua"


def share_refused(key: str) -> RuleViolation:
    rule = SHARES[key]
    return invalid(
        f"{rule.label} ({key}) phải là một tỷ lệ {rule.bounds}, viết dạng phân số hoặc số "
        f'thập phân ("2/3", "0.3"), mẫu số không quá {MAX_SHARE_DIGITS} chữ số.'
    )


def points_refused(key: str) -> RuleViolation:
    rule = POINTS[key]
    return invalid(
        f"{rule.label} ({key}) phải là một số điểm {rule.bounds}, "
        'tối đa 2 chữ số thập phân ("0.25", "5").'
    )


def vote_base_refused() -> RuleViolation:
    allowed = " hoặc ".join(b.value for b in VoteBase)
    return invalid(f"{VOTE_BASE} (vote_base) phải là {allowed}.")


def flag_quota_refused() -> RuleViolation:
    return invalid(f"{FLAG_QUOTA} (flag_quota) phải là một số nguyên từ 0 đến {MAX_FLAG_QUOTA}.")


def deadline_refused(key: str) -> RuleViolation:
    return invalid(
        f"{DEADLINES[key]} (deadlines.{key}) phải là [tháng, ngày] của một ngày có trong mọi "
        "năm (tháng từ 1 đến 12; không nhận ngày 29/2)."
    )


def tie_break_refused() -> RuleViolation:
    steps = ", ".join(step.value for step in TieBreak)
    return invalid(
        f"{TIE_BREAK} (tie_break) phải là một danh sách các bước khác nhau, theo thứ tự áp "
        f"dụng, lấy từ {steps}; có thể kết thúc bằng {VOTE_REQUIRED} (còn bằng nhau thì bỏ "
        "phiếu), không đặt ở chỗ khác."
    )


def flag_requires_refused() -> RuleViolation:
    conditions = ", ".join(condition.value for condition in FlagCondition)
    return invalid(
        f"{FLAG_REQUIRES} (flag_requires) phải là một danh sách ít nhất một điều kiện, không "
        f"trùng nhau, lấy từ {conditions}."
    )


def _real_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _month_day(value: object) -> bool:
    """A [month, day] that every year has: 29 February is not one."""
    if not isinstance(value, tuple) or len(value) != 2:
        return False
    month, day = value
    if not (_real_int(month) and _real_int(day) and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    try:
        date(2001, month, day)  # not a leap year
    except ValueError:
        return False
    return True


def _share_ok(value: object, rule: Rule) -> bool:
    return (
        isinstance(value, Fraction)
        and value.denominator < 10**MAX_SHARE_DIGITS
        and rule.bounds.hold(value)
    )


def _points_ok(value: object, rule: Rule) -> bool:
    return (
        isinstance(value, Decimal)
        and value.is_finite()
        and rule.bounds.hold(value)
        and value == value.quantize(CENT)  # in bounds: quantizing cannot overflow
    )


def _names(keys: Iterable[str]) -> str:
    return ", ".join(keys)


def _shown(key: object) -> str:
    if not isinstance(key, str):
        return f"<{type(key).__name__}>"
    return repr(key if len(key) <= 40 else key[:40] + "…")


def _only_known(data: object, known: Iterable[str], what: str) -> dict[str, Any]:
    """The JSON object itself, refused when it is not one or holds a key it should not."""
    keys = list(known)
    if not isinstance(data, dict):
        raise invalid(f"{what} phải là một đối tượng JSON với các khóa {_names(keys)}.")
    for key in data:
        if key not in keys:
            raise invalid(f"{what} không có khóa {_shown(key)}; chỉ có {_names(keys)}.")
    return data


@dataclass(frozen=True)
class Deadlines:
    """Month and day; the year comes from the cluster-year (results fall in the next one)."""

    topic_registration: tuple[int, int] = (3, 31)
    self_scores: tuple[int, int] = (12, 10)
    results_to_city: tuple[int, int] = (1, 15)

    def __post_init__(self) -> None:
        for key in DEADLINES:
            if not _month_day(getattr(self, key)):
                raise deadline_refused(key)

    def topic_registration_on(self, year: int) -> date:
        return date(year, *self.topic_registration)

    def self_scores_on(self, year: int) -> date:
        return date(year, *self.self_scores)

    def results_to_city_on(self, year: int) -> date:
        return date(year + 1, *self.results_to_city)

    def to_json(self) -> dict[str, list[int]]:
        return {key: list(getattr(self, key)) for key in DEADLINES}

    @classmethod
    def from_json(cls, data: object) -> "Deadlines":
        """[month, day] pairs; a missing one keeps its default."""
        given = _only_known(data, DEADLINES, "Các hạn (deadlines)")
        changes: dict[str, Any] = {}
        for key, value in given.items():
            if not isinstance(value, list | tuple):
                raise deadline_refused(key)
            changes[key] = tuple(value)
        return cls(**changes)


@dataclass(frozen=True)
class YearRules:
    """Per cluster-year configuration; the defaults are those of docs/domain.md. Checked when
    made (the ranges are in the module's docstring): RuleViolation INVALID_RULES."""

    amendment_share: Fraction = Fraction(30, 100)
    quorum: Fraction = Fraction(2, 3)
    vote_threshold: Fraction = Fraction(1, 2)  # strictly more than this share of the base
    vote_base: VoteBase = VoteBase.ALL_MEMBERS
    flag_quota: int = 1
    certificate_share: Fraction = Fraction(30, 100)  # of current members, rounded down
    floor_a1_share: Fraction = Fraction(80, 100)  # below this share of A1's max: not first
    floor_deduction: Decimal = Decimal(5)  # a single deduction of this or more: not first
    score_step: Decimal = Decimal("0.25")
    deadlines: Deadlines = field(default_factory=Deadlines)
    tie_break: tuple[TieBreak, ...] = tuple(TieBreak)  # then "tied: vote required"
    flag_requires: frozenset[FlagCondition] = frozenset(FlagCondition)

    def __post_init__(self) -> None:
        for key, rule in SHARES.items():
            if not _share_ok(getattr(self, key), rule):
                raise share_refused(key)
        if not isinstance(self.vote_base, VoteBase):
            raise vote_base_refused()
        if not _real_int(self.flag_quota) or not 0 <= self.flag_quota <= MAX_FLAG_QUOTA:
            raise flag_quota_refused()
        for key, rule in POINTS.items():
            if not _points_ok(getattr(self, key), rule):
                raise points_refused(key)
        if not isinstance(self.deadlines, Deadlines):
            raise invalid("các hạn (deadlines) phải là một bộ Deadlines.")
        chain = self.tie_break
        if not (
            isinstance(chain, tuple)
            and all(isinstance(step, TieBreak) for step in chain)
            and len(set(chain)) == len(chain)
        ):
            raise tie_break_refused()
        needs = self.flag_requires
        if not (
            isinstance(needs, frozenset)
            and needs
            and all(isinstance(condition, FlagCondition) for condition in needs)
        ):
            raise flag_requires_refused()

    def requires(self, condition: FlagCondition) -> bool:
        return condition in self.flag_requires

    def to_json(self) -> dict[str, Any]:
        return {
            "amendment_share": str(self.amendment_share),
            "quorum": str(self.quorum),
            "vote_threshold": str(self.vote_threshold),
            "vote_base": self.vote_base.value,
            "flag_quota": self.flag_quota,
            "certificate_share": str(self.certificate_share),
            "floor_a1_share": str(self.floor_a1_share),
            "floor_deduction": str(self.floor_deduction),
            "score_step": str(self.score_step),
            "deadlines": self.deadlines.to_json(),
            "tie_break": [step.value for step in self.tie_break] + [VOTE_REQUIRED],
            "flag_requires": [c.value for c in FlagCondition if c in self.flag_requires],
        }

    @classmethod
    def from_json(cls, data: object) -> "YearRules":
        """Rules from stored or submitted values; missing ones keep their defaults.

        Anything but a JSON object of known keys and readable, in-range values is refused
        with RuleViolation INVALID_RULES, never another exception."""
        given = _only_known(data, READERS, "Quy định của năm (rules)")
        changes = {key: READERS[key](key, value) for key, value in given.items()}
        return replace(cls(), **changes)

    @classmethod
    def from_stored(cls, data: object, before: "YearRules") -> "YearRules":
        """Rules from a recorded event. A value recorded before rules were checked, which
        these checks refuse, could not be used (it stopped scores or the standings), so the
        rules in force before it stay: the year still loads, and can be given rules again."""
        try:
            return cls.from_json(data)
        except RuleViolation:
            return before


def _read_share(key: str, value: object) -> Fraction:
    if _real_int(value):
        return Fraction(value)
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        if ratio := _RATIO.fullmatch(value):
            if int(ratio[2]) == 0:
                raise share_refused(key)
            return Fraction(value)
        if _DECIMAL.fullmatch(value):
            return Fraction(value)
    raise share_refused(key)


def _read_points(key: str, value: object) -> Decimal:
    if _real_int(value):
        return Decimal(value)
    if isinstance(value, str) and len(value) <= MAX_TEXT and _DECIMAL.fullmatch(value):
        return Decimal(value)
    raise points_refused(key)


def _read_vote_base(_: str, value: object) -> VoteBase:
    if isinstance(value, str) and value in {b.value for b in VoteBase}:
        return VoteBase(value)
    raise vote_base_refused()


def _read_flag_quota(_: str, value: object) -> int:
    if _real_int(value):
        return value
    raise flag_quota_refused()


def _read_deadlines(_: str, value: object) -> Deadlines:
    return Deadlines.from_json(value)


def _names_in(value: object, allowed: Iterable[str]) -> list[str] | None:
    """The list's items when each is one of the allowed names, none twice; else None."""
    names = set(allowed)
    if not isinstance(value, list) or len(value) > len(names):
        return None
    if not all(isinstance(item, str) and item in names for item in value):
        return None
    return value if len(set(value)) == len(value) else None


def _read_tie_break(_: str, value: object) -> tuple[TieBreak, ...]:
    steps = _names_in(value, [*(step.value for step in TieBreak), VOTE_REQUIRED])
    if steps is None or VOTE_REQUIRED in steps[:-1]:
        raise tie_break_refused()
    return tuple(TieBreak(step) for step in steps if step != VOTE_REQUIRED)


def _read_flag_requires(_: str, value: object) -> frozenset[FlagCondition]:
    conditions = _names_in(value, (condition.value for condition in FlagCondition))
    if not conditions:
        raise flag_requires_refused()
    return frozenset(FlagCondition(condition) for condition in conditions)


READERS: dict[str, Callable[[str, object], Any]] = {
    **dict.fromkeys(SHARES, _read_share),
    "vote_base": _read_vote_base,
    "flag_quota": _read_flag_quota,
    **dict.fromkeys(POINTS, _read_points),
    "deadlines": _read_deadlines,
    "tie_break": _read_tie_break,
    "flag_requires": _read_flag_requires,
}


def quorum_met(attending: int, members: int, rules: YearRules) -> bool:
    """At least the quorum share of current members attend (4 of 6 meets 2/3; 3 does not)."""
    return members > 0 and Fraction(attending, members) >= rules.quorum


def vote_passed(yes: int, base: int, rules: YearRules) -> bool:
    """Strictly more than the threshold share of the base (3 yes of 6 is not more than 50%)."""
    return base > 0 and Fraction(yes, base) > rules.vote_threshold


def vote_base_size(members: int, present: int, rules: YearRules) -> int:
    return members if rules.vote_base is VoteBase.ALL_MEMBERS else present


def certificate_quota(members: int, rules: YearRules) -> int:
    """The certificate share of current members, rounded down (30% of 10 is 3)."""
    return math.floor(rules.certificate_share * members)


def amendments_allowed(template_size: int, rules: YearRules) -> int:
    """How many of the template's criteria a cluster may change."""
    return math.floor(rules.amendment_share * template_size)


def check_points(value: Decimal, maximum: Decimal | None, rules: YearRules, label: str) -> None:
    """A score is exact, within [0, max] (no max for deductions) and on the step."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise RuleViolation("SCORE_NOT_A_NUMBER", f"Điểm của tiêu chí {label} phải là một số.")
    if value < 0 or (maximum is not None and value > maximum):
        limit = f"từ 0 đến {maximum}" if maximum is not None else "không âm"
        raise RuleViolation(
            "SCORE_OUT_OF_RANGE", f"Điểm {value} của tiêu chí {label} phải {limit}."
        )
    if value % rules.score_step != 0:
        raise RuleViolation(
            "SCORE_STEP",
            f"Điểm {value} của tiêu chí {label} phải là bội số của {rules.score_step}.",
        )
