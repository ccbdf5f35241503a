"""A member unit's scorecard for a year: every criterion in three layers, each kept.

Self scores come from the unit, verified scores from its cross-inspector or the
secretariat, city adjustments from the city board. Ranking uses the last layer present
for each criterion. Each entry keeps the criterion it was scored against, so a change of
criteria flags it for re-scoring instead of rescaling it.

A verified entry is an inspection finding. The unit may answer it with an explanation
(giải trình); the secretariat accepts the explanation, setting the verified score, or
rejects it, always with a reason. A decided explanation is final: the unit answers again
only a new finding (a verified score recorded after the decision).
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from eventsourcing.domain import event

from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.entity import KEPT, Entity
from thidua.domain.errors import InvalidState, RuleViolation
from thidua.domain.ranking import UnitTotals, unit_totals
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


class Outcome(StrEnum):
    """Where a unit's explanation stands."""

    PENDING = "pending"  # answered, waiting for the secretariat
    ACCEPTED = "accepted"  # chấp nhận: the verified score was set accordingly
    REJECTED = "rejected"  # không chấp nhận: the finding stands


@dataclass(frozen=True)
class Dispute:
    """A unit's explanation of one finding, and what the secretariat decided on it."""

    criterion: str
    finding: str  # the verified entry's explanation the unit answered
    finding_points: Decimal
    answer: str
    outcome: Outcome = Outcome.PENDING
    reason: str | None = None
    points: Decimal | None = None  # the verified score an acceptance set
    decided_at: datetime | None = None
    settled: int = 0  # the number of findings on the criterion when it was decided


@dataclass(frozen=True)
class Finding:
    """A criterion's verified entry as it stands, and the unit's latest explanation."""

    criterion: str
    points: Decimal
    explanation: str
    at: datetime
    dispute: Dispute | None


class ScoredCard(Protocol):
    """What standings read from a scorecard: the aggregate, or its projected rows."""

    @property
    def entries(self) -> Entries: ...

    @property
    def submitted_at(self) -> datetime | None: ...

    def points(self, layer: Layer) -> dict[str, Decimal]: ...

    def flagged(self, criteria: CriteriaSet) -> list[str]: ...

    def totals(self, unit: str, layer: Layer, criteria: CriteriaSet) -> UnitTotals: ...


