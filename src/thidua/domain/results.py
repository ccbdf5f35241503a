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
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from thidua.domain.notes import Note, floor_notes, membership_notes, registration_notes
from thidua.domain.pledge import Pledge
from thidua.domain.ranking import Ranking, UnitTotals, rank
from thidua.domain.scorecard import CardView, Layer, ScoredCard

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
        totals = tuple(cards[unit].totals(unit, layer, criteria) for unit in members)
        layers[layer] = LayerResult(totals=totals, ranking=rank(totals, criteria, year.rules))
    return YearResult(
        on=on,
        criteria_version=criteria.version,
        layers=layers,
        flagged={u: tuple(cards[u].flagged(criteria)) for u in members},
    )


def frozen_result(year: "ClusterYear", cards: Mapping[str, ScoredCard], on: date) -> YearResult:
    """The result a mid-year review or a finalisation freezes: `year_result` on the day the
    command is decided, with a card for every member that day (an empty one for a unit
    with none yet). The command handlers freeze it, and the offline verifier
    (`thidua.ledger.recompute`) computes it again from the log with this same function."""
    every = {unit: cards[unit] if unit in cards else CardView({}) for unit in year.members_on(on)}
    return year_result(year, every, on)


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


# What changed between two result versions.


@dataclass(frozen=True)
class UnitChange:
    """A unit whose total or rank differs between two results (None: not ranked there)."""

    unit: str
    total_before: Decimal | None
    total_after: Decimal | None
    rank_before: int | None
    rank_after: int | None

    @property
    def total_change(self) -> Decimal | None:
        if self.total_before is None or self.total_after is None:
            return None
        return self.total_after - self.total_before

    @property
    def rank_change(self) -> int | None:
        """The new rank less the old: negative when the unit moved up."""
        if self.rank_before is None or self.rank_after is None:
            return None
        return self.rank_after - self.rank_before


@dataclass(frozen=True)
class LayerDiff:
    """One layer's changes, in the new ranking's order, and its first place before and after."""

    changes: tuple[UnitChange, ...]
    first_before: str | None
    first_after: str | None


@dataclass(frozen=True)
class Reopening:
    reason: str
    result_version: int  # the result it superseded


@dataclass(frozen=True)
class ResultDiff:
    """Two result versions compared, every layer, with the reopenings between them."""

    from_version: int
    to_version: int
    layers: Mapping[Layer, LayerDiff] = field(hash=False)
    reopenings: tuple[Reopening, ...] = ()

    def changed_units(self) -> list[str]:
        """Units whose total changed in any layer: the ones whose scores moved."""
        return sorted(
            {
                change.unit
                for found in self.layers.values()
                for change in found.changes
                if change.total_before != change.total_after
            }
        )


def result_diff(old: YearResult, new: YearResult) -> dict[Layer, LayerDiff]:
    """Per layer, the units whose total or rank changed from `old` to `new`, and by how
    much; a unit ranked in one result only is listed with None on the other side."""
    found: dict[Layer, LayerDiff] = {}
    for layer in Layer:
        before = _figures(old.layers.get(layer))
        after = _figures(new.layers.get(layer))
        changes = []
        for unit in before.keys() | after.keys():
            total_before, rank_before = before.get(unit, (None, None))
            total_after, rank_after = after.get(unit, (None, None))
            changes.append(UnitChange(unit, total_before, total_after, rank_before, rank_after))
        moved = [
            c for c in changes if (c.total_before, c.rank_before) != (c.total_after, c.rank_after)
        ]
        moved.sort(key=lambda c: (c.rank_after is None, c.rank_after or 0, c.unit))
        found[layer] = LayerDiff(
            changes=tuple(moved),
            first_before=_first(old.layers.get(layer)),
            first_after=_first(new.layers.get(layer)),
        )
    return found


def _figures(found: LayerResult | None) -> dict[str, tuple[Decimal, int]]:
    """Each unit's total and rank in one layer's result."""
    if found is None:
        return {}
    ranks = {place.unit: place.rank for place in found.ranking.places}
    return {t.unit: (t.total, ranks[t.unit]) for t in found.totals if t.unit in ranks}


def _first(found: LayerResult | None) -> str | None:
    return None if found is None else found.ranking.first
