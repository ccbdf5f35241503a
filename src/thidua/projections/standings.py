"""Standings: each cluster-year's live standings per layer, its frozen results, and the
dated inputs that let any past position's standings be computed again.

Live rows are recomputed with the domain's own `year_result` whenever an event of the
year lands; time travel (`reads.standings_at`) feeds the same function with the year as
it stood and the score entries valid then, so the past equals what was shown.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.days import local_day
from thidua.domain.drafts import Reader, published_result
from thidua.domain.errors import DomainError
from thidua.domain.notes import Note
from thidua.domain.pledge import Pledge
from thidua.domain.ranking import DecidedBy, Floor
from thidua.domain.results import result_notes
from thidua.domain.scorecard import CardView, Layer, Scorecard, ScoredCard
from thidua.projections.facts import Fact, dumps
from thidua.projections.sql import insert_rows
from thidua.projections.temporal import Temporal
from thidua.store.eventstore import Connection

NAME = "standings"


@dataclass(frozen=True)
class Standing:
    """One unit's place in one layer of a cluster-year's standings."""

    year: int
    layer: Layer
    unit: str
    rank: int
    decided_by: DecidedBy
    first: bool
    may_be_first: bool
    floor: tuple[Floor, ...]
    base: Decimal
    bonus: Decimal
    deductions: Decimal
    total: Decimal
    parts: dict[str, Decimal] = field(hash=False)
    complete: bool
    submitted_at: datetime | None
    flagged: tuple[str, ...]
    new_model: bool
    criteria_version: str
    on_day: date
    notes: tuple[Note, ...]  # partial year, registrations, floor reasons with figures

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> "Standing":
        values = dict(row)
        values |= {
            "layer": Layer(row["layer"]),
            "decided_by": DecidedBy(row["decided_by"]),
            "floor": tuple(Floor(reason) for reason in row["floor"]),
            "flagged": tuple(row["flagged"]),
            "parts": {part: Decimal(p) for part, p in json_object(row["parts"]).items()},
            "notes": tuple(Note.from_json(note) for note in json_list(row["notes"])),
        }
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})


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


def compute_standings(
    year: ClusterYear,
    cards: Mapping[str, ScoredCard],
    pledge: Pledge | None,
    day: date,
    reader: Reader | None = None,
) -> list[Standing]:
    """The year's standings on a day, in every layer; none before criteria are in force.
    With a reader, as it may see them (`drafts.published_result`)."""
    members = year.members_on(day)
    every = {unit: cards.get(unit) or CardView({}) for unit in members}
    try:
        result = published_result(year, every, day, reader)
    except DomainError:
        return []
    notes = result_notes(year, pledge, result)
    rows = []
    for layer, standings in result.layers.items():
        totals = standings.totals_by_unit()
        for place in standings.ranking.places:
            unit, t = place.unit, totals[place.unit]
            rows.append(
                Standing(
                    year=year.year,
                    layer=layer,
                    unit=unit,
                    rank=place.rank,
                    decided_by=place.decided_by,
                    first=unit == standings.ranking.first,
                    may_be_first=place.may_be_first,
                    floor=place.floor,
                    base=t.base,
                    bonus=t.bonus,
                    deductions=t.deductions,
                    total=t.total,
                    parts=dict(t.parts),
                    complete=t.complete,
                    submitted_at=t.submitted_at,
                    flagged=result.flagged[unit],
                    new_model=pledge is not None and pledge.new_model_carried_out(unit),
                    criteria_version=result.criteria_version,
                    on_day=day,
                    notes=notes[layer][unit],
                )
            )
    return rows


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
class YearState:
    """A cluster-year's aggregates as the log has built them so far."""

    year: ClusterYear | None = None
    pledge: Pledge | None = None
    cards: dict[str, Scorecard] = field(default_factory=dict)
    day: date | None = None  # of the latest event of the year
    changed: bool = False
    # The standings rows as last written, by (layer, unit); None: not known, rewrite them all.
    written: dict[tuple[Layer, str], tuple[Any, ...]] | None = None


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
        kind = fact.aggregate
        if kind not in ("year", "pledge", "scorecard"):
            return
        number = int(fact.stream_id.split("/")[1])
        state = self.years.setdefault(number, YearState())
        if kind == "year":
            state.year = fact.event.mutate(state.year)
            self._frozen(fact, number)
        elif kind == "pledge":
            state.pledge = fact.event.mutate(state.pledge)
        else:
            unit = fact.stream_id.split("/")[2]
            state.cards[unit] = fact.event.mutate(state.cards.get(unit))
            self._dated(fact, number, unit)
        # Standings are for the latest day anything happened: a fact entered late, about an
        # earlier day, does not move them back in time.
        day = max(local_day(fact.record.occurred_at), state.day or date.min)
        if day != state.day:
            state.day = day
            self.days.set((number,), (day,), fact.position)
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
        """Write the rows that changed: one score moves one unit's total, and a few ranks."""
        rows = []
        if state.year is not None and state.day is not None:
            rows = compute_standings(state.year, state.cards, state.pledge, state.day)
        now = {(r.layer, r.unit): _row(r) for r in rows}
        before = state.written
        if before is None:
            await conn.execute(
                "DELETE FROM standings WHERE tenant_id = $1 AND generation = $2 AND year = $3",
                tenant,
                generation,
                number,
            )
            before = {}
        stale = [key for key, row in before.items() if now.get(key) != row]
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
        fresh = [row for key, row in now.items() if before.get(key) != row]
        await insert_rows(conn, "standings", COLUMNS, fresh, tenant, generation)
        state.written = now
