"""A member unit's scorecard for a year: every criterion in three layers, each kept.

Self scores come from the unit, verified scores from its cross-inspector or the
secretariat, city adjustments from the city board. Ranking uses the last layer present
for each criterion. Each entry keeps the criterion it was scored against, so a change of
criteria flags it for re-scoring instead of rescaling it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from eventsourcing.domain import event

from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.entity import Entity
from thidua.domain.errors import InvalidState, RuleViolation
from thidua.domain.rules import YearRules, check_points
from thidua.domain.text import nfc


class Layer(StrEnum):
    SELF = "self"  # tự chấm điểm
    VERIFIED = "verified"  # cụm chấm (kiểm tra chéo, cơ quan thường trực)
    CITY = "city"  # Ban Thi đua - Khen thưởng thành phố điều chỉnh


# Which layers stand behind a layer's view: the verified view falls back to self scores.
FALLBACK = {
    Layer.SELF: (Layer.SELF,),
    Layer.VERIFIED: (Layer.VERIFIED, Layer.SELF),
    Layer.CITY: (Layer.CITY, Layer.VERIFIED, Layer.SELF),
}


Entries = Mapping[Layer, Mapping[str, Mapping[str, Any]]]  # layer -> code -> entry


def layered_points(entries: Entries, layer: Layer) -> dict[str, Decimal]:
    """The points a layer's view counts: its own, else the layers behind it."""
    merged: dict[str, Decimal] = {}
    for source in reversed(FALLBACK[layer]):
        merged |= {code: e["points"] for code, e in entries.get(source, {}).items()}
    return merged


def flagged_codes(entries: Entries, criteria: CriteriaSet) -> list[str]:
    """Criteria scored against a definition the current version changed or removed."""
    current = criteria.scorable()
    codes = {
        code
        for by_code in entries.values()
        for code, entry in by_code.items()
        if code not in current or Criterion.from_json(entry["criterion"]) != current[code]
    }
    return sorted(codes)


class ScoredCard(Protocol):
    """What standings read from a scorecard: the aggregate, or its projected rows."""

    @property
    def entries(self) -> Entries: ...

    @property
    def submitted_at(self) -> datetime | None: ...

    def points(self, layer: Layer) -> dict[str, Decimal]: ...

    def flagged(self, criteria: CriteriaSet) -> list[str]: ...


@dataclass(frozen=True)
class CardView:
    """A scorecard's entries and submission as they stood at some position."""

    entries: Entries
    submitted_at: datetime | None = None

    def points(self, layer: Layer) -> dict[str, Decimal]:
        return layered_points(self.entries, layer)

    def flagged(self, criteria: CriteriaSet) -> list[str]:
        return flagged_codes(self.entries, criteria)


class Scorecard(Entity):
    @staticmethod
    def create_id(year: int, unit: str) -> str:
        return f"scorecard/{year}/{unit}"

    @event("Opened")
    def __init__(self, year: int, unit: str) -> None:
        self.year = year
        self.unit = unit
        self.entries: dict[Layer, dict[str, dict[str, Any]]] = {layer: {} for layer in Layer}
        self.answers: dict[str, str] = {}
        self.submitted_at: datetime | None = None

    def score(
        self,
        layer: Layer,
        criteria: CriteriaSet,
        code: str,
        points: Decimal,
        explanation: str,
        evidence: list[str],
        at: datetime,
        rules: YearRules,
    ) -> None:
        criterion = criteria.scorable().get(code)
        if criterion is None:
            raise RuleViolation(
                "UNKNOWN_CRITERION",
                f"Tiêu chí {code} không có trong bộ tiêu chí {criteria.version} "
                "hoặc phải chấm qua các tiêu chí con.",
            )
        maximum = None if criterion.kind is Kind.DEDUCTION else criterion.max_points
        check_points(points, maximum, rules, code)
        if not explanation.strip():
            raise RuleViolation(
                "EXPLANATION_REQUIRED", f"Điểm tiêu chí {code} cần có giải trình hoặc lý do."
            )
        if layer is Layer.SELF and not [e for e in evidence if e.strip()]:
            raise RuleViolation(
                "EVIDENCE_REQUIRED", f"Điểm tự chấm tiêu chí {code} cần có tài liệu minh chứng."
            )
        self._scored(
            layer=layer.value,
            code=code,
            points=points,
            explanation=nfc(explanation),
            evidence=[nfc(e) for e in evidence],
            criterion=criterion.to_json(),
            criteria_version=criteria.version,
            at=at,
        )

    @event("Scored")
    def _scored(
        self,
        layer: str,
        code: str,
        points: Decimal,
        explanation: str,
        evidence: list[str],
        criterion: dict[str, Any],
        criteria_version: str,
        at: datetime,
    ) -> None:
        self.entries[Layer(layer)][code] = {
            "points": points,
            "explanation": explanation,
            "evidence": evidence,
            "criterion": criterion,
            "criteria_version": criteria_version,
            "at": at,
        }
        if layer == Layer.SELF:
            self.submitted_at = None  # a changed self-assessment must be submitted again

    def answer(self, code: str, text: str) -> None:
        """The unit's answer to an inspection finding on one criterion."""
        if code not in self.entries[Layer.VERIFIED]:
            raise InvalidState(
                "NO_FINDING", f"Chưa có kết quả kiểm tra đối với tiêu chí {code} để trả lời."
            )
        if not text.strip():
            raise RuleViolation("ANSWER_REQUIRED", "Nội dung trả lời không được để trống.")
        self._answered(code=code, text=nfc(text))

    @event("FindingAnswered")
    def _answered(self, code: str, text: str) -> None:
        self.answers[code] = text

    def submit(self, criteria: CriteriaSet, at: datetime) -> None:
        """The head signs the self-assessment: complete and with nothing left to re-score."""
        missing = self.missing(criteria)
        if missing:
            raise RuleViolation(
                "SELF_ASSESSMENT_INCOMPLETE",
                "Bản tự chấm điểm chưa đủ các tiêu chí: " + ", ".join(missing) + ".",
            )
        flagged = self.flagged(criteria)
        if flagged:
            raise RuleViolation(
                "CRITERIA_FLAGGED",
                "Các tiêu chí sau phải chấm lại theo bộ tiêu chí mới: " + ", ".join(flagged) + ".",
            )
        self._submitted(at=at)

    @event("SelfAssessmentSubmitted")
    def _submitted(self, at: datetime) -> None:
        self.submitted_at = at

    def missing(self, criteria: CriteriaSet) -> list[str]:
        """Scorable base criteria without a self score (bonus and deductions may be absent)."""
        scored = self.entries[Layer.SELF]
        return [
            code
            for code, c in criteria.scorable().items()
            if c.kind is Kind.BASE and code not in scored
        ]

    def flagged(self, criteria: CriteriaSet) -> list[str]:
        return flagged_codes(self.entries, criteria)

    def points(self, layer: Layer) -> dict[str, Decimal]:
        return layered_points(self.entries, layer)
