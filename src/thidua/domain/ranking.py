"""A cluster-year's standings: each unit's totals, the floor rule and the tie-break chain
(the year's own, from YearRules).

Pure functions over exact Decimals. The scores handed in are the last validated layer
(self, verified or city-adjusted); choosing that layer, and refusing incomplete or flagged
units, is the caller's business. The rules come from YearRules, never from constants here.
"""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from thidua.domain.criteria import CriteriaSet, Kind
from thidua.domain.errors import InvalidState
from thidua.domain.rules import TieBreak, YearRules

ZERO = Decimal(0)


@dataclass(frozen=True)
class UnitTotals:
    """What ranking needs to know about one unit, computed once from its points.

    `parts` holds each part's raw sum (the bonus part before its cap) so a report can show
    what was scored; `bonus` is the capped value that counts in the total.
    """

    unit: str
    parts: dict[str, Decimal] = field(hash=False)
    base: Decimal
    bonus: Decimal
    deductions: Decimal
    part_a: Decimal
    a1_points: Decimal
    largest_deduction: Decimal
    complete: bool
    submitted_at: datetime | None = None

    @property
    def total(self) -> Decimal:
        """Base plus capped bonus minus deductions: above 100 is possible."""
        return self.base + self.bonus - self.deductions

    def to_json(self) -> dict[str, Any]:
        """Decimals as strings, so no reader turns them into floats; total is informative."""
        return {
            "unit": self.unit,
            "parts": {part: str(points) for part, points in self.parts.items()},
            "base": str(self.base),
            "bonus": str(self.bonus),
            "deductions": str(self.deductions),
            "total": str(self.total),
            "part_a": str(self.part_a),
            "a1_points": str(self.a1_points),
            "largest_deduction": str(self.largest_deduction),
            "complete": self.complete,
            "submitted_at": None if self.submitted_at is None else self.submitted_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "UnitTotals":
        """The stored totals back; `total` is recomputed, never trusted."""
        submitted = data.get("submitted_at")
        return cls(
            unit=data["unit"],
            parts={part: Decimal(points) for part, points in data["parts"].items()},
            base=Decimal(data["base"]),
            bonus=Decimal(data["bonus"]),
            deductions=Decimal(data["deductions"]),
            part_a=Decimal(data["part_a"]),
            a1_points=Decimal(data["a1_points"]),
            largest_deduction=Decimal(data["largest_deduction"]),
            complete=bool(data["complete"]),
            submitted_at=None if submitted is None else datetime.fromisoformat(submitted),
        )


def _points_of(code: str, criteria: CriteriaSet, scored: Mapping[str, Decimal]) -> Decimal:
    """A criterion's points: its own when scored directly, else what its descendants add up to."""
    children = [c.code for c in criteria.criteria if c.parent == code]
    if not children:
        return scored.get(code, ZERO)
    return sum((_points_of(child, criteria, scored) for child in children), ZERO)


def unit_totals(
    unit: str,
    criteria: CriteriaSet,
    points: Mapping[str, Decimal],
    submitted_at: datetime | None = None,
) -> UnitTotals:
    """Totals of one unit's points; codes that are not scorable criteria of the set are ignored.

    Only scorable criteria count, so a parent is never counted twice alongside its children.
    Missing bonus and deduction criteria are 0; a missing base criterion makes it incomplete.
    """
    scorable = criteria.scorable()
    scored = {code: value for code, value in points.items() if code in scorable}
    parts: dict[str, Decimal] = {}
    sums = {kind: ZERO for kind in Kind}
    deductions: list[Decimal] = []
    for code, criterion in sorted(scorable.items()):
        value = scored.get(code, ZERO)
        parts[criterion.part] = parts.get(criterion.part, ZERO) + value
        sums[criterion.kind] += value
        if criterion.kind is Kind.DEDUCTION:
            deductions.append(value)
    complete = all(
        code in scored for code, criterion in scorable.items() if criterion.kind is Kind.BASE
    )
    has_a1 = "A1" in criteria.by_code()
    return UnitTotals(
        unit=unit,
        parts=dict(sorted(parts.items())),
        base=sums[Kind.BASE],
        bonus=min(sums[Kind.BONUS], criteria.bonus_cap),
        deductions=sums[Kind.DEDUCTION],
        part_a=parts.get("A", ZERO),
        a1_points=_points_of("A1", criteria, scored) if has_a1 else ZERO,
        largest_deduction=max(deductions, default=ZERO),
        complete=complete,
        submitted_at=submitted_at,
    )


class Floor(StrEnum):
    """Why a unit cannot be ranked first nor proposed for the flag."""

    A1_BELOW_SHARE = "a1_below_share"
    DEDUCTION_TOO_LARGE = "deduction_too_large"


def floor_reasons(totals: UnitTotals, criteria: CriteriaSet, rules: YearRules) -> tuple[Floor, ...]:
    """The floor rules a unit falls under, in a fixed order; empty when it may be first.

    A1 strictly below the share of its maximum (exactly the share is fine; no A1 in the set,
    no check), or one single deduction of the threshold or more (several small ones do not).
    """
    a1_max = criteria.max_of("A1") if "A1" in criteria.by_code() else None
    share, limit = rules.floor_a1_share, rules.floor_deduction
    return _floors(totals.a1_points, a1_max, share, totals.largest_deduction, limit)


@functools.lru_cache(maxsize=4096)
def _floors(
    a1_points: Decimal,
    a1_max: Decimal | None,
    a1_share: Fraction,
    largest_deduction: Decimal,
    floor_deduction: Decimal,
) -> tuple[Floor, ...]:
    """`floor_reasons` on the figures it reads: standings ask it for every unit after each
    event, with the same few figures (exact arithmetic on fractions is slow in Python)."""
    reasons: list[Floor] = []
    if a1_max is not None and Fraction(a1_points) < a1_share * Fraction(a1_max):
        reasons.append(Floor.A1_BELOW_SHARE)
    if largest_deduction >= floor_deduction:
        reasons.append(Floor.DEDUCTION_TOO_LARGE)
    return tuple(reasons)


HUNDREDTH = Decimal("0.01")


def percent(share: Fraction, rounding: str = ROUND_HALF_EVEN) -> str:
    """A share as a percentage with at most two decimals: 4/5 is "80%", 11/15 "73.33%"."""
    exact = Decimal(share.numerator * 100) / Decimal(share.denominator)
    shown = exact.quantize(HUNDREDTH, rounding=rounding)
    text = str(shown)
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def floor_words(reason: Floor, rules: YearRules) -> str:
    """The floor rule a unit falls under, in words, with the year's threshold."""
    if reason is Floor.A1_BELOW_SHARE:
        return f"điểm tiêu chí A1 dưới {percent(rules.floor_a1_share, ROUND_UP)} điểm tối đa"
    return f"có một khoản điểm trừ từ {rules.floor_deduction} điểm trở lên"


class DecidedBy(StrEnum):
    """The rule that set a unit's place: the total, a step of the year's tie-break chain
    (PART_A, DEDUCTIONS, SUBMISSION, in the order the year's rules apply them), a tie the
    chain leaves, the floor rule, or nobody to compare with."""

    TOTAL = "total"
    PART_A = "part_a"
    DEDUCTIONS = "deductions"
    SUBMISSION = "submission"
    TIED = "tied_vote_required"
    FLOOR = "floor_rule"
    ALONE = "alone"


@dataclass(frozen=True)
class Place:
    """One unit's place in the standings.

    `decided_by`: a unit sharing its rank with another is TIED (the chain could not separate
    them: a vote is required). Otherwise it is the first rule that separates the unit from its
    neighbour just above; for rank 1, from the one just below. FLOOR when the floor rule, not
    the chain, put them in this order (the unit moved up to first, and a floored unit it passed
    by). ALONE when there is nobody to compare with.
    """

    unit: str
    rank: int
    total: Decimal
    decided_by: DecidedBy
    floor: tuple[Floor, ...]
    may_be_first: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "rank": self.rank,
            "total": str(self.total),
            "decided_by": self.decided_by.value,
            "floor": [reason.value for reason in self.floor],
            "may_be_first": self.may_be_first,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Place":
        return cls(
            unit=data["unit"],
            rank=int(data["rank"]),
            total=Decimal(data["total"]),
            decided_by=DecidedBy(data["decided_by"]),
            floor=tuple(Floor(reason) for reason in data["floor"]),
            may_be_first=bool(data["may_be_first"]),
        )


@dataclass(frozen=True)
class Ranking:
    """The standings, best first; `first` is None when the top is tied or nobody may be first."""

    places: tuple[Place, ...]
    first: str | None

    def to_json(self) -> dict[str, Any]:
        return {"places": [place.to_json() for place in self.places], "first": self.first}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Ranking":
        return cls(
            places=tuple(Place.from_json(place) for place in data["places"]),
            first=data.get("first"),
        )


_DECIDED_BY = {
    TieBreak.PART_A: DecidedBy.PART_A,
    TieBreak.FEWER_DEDUCTIONS: DecidedBy.DEDUCTIONS,
    TieBreak.EARLIER_SUBMISSION: DecidedBy.SUBMISSION,
}

ChainKey = tuple[Any, ...]


def _step_key(totals: UnitTotals, step: TieBreak) -> Any:
    """Smaller is better. A unit without a complete submission comes after every unit with one."""
    if step is TieBreak.PART_A:
        return -totals.part_a
    if step is TieBreak.FEWER_DEDUCTIONS:
        return totals.deductions
    return (1,) if totals.submitted_at is None else (0, totals.submitted_at)


def _chain_key(totals: UnitTotals, chain: Sequence[TieBreak]) -> ChainKey:
    """Smaller is better: higher total, then the year's chain (by default higher part A,
    fewer deductions, earlier submission)."""
    return (-totals.total, *(_step_key(totals, step) for step in chain))


def _decider(upper: UnitTotals, lower: UnitTotals, chain: Sequence[TieBreak]) -> DecidedBy:
    """The first rule of the chain that tells two units apart, TIED when none does."""
    if upper.total != lower.total:
        return DecidedBy.TOTAL
    for step in chain:
        if _step_key(upper, step) != _step_key(lower, step):
            return _DECIDED_BY[step]
    return DecidedBy.TIED


def rank(totals: Sequence[UnitTotals], criteria: CriteriaSet, rules: YearRules) -> Ranking:
    """Order units by total and the year's tie-break chain, then let the floor rule decide
    who may stand first.

    If units ahead of (or tied with) the best eligible unit fall under the floor rule, the
    eligible units of that best group move to the top and everyone else keeps the chain's
    order below them. Ranks are competition ranks (1, 1, 3). Input order never matters:
    equal units are listed by unit code.
    """
    units = [t.unit for t in totals]
    if len(set(units)) != len(units):
        raise InvalidState(
            "RANKING_DUPLICATE_UNIT", "Một đơn vị xuất hiện hai lần trong bảng xếp hạng."
        )
    floors = {t.unit: floor_reasons(t, criteria, rules) for t in totals}
    chain = rules.tie_break
    keys = {t.unit: _chain_key(t, chain) for t in totals}
    ordered = sorted(totals, key=lambda t: (keys[t.unit], t.unit))

    eligible = [t for t in ordered if not floors[t.unit]]
    top: list[UnitTotals] = []
    floor_applied = False
    if eligible:
        best = keys[eligible[0].unit]
        top = [t for t in eligible if keys[t.unit] == best]
        floor_applied = any(floors[t.unit] and keys[t.unit] <= best for t in ordered)
    moved = {t.unit for t in top}
    final = top + [t for t in ordered if t.unit not in moved] if floor_applied else ordered

    def same_block(i: int, j: int) -> bool:
        """Floor-moved units and the rest are never tied to each other."""
        return not floor_applied or (i < len(top)) == (j < len(top))

    def tied(i: int, j: int) -> bool:
        return same_block(i, j) and keys[final[i].unit] == keys[final[j].unit]

    places: list[Place] = []
    for i, unit in enumerate(final):
        shares_rank = (i > 0 and tied(i - 1, i)) or (i + 1 < len(final) and tied(i, i + 1))
        rank_number = places[-1].rank if i > 0 and tied(i - 1, i) else i + 1
        decided_by: DecidedBy
        if shares_rank:
            decided_by = DecidedBy.TIED
        elif i == 0 and floor_applied:
            decided_by = DecidedBy.FLOOR
        elif i == 0:
            decided_by = _decider(unit, final[1], chain) if len(final) > 1 else DecidedBy.ALONE
        elif not same_block(i - 1, i) and keys[unit.unit] <= keys[final[i - 1].unit]:
            decided_by = DecidedBy.FLOOR
        else:
            decided_by = _decider(final[i - 1], unit, chain)
        places.append(
            Place(
                unit=unit.unit,
                rank=rank_number,
                total=unit.total,
                decided_by=decided_by,
                floor=floors[unit.unit],
                may_be_first=not floors[unit.unit],
            )
        )

    leaders = [p for p in places if p.rank == 1]
    first = leaders[0].unit if len(leaders) == 1 and leaders[0].may_be_first else None
    return Ranking(places=tuple(places), first=first)
