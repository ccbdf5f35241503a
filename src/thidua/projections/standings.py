"""Standings: each cluster-year's live standings per layer, its frozen results, and the
dated inputs that let any past position's standings be computed again.

Live rows are recomputed with the domain's own `compute_standings` (`domain/standings.py`,
which the offline verifier runs too) whenever an event of the year lands; time travel
(`reads.standings_at`) feeds the same function with the year as it stood and the score
entries valid then, so the past equals what was shown.
"""

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from thidua.domain.notes import Note
from thidua.domain.ranking import DecidedBy, Floor
from thidua.domain.scorecard import Layer
from thidua.domain.standings import Standing, YearInputs, standings_year
from thidua.projections.facts import Fact, dumps
from thidua.projections.sql import insert_rows
from thidua.projections.temporal import Temporal
from thidua.store.eventstore import Connection

NAME = "standings"


def standing_from_record(row: asyncpg.Record) -> Standing:
    """A row of the standings table back as the standing it was written from."""
    values = dict(row)
    values |= {
        "layer": Layer(row["layer"]),
        "decided_by": DecidedBy(row["decided_by"]),
        "floor": tuple(Floor(reason) for reason in row["floor"]),
        "flagged": tuple(row["flagged"]),
        "parts": {part: Decimal(p) for part, p in json_object(row["parts"]).items()},
        "notes": tuple(Note.from_json(note) for note in json_list(row["notes"])),
    }
    return Standing(**{name: values[name] for name in Standing.__dataclass_fields__})


COLUMNS = (
    ("year", "int4"),
    ("layer", "text"),
    ("unit", "text"),
    ("rank", "int4"),
    ("decided_by", "text"),
    ("first", "bool"),
    ("may_be_first", "bool"),
    ("floor", "text[]"),
    ("base", "numeric"),
    ("bonus", "numeric"),
    ("deductions", "numeric"),
    ("total", "numeric"),
    ("parts", "jsonb"),
    ("complete", "bool"),
    ("submitted_at", "timestamptz"),
    ("flagged", "text[]"),
    ("new_model", "bool"),
    ("criteria_version", "text"),
    ("on_day", "date"),
    ("notes", "jsonb"),
)


def json_object(value: str | dict[str, Any]) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


def json_list(value: str | list[Any]) -> list[Any]:
    return json.loads(value) if isinstance(value, str) else value


def _column(standing: Standing, name: str) -> Any:
    """A column's value as the database takes it: JSON text, plain strings for enums."""
    value = getattr(standing, name)
    if name == "parts":
        return dumps(value)
    if name == "notes":
        return dumps([note.to_json() for note in value])
    if name == "floor":
        return tuple(reason.value for reason in value)
    if name in ("layer", "decided_by"):
        return value.value
    return value


def _row(standing: Standing) -> tuple[Any, ...]:
    """The standing in COLUMNS order (astuple would deep-copy every value)."""
    return tuple(_column(standing, name) for name, _ in COLUMNS)


def _same(one: Standing | None, other: Standing | None) -> bool:
    """Equal as the rows would be, without making the rows: 5 and 5.00 are equal numbers
    but not the same figure shown."""
    if one is None or other is None or one != other:
        return one is other
    return _figures(one) == _figures(other)


def _figures(standing: Standing) -> tuple[str, ...]:
    sums = (standing.base, standing.bonus, standing.deductions, standing.total)
    return tuple(map(str, (*sums, *standing.parts.values())))


def score_entries() -> Temporal:
    return Temporal(
        "score_entries",
        keys=(("year", "int4"), ("unit", "text"), ("layer", "text"), ("code", "text")),
        values=(
            ("points", "numeric"),
            ("explanation", "text"),
            ("evidence", "jsonb"),
            ("criterion", "jsonb"),
            ("criteria_version", "text"),
            ("scored_at", "timestamptz"),
        ),
    )


@dataclass
class YearState(YearInputs):
    """A cluster-year's aggregates as the log has built them so far, and what was written."""

    changed: bool = False
    # The standings as last written, by (layer, unit); None: not known, rewrite them all.
    written: dict[tuple[Layer, str], Standing] | None = None


class StandingsProjection:
    name = NAME
    version = 3  # 2: the day is the latest day anything happened; 3: notes on each row
    tables: tuple[str, ...] = (
        "standings",
        "year_results",
        "score_entries",
        "submissions",
        "year_days",
    )

    def new_state(self) -> "StandingsState":
        return StandingsState()


