"""Audit history: every event of a cluster's log as a change an auditor can read.

Each event changes one `item` (a unit's score on a criterion in a layer, a membership,
the criteria in force...): its row holds the item's value before and after, who did it,
in which role, why, when and at which position. A refused attempt is a row too.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from thidua.domain.criteria import CriteriaSet, changed_codes
from thidua.projections.facts import Fact, dumps
from thidua.projections.sql import insert_rows
from thidua.store.eventstore import Connection

COLUMNS = (
    ("position", "int8"),
    ("stream_id", "text"),
    ("event_type", "text"),
    ("subject", "text"),
    ("item", "text"),
    ("year", "int4"),
    ("unit", "text"),
    ("criteria", "text[]"),
    ("before", "jsonb"),
    ("after", "jsonb"),
    ("actor", "text"),
    ("role", "text"),
    ("reason", "text"),
    ("recorded_at", "timestamptz"),
    ("occurred_at", "timestamptz"),
    ("correlation_id", "text"),
    ("causation_id", "text"),
    ("request_id", "text"),
    ("command", "text"),
    ("acting_unit", "text"),
)


@dataclass(frozen=True)
class Change:
    subject: str
    item: str
    year: int | None = None
    unit: str | None = None
    criteria: tuple[str, ...] = ()
    also: dict[str, Any] = field(default_factory=dict)  # other items the event sets


def _year_of(stream_id: str) -> int | None:
    parts = stream_id.split("/")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def describe(fact: Fact, last: dict[str, str]) -> Change:
    """What the event changed. `last` holds each item's latest value, as JSON."""
    data, name, year = fact.data(), fact.name, _year_of(fact.stream_id)
    kind = fact.aggregate
    if kind == "scorecard":
        unit = fact.stream_id.split("/")[2]
        if name == "Scored":
            item = f"score/{year}/{unit}/{data['layer']}/{data['code']}"
            return Change("score", item, year, unit, (data["code"],))
        if name in ("FindingAnswered", "ExplanationAccepted", "ExplanationRejected"):
            # One item per finding: a decision's `before` is the explanation it decided.
            item = f"finding/{year}/{unit}/{data['code']}"
            return Change("finding", item, year, unit, (data["code"],))
        if name == "SelfAssessmentSubmitted":
            return Change("submission", f"submission/{year}/{unit}", year, unit)
        return Change("scorecard", fact.stream_id, year, unit)
    if kind == "year":
        return _year_change(name, data, year, last)
    if kind == "pledge":
        if name == "Signed":
            return Change("pledge", f"signature/{year}/{data['unit']}", year, data["unit"])
        if name in ("TopicRegistered", "TopicMarked"):
            topic = data["topic_id"]
            unit = data.get("unit") or _json_field(last.get(f"topic/{year}/{topic}"), "unit")
            return Change("topic", f"topic/{year}/{topic}", year, unit)
        return Change("pledge", f"pledge/{year}", year)
    if kind == "refused":
        target = data["target"]
        # The criteria a refused command named: one, a form's several, or (older) "code".
        named = target.get("criterion") or target.get("criteria") or target.get("code") or ""
        target_year = target.get("year")
        return Change(
            "refusal",
            fact.stream_id,
            int(target_year) if target_year and target_year.isdigit() else None,
            target.get("unit"),
            tuple(c for c in named.split(",") if c),
        )
    if kind == "criteria-template":
        return Change("template", fact.stream_id)
    return Change("other", fact.stream_id, year)


def _year_change(name: str, data: dict[str, Any], year: int | None, last: dict[str, str]) -> Change:
    if name == "Opened":
        leadership = {"leader": data["leader"], "deputies": data["deputies"]}
        also = {f"leadership/{year}": leadership, f"rules/{year}": data["rules"]}
        also |= {f"membership/{year}/{m['unit']}": {"membership": m} for m in data["members"]}
        return Change("year", f"year/{year}", year, also=also)
    if name in ("MemberJoined", "MemberLeft"):
        unit = data["membership"]["unit"]
        return Change("membership", f"membership/{year}/{unit}", year, unit)
    if name == "LeadershipRotated":
        return Change("leadership", f"leadership/{year}", year)
    if name == "RulesSet":
        return Change("rules", f"rules/{year}", year)
    if name == "CriteriaAdopted":
        item = f"criteria/{year}"
        before = last.get(item)
        adopted = CriteriaSet.from_json(data["criteria"])
        if before is None:
            codes = data["amended"]
        else:
            previous = CriteriaSet.from_json(_json_field(before, "criteria"))
            codes = sorted(changed_codes(previous, adopted))
        return Change("criteria", item, year, criteria=tuple(codes))
    if name == "InspectionAssigned":
        return Change("inspection", f"inspection/{year}/{data['inspection_id']}", year)
    if name in ("MeetingConvened", "AttendanceRecorded"):
        return Change("meeting", f"meeting/{year}/{data['meeting_id']}/{name}", year)
    if name in ("BallotOpened", "BallotTallied"):
        return Change("ballot", f"ballot/{year}/{data['meeting_id']}", year)
    if name == "MidYearReviewRecorded":
        return Change("result", f"mid-year/{year}", year)
    if name in ("Finalised", "Reopened"):
        return Change("result", f"result/{year}", year)
    if name == "Proposed":
        return Change("proposal", f"proposal/{year}/{data['proposal']['proposal_id']}", year)
    if name == "ProposalDecided":  # `before` is the proposal as proposed
        return Change("proposal", f"proposal/{year}/{data['proposal_id']}", year)
    if name == "ResultsSent":
        return Change("sending", f"sending/{year}", year)
    return Change("year", f"year/{year}/{name}", year)


def _json_field(text: str | None, key: str) -> Any:
    return None if text is None else json.loads(text).get(key)


class AuditProjection:
    name = "audit_history"
    version = 3  # 2: a refusal carries its criteria; 3: the command and the acting unit
    tables: tuple[str, ...] = ("audit_history",)

    def new_state(self) -> "AuditState":
        return AuditState()


class AuditState:
    def __init__(self) -> None:
        self.last: dict[str, str] = {}  # item -> its latest value, as JSON
        self.rows: list[tuple[Any, ...]] = []

    def apply(self, fact: Fact) -> None:
        change = describe(fact, self.last)
        after = dumps(fact.data())
        before = self.last.get(change.item)
        self.last[change.item] = after
        for item, value in change.also.items():
            self.last[item] = dumps(value)
        record, meta = fact.record, fact.record.metadata_json
        self.rows.append(
            (
                record.position,
                record.stream_id,
                fact.name,
                change.subject,
                change.item,
                change.year,
                change.unit,
                change.criteria,
                before,
                after,
                meta["actor"],
                meta["role"],
                meta.get("reason"),
                record.recorded_at,
                record.occurred_at,
                meta["correlation_id"],
                meta.get("causation_id"),
                meta.get("request_id"),
                meta.get("command"),
                meta.get("unit"),
            )
        )

    def discard(self) -> None:
        self.rows.clear()

    async def flush(
        self, conn: Connection, tenant: str, generation: int, *, final: bool = True
    ) -> None:
        await insert_rows(conn, "audit_history", COLUMNS, self.rows, tenant, generation)
        self.rows.clear()
