"""The rules a cluster-year sets, with DOMAIN.md's defaults, and the pure checks that use them.

Shares are exact fractions and points exact decimals: never floats.
"""

import math
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from thidua.domain.errors import RuleViolation


class VoteBase(StrEnum):
    ALL_MEMBERS = "all_members"
    PRESENT = "present"


@dataclass(frozen=True)
class Deadlines:
    """Month and day; the year comes from the cluster-year (results fall in the next one)."""

    topic_registration: tuple[int, int] = (3, 31)
    self_scores: tuple[int, int] = (12, 10)
    results_to_city: tuple[int, int] = (1, 15)

    def topic_registration_on(self, year: int) -> date:
        return date(year, *self.topic_registration)

    def self_scores_on(self, year: int) -> date:
        return date(year, *self.self_scores)

    def results_to_city_on(self, year: int) -> date:
        return date(year + 1, *self.results_to_city)


@dataclass(frozen=True)
class YearRules:
    """Per cluster-year configuration; the defaults are those of DOMAIN.md."""

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
            "deadlines": {
                "topic_registration": list(self.deadlines.topic_registration),
                "self_scores": list(self.deadlines.self_scores),
                "results_to_city": list(self.deadlines.results_to_city),
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "YearRules":
        """Rules from stored or submitted values; missing ones keep their defaults."""
        rules = cls()
        fractions = (
            "amendment_share",
            "quorum",
            "vote_threshold",
            "certificate_share",
            "floor_a1_share",
        )
        changes: dict[str, Any] = {k: Fraction(data[k]) for k in fractions if k in data}
        changes |= {k: Decimal(data[k]) for k in ("floor_deduction", "score_step") if k in data}
        if "vote_base" in data:
            changes["vote_base"] = VoteBase(data["vote_base"])
        if "flag_quota" in data:
            changes["flag_quota"] = int(data["flag_quota"])
        if "deadlines" in data:
            changes["deadlines"] = Deadlines(**{k: tuple(v) for k, v in data["deadlines"].items()})
        return replace(rules, **changes)


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