class StandingsState:
    def __init__(self) -> None:
        self.years: dict[int, YearState] = {}
        self.entries = score_entries()
        self.submissions = Temporal(
            "submissions",
            keys=(("year", "int4"), ("unit", "text")),
            values=(("submitted_at", "timestamptz"),),
        )
        self.days = Temporal("year_days", keys=(("year", "int4"),), values=(("on_day", "date"),))
        self.results: list[tuple[Any, ...]] = []

    def apply(self, fact: Fact) -> None:
        number = standings_year(fact.stream_id)
        if number is None:
            return
        state = self.years.setdefault(number, YearState())
        if state.apply(fact.stream_id, fact.event, fact.record.occurred_at):
            self.days.set((number,), (state.day,), fact.position)
        if fact.aggregate == "year":
            self._frozen(fact, number)
        elif fact.aggregate == "scorecard":
            self._dated(fact, number, fact.stream_id.split("/")[2])
        state.changed = True

    def _dated(self, fact: Fact, year: int, unit: str) -> None:
        data, position = fact.data(), fact.position
        if fact.name == "Scored":
            key = (year, unit, data["layer"], data["code"])
            values = (
                data["points"],
                data["explanation"],
                dumps(data["evidence"]),
                dumps(data["criterion"]),
                data["criteria_version"],
                data["at"],
            )
            self.entries.set(key, values, position)
            if data["layer"] == Layer.SELF:
                self.submissions.end((year, unit), position)
        elif fact.name == "SelfAssessmentSubmitted":
            self.submissions.set((year, unit), (data["at"],), position)

    def _frozen(self, fact: Fact, year: int) -> None:
        data = fact.data()
        if fact.name == "MidYearReviewRecorded":
            self.results.append((year, "mid_year", 1, dumps(data["result"]), fact.position))
        elif fact.name == "Finalised":
            result = dumps(data["result"])
            self.results.append((year, "final", data["result_version"], result, fact.position))

    def discard(self) -> None:
        for table in (self.entries, self.submissions, self.days):
            table.discard()
        self.results.clear()
        for state in self.years.values():
            if state.changed:
                # Another instance wrote these years' rows: what this one wrote is no
                # longer what the table holds, so its next write rewrites them all.
                state.written = None
            state.changed = False

    async def flush(
        self, conn: Connection, tenant: str, generation: int, *, final: bool = True
    ) -> None:
        for table in (self.entries, self.submissions, self.days):
            await table.flush(conn, tenant, generation)
        columns = (
            ("year", "int4"),
            ("kind", "text"),
            ("version", "int4"),
            ("result", "jsonb"),
            ("position", "int8"),
        )
        await insert_rows(conn, "year_results", columns, self.results, tenant, generation)
        self.results.clear()
        if not final:
            return  # standings are computed once, when the rows are about to be read
        for number, state in self.years.items():
            if state.changed:
                await self._write_standings(conn, tenant, generation, number, state)
                state.changed = False

    async def _write_standings(
        self, conn: Connection, tenant: str, generation: int, number: int, state: YearState
    ) -> None:
        """Write the rows that changed (one statement: one score moves one unit's total,
        and a few ranks)."""
        now = {(s.layer, s.unit): s for s in state.standings()}
        before = state.written
        if before is None:
            await conn.execute(
                "DELETE FROM standings WHERE tenant_id = $1 AND generation = $2 AND year = $3",
                tenant,
                generation,
                number,
            )
            before = {}
        # Rows of units no longer standing go; changed rows are replaced in place.
        stale = [key for key in before if key not in now]
        if stale:
            await conn.execute(
                "DELETE FROM standings WHERE tenant_id = $1 AND generation = $2 AND year = $3"
                " AND (layer, unit) IN (SELECT * FROM unnest($4::text[], $5::text[]))",
                tenant,
                generation,
                number,
                [layer for layer, _ in stale],
                [unit for _, unit in stale],
            )
        fresh = [_row(s) for key, s in now.items() if not _same(before.get(key), s)]
        key = ("year", "layer", "unit")
        await insert_rows(conn, "standings", COLUMNS, fresh, tenant, generation, replacing=key)
        state.written = now
