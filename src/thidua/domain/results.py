"""A cluster-year's result on a day: every unit's totals and ranking in each layer.

The same function gives the live standings, the frozen mid-year review and the result a
finalisation locks, so what was shown is what gets recorded.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.ranking import rank, unit_totals
from thidua.domain.scorecard import Layer, ScoredCard


def year_result(year: ClusterYear, cards: Mapping[str, ScoredCard], on: date) -> dict[str, Any]:
    """Standings of the current members on this day, against the criteria in force then.

    `cards` holds a scorecard for every member, an empty one for a unit yet to score."""
    criteria = year.criteria_on(on)
    members = sorted(year.members_on(on))
    layers = {}
    for layer in Layer:
        totals = [
            unit_totals(unit, criteria, cards[unit].points(layer), cards[unit].submitted_at)
            for unit in members
        ]
        layers[layer.value] = {
            "totals": [t.to_json() for t in totals],
            "ranking": rank(totals, criteria, year.rules).to_json(),
        }
    return {
        "on": on.isoformat(),
        "criteria_version": criteria.version,
        "layers": layers,
        "flagged": {u: cards[u].flagged(criteria) for u in members},
    }


RANKING_LAYER = Layer.CITY  # the last validated layer: city, else verified, else self
