"""Scoring criteria: a versioned document of parts, criteria and sub-criteria with maxima.

The city board publishes template versions (CriteriaTemplate, in the city's own log); a
cluster adopts one, copying it into its own log, and may amend part of it.
"""

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from thidua.domain.entity import Entity
from thidua.domain.errors import InvalidState, RuleViolation
from thidua.domain.text import nfc


class Kind(StrEnum):
    BASE = "base"  # parts A to D: within [0, max], summed into the base total
    BONUS = "bonus"  # part E: within [0, max], the part's sum capped by bonus_cap
    DEDUCTION = "deduction"  # part F: points taken off, no cap


@dataclass(frozen=True)
class Criterion:
    code: str  # "A1", "A1.2" for a sub-criterion of A1
    title: str
    part: str  # "A" .. "F"
    max_points: Decimal | None  # None for deductions
    kind: Kind = Kind.BASE
    parent: str | None = None  # a criterion with sub-criteria is scored through them

    def __post_init__(self) -> None:
        # Equal titles must compare equal, however they were typed (re-scoring flags).
        object.__setattr__(self, "title", nfc(self.title))

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "part": self.part,
            "max_points": None if self.max_points is None else str(self.max_points),
            "kind": self.kind.value,
            "parent": self.parent,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Criterion":
        points = data.get("max_points")
        return cls(
            code=data["code"],
            title=nfc(data["title"]),
            part=data["part"],
            max_points=None if points is None else Decimal(points),
            kind=Kind(data.get("kind", "base")),
            parent=data.get("parent"),
        )


@dataclass(frozen=True)
class CriteriaSet:
    """One version of the criteria as a cluster scores against it."""

    version: str
    effective_from: date
    criteria: tuple[Criterion, ...]
    bonus_cap: Decimal

    def __post_init__(self) -> None:
        codes = [c.code for c in self.criteria]
        if len(set(codes)) != len(codes):
            raise RuleViolation("CRITERIA_DUPLICATE", "Mã tiêu chí bị trùng trong bộ tiêu chí.")
        orphans = [c.code for c in self.criteria if c.parent and c.parent not in codes]
        if orphans:
            raise RuleViolation(
                "CRITERIA_UNKNOWN_PARENT",
                "Tiêu chí con không thuộc tiêu chí nào trong bộ: " + ", ".join(orphans) + ".",
            )
        for code, c in self.scorable().items():
            capped = c.kind is not Kind.DEDUCTION
            if capped and (c.max_points is None or c.max_points <= 0):
                raise RuleViolation(
                    "CRITERIA_MAX_REQUIRED", f"Tiêu chí {code} cần có điểm tối đa lớn hơn 0."
                )
            if not capped and c.max_points is not None:
                raise RuleViolation(
                    "CRITERIA_DEDUCTION_UNCAPPED", f"Điểm trừ {code} không có mức tối đa."
                )
        if self.bonus_cap < 0:
            raise RuleViolation("CRITERIA_BONUS_CAP", "Mức tối đa điểm thưởng không được âm.")

    def by_code(self) -> dict[str, Criterion]:
        """Each criterion by its code (worked out once: a set never changes; do not edit)."""
        return self._by_code

    def scorable(self) -> dict[str, Criterion]:
        """The criteria scored directly: those without sub-criteria (worked out once)."""
        return self._scorable

    @functools.cached_property
    def _by_code(self) -> dict[str, Criterion]:
        return {c.code: c for c in self.criteria}

    @functools.cached_property
    def _scorable(self) -> dict[str, Criterion]:
        parents = {c.parent for c in self.criteria if c.parent}
        return {c.code: c for c in self.criteria if c.code not in parents}

    def max_of(self, code: str) -> Decimal:
        """A criterion's maximum; a parent's is what its sub-criteria add up to."""
        if code not in self._maxima:
            raise InvalidState("UNKNOWN_CRITERION", f"Không có tiêu chí {code} trong bộ tiêu chí.")
        return self._maxima[code]

    @functools.cached_property
    def _maxima(self) -> dict[str, Decimal]:
        children: dict[str, list[str]] = {}
        for c in self.criteria:
            if c.parent:
                children.setdefault(c.parent, []).append(c.code)

        def maximum(code: str) -> Decimal:
            if code in children:
                return sum((maximum(child) for child in children[code]), Decimal(0))
            return self.by_code()[code].max_points or Decimal(0)

        return {code: maximum(code) for code in self.by_code()}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "effective_from": self.effective_from.isoformat(),
            "criteria": [c.to_json() for c in self.criteria],
            "bonus_cap": str(self.bonus_cap),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CriteriaSet":
        return cls(
            version=data["version"],
            effective_from=date.fromisoformat(data["effective_from"]),
            criteria=tuple(Criterion.from_json(c) for c in data["criteria"]),
            bonus_cap=Decimal(data["bonus_cap"]),
        )


def changed_codes(before: CriteriaSet, after: CriteriaSet) -> set[str]:
    """Criteria added, removed or changed (title, maximum, kind, part or parent)."""
    old, new = before.by_code(), after.by_code()
    return {code for code in old.keys() | new.keys() if old.get(code) != new.get(code)}


class CriteriaTemplate(Entity):
    """The city board's criteria, published version by version, in the city's log."""

    @staticmethod
    def create_id(name: str) -> str:
        return f"criteria-template/{name}"

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.versions: dict[str, dict[str, Any]] = {}

    def publish(self, criteria: CriteriaSet) -> None:
        if criteria.version in self.versions:
            raise InvalidState(
                "TEMPLATE_VERSION_EXISTS",
                f"Phiên bản tiêu chí {criteria.version} đã được ban hành; hãy dùng phiên bản mới.",
            )
        self._published(criteria=criteria.to_json())

    @event("Published")
    def _published(self, criteria: dict[str, Any]) -> None:
        self.versions[criteria["version"]] = criteria

    def published(self, version: str) -> CriteriaSet:
        if version not in self.versions:
            raise InvalidState(
                "UNKNOWN_TEMPLATE_VERSION", f"Thành phố chưa ban hành phiên bản tiêu chí {version}."
            )
        return CriteriaSet.from_json(self.versions[version])
