"""A cluster-year's standings: one row per unit and layer, computed with the domain's own
result function from the year's aggregates, and the fold that builds those aggregates from
the year's events.

Pure: the standings projection runs it on the log as it grows, and the offline verifier
(`thidua.ledger.recompute`) on a cluster's exported events, so what the server shows and
what an auditor recomputes come from the same code.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.days import local_day
from thidua.domain.drafts import Reader, published_result
from thidua.domain.errors import DomainError
from thidua.domain.notes import Note
from thidua.domain.pledge import Pledge
from thidua.domain.ranking import DecidedBy, Floor
from thidua.domain.results import result_notes
from thidua.domain.scorecard import CardView, Layer, Scorecard, ScoredCard


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


def standing_json(standing: Standing) -> dict[str, Any]:
    """A standing as plain JSON with stable keys: decimals as exact strings, the day ISO,
    the submission an ISO moment in UTC (so a row read back from the database, whatever
    the zone it comes back in, gives the same text)."""
    submitted = standing.submitted_at
    return {
        "year": standing.year,
        "layer": standing.layer.value,
        "unit": standing.unit,
        "rank": standing.rank,
        "decided_by": standing.decided_by.value,
        "first": standing.first,
        "may_be_first": standing.may_be_first,
        "floor": [reason.value for reason in standing.floor],
        "base": str(standing.base),
        "bonus": str(standing.bonus),
        "deductions": str(standing.deductions),
        "total": str(standing.total),
        "parts": {part: str(points) for part, points in standing.parts.items()},
        "complete": standing.complete,
        "submitted_at": None if submitted is None else submitted.astimezone(UTC).isoformat(),
        "flagged": list(standing.flagged),
        "new_model": standing.new_model,
        "criteria_version": standing.criteria_version,
        "on_day": standing.on_day.isoformat(),
        "notes": [note.to_json() for note in standing.notes],
    }


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


# The streams whose events move a year's standings: "year/<Y>", "pledge/<Y>" and
# "scorecard/<Y>/<unit>".
STANDINGS_STREAMS = ("year", "pledge", "scorecard")


def standings_year(stream_id: str) -> int | None:
    """The year whose standings a stream's events move; None for any other stream."""
    kind, _, rest = stream_id.partition("/")
    if kind not in STANDINGS_STREAMS:
        return None
    return int(rest.split("/", 1)[0])


@dataclass
class YearInputs:
    """A cluster-year's aggregates as the log has built them so far, and the day the
    standings are for: the latest day any of the year's events happened."""

    year: ClusterYear | None = None
    pledge: Pledge | None = None
    cards: dict[str, Scorecard] = field(default_factory=dict)
    day: date | None = None  # of the latest event of the year

    def apply(self, stream_id: str, event: Any, occurred_at: datetime) -> bool:
        """Fold one decoded event of one of the year's streams (`standings_year`) into its
        aggregate. True when the standings' day moved: a fact entered late, about an
        earlier day, does not move them back in time."""
        kind = stream_id.split("/", 1)[0]
        if kind == "year":
            self.year = event.mutate(self.year)
        elif kind == "pledge":
            self.pledge = event.mutate(self.pledge)
        else:
            unit = stream_id.split("/")[2]
            self.cards[unit] = event.mutate(self.cards.get(unit))
        day = max(local_day(occurred_at), self.day or date.min)
        moved = day != self.day
        self.day = day
        return moved

    def standings(self) -> list[Standing]:
        """The standings on the year's day, as the live read model holds them."""
        if self.year is None or self.day is None:
            return []
        return compute_standings(self.year, self.cards, self.pledge, self.day)
