"""Drafts and what is published (DOMAIN.md): what one reader sees of a cluster-year's
scores.

A unit's self-assessment is its own draft until its head submits it. Until then only
those who may read the unit's drafts (`READ_OWN_UNIT`: the unit itself, its assigned
inspector, the secretariat, the city board and auditors) see any of it; once submitted,
the cluster's members do too. Verified and city scores are published as recorded.

So a reader who may not read a unit's draft sees the year as if that draft did not
exist: the unit has no row in the self layer, and its verified and city totals count its
verified and city points only (no falling back to the draft for criteria nobody verified
or adjusted). Everyone is ranked on what that reader sees, so no place, rank or tie
betrays a draft either. `published_result` is the one place that shapes a result so;
live standings, standings at a past position, the recorded mid-year review and the
finalised results are all shaped by it.
"""

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from thidua.domain.ranking import rank
from thidua.domain.results import LayerResult, YearResult, year_result
from thidua.domain.scorecard import CardView, Layer, ScoredCard

if TYPE_CHECKING:
    from thidua.domain.cluster_year import ClusterYear

Reader = Callable[[str], bool]
"""Whether the reader may read this unit's drafts (`may(…, READ_OWN_UNIT, year, unit)`)."""


def hidden(submitted: Mapping[str, datetime | None], reader: Reader | None) -> frozenset[str]:
    """The units whose self-assessment is, for this reader, a draft it may not read:
    not submitted, and not one of the units whose drafts the reader reads. No reader:
    nothing is hidden (the service's own decisions read everything)."""
    if reader is None:
        return frozenset()
    return frozenset(unit for unit, at in submitted.items() if at is None and not reader(unit))


def hidden_in(result: YearResult, reader: Reader | None) -> frozenset[str]:
    """`hidden` for a recorded result: whether each unit had submitted when it was taken."""
    totals = result.layers[Layer.SELF].totals
    return hidden({t.unit: t.submitted_at for t in totals}, reader)


def without_draft(card: ScoredCard) -> CardView:
    """The card as published while its self-assessment is a draft: verified and city only."""
    return CardView({layer: e for layer, e in card.entries.items() if layer is not Layer.SELF})


def published_result(
    year: "ClusterYear", cards: Mapping[str, ScoredCard], on: date, reader: Reader | None
) -> YearResult:
    """`year_result` as this reader may see it: the drafts it may not read left out of
    every layer, the self layer without their units, each layer ranked on what is left.
    `cards` holds a card for every member, as for `year_result`."""
    if reader is None:
        return year_result(year, cards, on)
    members = year.members_on(on)
    drafts = hidden({u: c.submitted_at for u, c in cards.items() if u in members}, reader)
    shown = {u: without_draft(c) if u in drafts else c for u, c in cards.items()}
    result = year_result(year, shown, on)
    if not drafts:
        return result
    own = tuple(t for t in result.layers[Layer.SELF].totals if t.unit not in drafts)
    ranking = rank(own, year.criteria_on(on), year.rules)
    layers = {**result.layers, Layer.SELF: LayerResult(totals=own, ranking=ranking)}
    return replace(result, layers=layers)