@dataclass(frozen=True)
class CardView:
    """A scorecard's entries and submission as they stood at some position."""

    entries: Entries
    submitted_at: datetime | None = None

    def points(self, layer: Layer) -> dict[str, Decimal]:
        return layered_points(self.entries, layer)

    def flagged(self, criteria: CriteriaSet) -> list[str]:
        return flagged_codes(self.entries, criteria)

    def totals(self, unit: str, layer: Layer, criteria: CriteriaSet) -> UnitTotals:
        return unit_totals(unit, criteria, self.points(layer), self.submitted_at)


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
        self.disputes: dict[str, Dispute] = {}
        self.findings_made: dict[str, int] = {}  # verified entries recorded, per criterion
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
        if layer == Layer.VERIFIED:
            self.findings_made[code] = self.findings_made.get(code, 0) + 1

    def answer(self, code: str, text: str) -> None:
        """The unit's answer to an inspection finding on one criterion: an explanation
        waiting for the secretariat replaces the one before it; a decided one is final
        until a new finding is recorded."""
        if code not in self.entries[Layer.VERIFIED]:
            raise InvalidState(
                "NO_FINDING", f"Chưa có kết quả kiểm tra đối với tiêu chí {code} để trả lời."
            )
        if not text.strip():
            raise RuleViolation("ANSWER_REQUIRED", "Nội dung trả lời không được để trống.")
        dispute = self.disputes.get(code)
        if (
            dispute is not None
            and dispute.outcome is not Outcome.PENDING
            and self.findings_made.get(code, 0) <= dispute.settled
        ):
            raise InvalidState(
                "EXPLANATION_DECIDED",
                f"Giải trình của đơn vị về tiêu chí {code} đã được cơ quan thường trực "
                f"{_DECIDED[dispute.outcome]}; chỉ trả lời lại khi có kết quả kiểm tra mới.",
            )
        self._answered(code=code, text=nfc(text))

    @event("FindingAnswered")
    def _answered(self, code: str, text: str) -> None:
        self.answers[code] = text
        verified = self.entries[Layer.VERIFIED].get(code)
        if verified is not None:  # always, since answering needs a finding
            self.disputes[code] = Dispute(
                criterion=code,
                finding=verified["explanation"],
                finding_points=verified["points"],
                answer=text,
            )

    def pending(self, code: str) -> Dispute:
        """The explanation on this criterion that waits for a decision."""
        dispute = self.disputes.get(code)
        if dispute is None:
            raise InvalidState(
                "NO_EXPLANATION",
                f"Đơn vị {self.unit} chưa giải trình về kết quả kiểm tra tiêu chí {code}.",
            )
        if dispute.outcome is not Outcome.PENDING:
            raise InvalidState(
                "EXPLANATION_DECIDED",
                f"Giải trình của đơn vị {self.unit} về tiêu chí {code} đã được "
                f"{_DECIDED[dispute.outcome]}.",
            )
        return dispute

    def accept_explanation(
        self,
        criteria: CriteriaSet,
        code: str,
        points: Decimal,
        reason: str,
        at: datetime,
        rules: YearRules,
    ) -> None:
        """The secretariat accepts the unit's explanation: the verified score is set to
        these points (a verified entry, as any verification), and the decision recorded."""
        dispute = self.pending(code)
        _check_reason(reason, code)
        self.score(
            Layer.VERIFIED,
            criteria,
            code,
            points,
            f"Chấp nhận giải trình của đơn vị: {nfc(reason)}",
            [],
            at,
            rules,
        )
        self._accepted(code=code, answer=dispute.answer, points=points, reason=nfc(reason), at=at)

    @event("ExplanationAccepted")
    def _accepted(self, code: str, answer: str, points: Decimal, reason: str, at: datetime) -> None:
        self.disputes[code] = replace(
            self.disputes[code],
            outcome=Outcome.ACCEPTED,
            reason=reason,
            points=points,
            decided_at=at,
            settled=self.findings_made.get(code, 0),
        )

    def reject_explanation(self, code: str, reason: str, at: datetime) -> None:
        """The secretariat rejects the unit's explanation: the finding stands."""
        dispute = self.pending(code)
        _check_reason(reason, code)
        self._rejected(code=code, answer=dispute.answer, reason=nfc(reason), at=at)

    @event("ExplanationRejected")
    def _rejected(self, code: str, answer: str, reason: str, at: datetime) -> None:
        self.disputes[code] = replace(
            self.disputes[code],
            outcome=Outcome.REJECTED,
            reason=reason,
            decided_at=at,
            settled=self.findings_made.get(code, 0),
        )

    def findings(self) -> list[Finding]:
        """Every criterion with a verified entry, by code, with the unit's explanation."""
        return [
            Finding(
                criterion=code,
                points=entry["points"],
                explanation=entry["explanation"],
                at=entry["at"],
                dispute=self.disputes.get(code),
            )
            for code, entry in sorted(self.entries[Layer.VERIFIED].items())
        ]

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

    # Standings ask every card of the year after each event, and all but one are unchanged:
    # each card keeps what it last answered, for its version (entries change only by events).

    def flagged(self, criteria: CriteriaSet) -> list[str]:
        kept = self.__dict__.get(KEPT + "flagged")
        if kept is None or kept[0] != self.version or kept[1] is not criteria:
            kept = (self.version, criteria, flagged_codes(self.entries, criteria))
            self.__dict__[KEPT + "flagged"] = kept
        return list(kept[2])

    def points(self, layer: Layer) -> dict[str, Decimal]:
        kept: tuple[int, dict[Layer, dict[str, Decimal]]] | None = self.__dict__.get(
            KEPT + "points"
        )
        if kept is None or kept[0] != self.version:
            kept = (self.version, {})
            self.__dict__[KEPT + "points"] = kept
        if layer not in kept[1]:
            kept[1][layer] = layered_points(self.entries, layer)
        return dict(kept[1][layer])

    def totals(self, unit: str, layer: Layer, criteria: CriteriaSet) -> UnitTotals:
        kept = self.__dict__.get(KEPT + "totals")
        if kept is None or kept[0] != self.version or kept[1] is not criteria:
            kept = (self.version, criteria, {})
            self.__dict__[KEPT + "totals"] = kept
        found: dict[tuple[str, Layer], UnitTotals] = kept[2]
        if (unit, layer) not in found:
            found[unit, layer] = unit_totals(unit, criteria, self.points(layer), self.submitted_at)
        return found[unit, layer]


_DECIDED = {Outcome.ACCEPTED: "chấp nhận", Outcome.REJECTED: "không chấp nhận"}


def _check_reason(reason: str, code: str) -> None:
    if not reason.strip():
        raise RuleViolation(
            "REASON_REQUIRED",
            f"Chấp nhận hay không chấp nhận giải trình về tiêu chí {code} đều phải nêu lý do.",
        )
