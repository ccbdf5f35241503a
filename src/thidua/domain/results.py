"""A cluster-year's result on a day: every unit's totals and ranking in each layer.

The same function gives the live standings, the frozen mid-year review and the result a
finalisation locks, so what was shown is what gets recorded.

A result is a typed value (`YearResult`) everywhere inside the application; it becomes
JSON only where it leaves it: in the payloads of the events that record it, and in the
rows of the read models. `to_json` writes exactly the shape those payloads have always
held (key order included), so recorded logs and their hash chains keep loading.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from thidua.domain.notes import Note, floor_notes, membership_notes, registration_notes
from thidua.domain.pledge import Pledge
from thidua.domain.ranking import Ranking, UnitTotals, rank, unit_totals
from thidua.domain.scorecard import Layer, ScoredCard

if TYPE_CHECKING:  # the aggregate records results, so it imports this module
    from thidua.domain.cluster_year import ClusterYear


@dataclass(frozen=True)
class LayerResult:
    """One layer's standings: every member's totals (by unit code) and their ranking."""

    totals: tuple[UnitTotals, ...]
    ranking: Ranking

    def totals_by_unit(self) -> dict[str, UnitTotals]:
        return {t.unit: t for t in self.totals}

    def to_json(self) -> dict[str, Any]:
        return {"totals": [t.to_json() for t in self.totals], "ranking": self.ranking.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "LayerResult":
        return cls(
            totals=tuple(UnitTotals.from_json(t) for t in data["totals"]),
            ranking=Ranking.from_json(data["ranking"]),
        )


@dataclass(frozen=True)
class YearResult:
    """The standings of a cluster-year on a day, in every layer, against one criteria version.

    `flagged` holds, for every member, the criteria it must score again (often none).
    """

    on: date
    criteria_version: str
    layers: Mapping[Layer, LayerResult] = field(hash=False)
    flagged: Mapping[str, tuple[str, ...]] = field(hash=False)

    def to_json(self) -> dict[str, Any]:
        """The stored form: dates ISO, decimals as strings, layers by their value."""
        return {
            "on": self.on.isoformat(),
            "criteria_version": self.criteria_version,
            "layers": {layer.value: found.to_json() for layer, found in self.layers.items()},
            "flagged": {unit: list(codes) for unit, codes in self.flagged.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "YearResult":
        return cls(
            on=date.fromisoformat(data["on"]),
            criteria_version=data["criteria_version"],
            layers={Layer(k): LayerResult.from_json(v) for k, v in data["layers"].items()},
            flagged={unit: tuple(codes) for unit, codes in data["flagged"].items()},
        )


def year_result(year: "ClusterYear", cards: Mapping[str, ScoredCard], on: date) -> YearResult:
    """Standings of the current members on this day, against the criteria in force then.

    `cards` holds a scorecard for every member, an empty one for a unit yet to score."""
    criteria = year.criteria_on(on)
    members = sorted(year.members_on(on))
    layers = {}
    for layer in Layer:
        totals = tuple(
            unit_totals(unit, criteria, cards[unit].points(layer), cards[unit].submitted_at)
            for unit in members
        )
        layers[layer] = LayerResult(totals=totals, ranking=rank(totals, criteria, year.rules))
    return YearResult(
        on=on,
        criteria_version=criteria.version,
        layers=layers,
        flagged={u: tuple(cards[u].flagged(criteria)) for u in members},
    )


def result_notes(
    year: "ClusterYear", pledge: Pledge | None, result: YearResult
) -> dict[Layer, dict[str, tuple[Note, ...]]]:
    """The notes on each unit's standing in each layer of a result the year computed on its
    day: its partial year and its registrations (the same in every layer), then each floor
    reason of its place in that layer, with the figures."""
    criteria = year.criteria_on(result.on)
    periods = [*year.past_memberships, *year.members.values()]
    names = {m.unit: m.name for m in periods}
    units = {t.unit for found in result.layers.values() for t in found.totals}
    common = {
        unit: [
            *membership_notes(unit, periods, year.year, names),
            *registration_notes(unit, pledge, year.year, year.rules),
        ]
        for unit in units
    }
    notes: dict[Layer, dict[str, tuple[Note, ...]]] = {}
    for layer, found in result.layers.items():
        totals = found.totals_by_unit()
        notes[layer] = {
            place.unit: (
                *common[place.unit],
                *floor_notes(totals[place.unit], place.floor, criteria, year.rules),
            )
            for place in found.ranking.places
        }
    return notes


RANKING_LAYER = Layer.CITY  # the last validated layer: city, else verified, else self
