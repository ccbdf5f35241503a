"""`domain/drafts.py`: a year's result as one reader may see it. A unit's unsubmitted
self-assessment is left out for a reader who may not read it: no self-layer totals, no
falling back on it in the verified and city layers, nothing flagged because of it, and
every layer ranked on what is left."""

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.drafts import hidden, hidden_in, published_result
from thidua.domain.membership import Membership
from thidua.domain.results import year_result
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import CardView, Layer

CRITERIA = CriteriaSet(
    version="1",
    effective_from=date(2025, 1, 1),
    bonus_cap=Decimal(5),
    criteria=(
        Criterion("A1", "A1", "A", Decimal(30), Kind.BASE),
        Criterion("A2", "A2", "A", Decimal(20), Kind.BASE),
    ),
)
ON = date(2025, 7, 15)
AT = datetime(2025, 6, 1, tzinfo=UTC)


def entries(criteria: CriteriaSet = CRITERIA, **points: str) -> dict[str, dict[str, Any]]:
    by_code = criteria.by_code()
    return {
        code: {"points": Decimal(p), "criterion": by_code[code].to_json()}
        for code, p in points.items()
    }


def year() -> ClusterYear:
    members = [Membership(u, u, date(2025, 1, 1)) for u in ("a", "b", "d")]
    found = ClusterYear.open(2025, members, "a", [], YearRules())
    found.adopt_criteria(CRITERIA, CRITERIA, "mau")
    return found


# "d" has not submitted: A1 30 and A2 19 of its own, A1 verified at 22. An older A2
# definition stands behind its draft's A2, so that entry is flagged for re-scoring.
OLD_A2 = replace(
    CRITERIA, criteria=(CRITERIA.criteria[0], replace(CRITERIA.criteria[1], title="cũ"))
)
CARDS = {
    "a": CardView({Layer.SELF: entries(A1="26", A2="16")}, AT),
    "b": CardView({Layer.SELF: entries(A1="25", A2="15")}, AT),
    "d": CardView(
        {
            Layer.SELF: entries(A1="30") | entries(OLD_A2, A2="19"),
            Layer.VERIFIED: entries(A1="22"),
        }
    ),
}


def places(found: Any, layer: Layer) -> list[tuple[str, int, str]]:
    return [(p.unit, p.rank, str(p.total)) for p in found.layers[layer].ranking.places]


def test_whoever_may_read_the_draft_sees_the_result_as_computed() -> None:
    expected = year_result(year(), CARDS, ON)
    assert published_result(year(), CARDS, ON, None) == expected
    assert published_result(year(), CARDS, ON, lambda unit: unit == "d") == expected
    assert places(expected, Layer.SELF) == [("d", 1, "49"), ("a", 2, "42"), ("b", 3, "40")]
    assert places(expected, Layer.CITY) == [("a", 1, "42"), ("d", 2, "41"), ("b", 3, "40")]
    assert expected.flagged["d"] == ("A2",)


def test_a_reader_kept_from_the_draft_sees_only_what_was_published() -> None:
    found = published_result(year(), CARDS, ON, lambda unit: unit == "a")
    assert places(found, Layer.SELF) == [("a", 1, "42"), ("b", 2, "40")]
    for layer in (Layer.VERIFIED, Layer.CITY):
        assert places(found, layer) == [("a", 1, "42"), ("b", 2, "40"), ("d", 3, "22")]
        totals = found.layers[layer].totals_by_unit()["d"]
        assert (totals.total, totals.a1_points) == (Decimal(22), Decimal(22))
        assert not totals.complete
    assert found.flagged == {"a": (), "b": (), "d": ()}
    assert hidden_in(found, lambda unit: unit == "a") == frozenset()  # no self row left
    assert hidden_in(year_result(year(), CARDS, ON), lambda unit: unit == "a") == {"d"}


def test_a_submitted_self_assessment_is_every_readers() -> None:
    submitted = CARDS | {"d": replace(CARDS["d"], submitted_at=AT)}
    assert published_result(year(), submitted, ON, lambda unit: False) == year_result(
        year(), submitted, ON
    )
    assert hidden({"a": AT, "d": None}, lambda unit: False) == {"d"}
    assert hidden({"a": AT, "d": None}, None) == frozenset()
