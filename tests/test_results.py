"""A year's result is a typed value; its stored JSON is the edge, and it never changes.

The two payloads in tests/data are the mid-year review and the finalised result of
the demo's Cluster 8, exactly as its log recorded them before results were typed: they
must load, and be written back byte for byte (the hash chain covers those bytes).
"""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from thidua.domain.cluster_year import ClusterYear, Status
from thidua.domain.membership import Membership
from thidua.domain.ranking import DecidedBy, Floor, Place, Ranking, UnitTotals
from thidua.domain.results import LayerResult, YearResult
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import Layer
from thidua.ledger.codec import EventCodec, NFCJSONTranscoder

DATA = Path(__file__).parent / "data"
HANOI = timezone(timedelta(hours=7))
CUM_8 = ["ba-dinh", "dong-da", "hai-ba-trung", "hoan-kiem", "hoang-mai", "long-bien"]
STORED = {
    "MidYearReviewRecorded": "cum-8-mid-year-review.json",
    "Finalised": "cum-8-finalised.json",
}


def stored(name: str) -> bytes:
    return (DATA / STORED[name]).read_bytes().rstrip(b"\n")


@pytest.mark.parametrize("name", STORED)
def test_a_stored_result_is_written_back_byte_for_byte(name: str) -> None:
    transcoder = NFCJSONTranscoder()
    raw = stored(name)
    payload: dict[str, Any] = transcoder.decode(raw)
    result = YearResult.from_json(payload["result"])
    assert json.dumps(result.to_json()) == json.dumps(payload["result"])  # key order too
    assert transcoder.encode({**payload, "result": result.to_json()}) == raw


def test_stored_results_load_into_the_year_as_typed_values() -> None:
    year = ClusterYear.open(
        2025,
        [Membership(unit, unit, date(2025, 1, 1)) for unit in CUM_8],
        "hai-ba-trung",
        ["ba-dinh"],
        YearRules(),
    )
    codec = EventCodec()
    for name in STORED:
        event: Any = codec.mapper.to_domain_event(
            StoredEvent(
                originator_id=year.id,
                originator_version=year.version + 1,
                topic=f"thidua.domain.cluster_year:ClusterYear.{name}",
                state=stored(name),
            )
        )
        event.mutate(year)

    review = year.mid_year_review
    assert review is not None
    assert (review.on, review.criteria_version) == (date(2025, 7, 15), "2025.1")
    assert list(review.layers) == [Layer.SELF, Layer.VERIFIED, Layer.CITY]
    assert all(t.submitted_at is None for t in review.layers[Layer.SELF].totals)

    assert year.status is Status.FINALISED
    final = year.current_result()
    assert final is year.results[1]
    assert final.on == date(2025, 12, 15)
    assert final.flagged == {unit: () for unit in CUM_8}
    city = final.layers[Layer.CITY]
    assert city.ranking.first == "hai-ba-trung"
    leader = city.totals_by_unit()["hai-ba-trung"]
    assert leader.total == Decimal("103.25")
    assert leader.parts["B"] == Decimal("19.00")
    assert leader.submitted_at == datetime(2025, 11, 25, 2, 0, tzinfo=UTC)
    assert leader.submitted_at.utcoffset() == timedelta(hours=7)
    last = city.ranking.places[-1]
    assert (last.unit, last.rank, last.decided_by) == ("hoang-mai", 6, DecidedBy.TOTAL)
    assert last.floor == (Floor.A1_BELOW_SHARE,)
    assert last.total == Decimal("83.00")
    assert str(last.total) == "83.00"  # exact, trailing zeros kept


def totals(unit: str, base: str, submitted_at: datetime | None) -> UnitTotals:
    return UnitTotals(
        unit=unit,
        parts={"A": Decimal(base), "E": Decimal("12.5"), "F": Decimal("5")},
        base=Decimal(base),
        bonus=Decimal("10"),
        deductions=Decimal("5"),
        part_a=Decimal(base),
        a1_points=Decimal("0.25"),
        largest_deduction=Decimal("5"),
        complete=submitted_at is not None,
        submitted_at=submitted_at,
    )


def test_a_result_round_trips_through_its_stored_json_unchanged() -> None:
    """Ties, floor reasons, no first place, an unsubmitted unit and flagged criteria."""
    submitted = datetime(2025, 12, 10, 16, 30, 0, 123456, tzinfo=HANOI)
    tied = Ranking(
        places=(
            Place("u1", 1, Decimal("90.50"), DecidedBy.TIED, (), True),
            Place("u2", 1, Decimal("90.50"), DecidedBy.TIED, (), True),
            Place(
                "u3",
                3,
                Decimal("1E+1"),
                DecidedBy.TOTAL,
                (Floor.A1_BELOW_SHARE, Floor.DEDUCTION_TOO_LARGE),
                False,
            ),
        ),
        first=None,
    )
    layer = LayerResult(
        totals=(
            totals("u1", "85.50", submitted),
            totals("u2", "85.50", submitted),
            totals("u3", "5", None),
        ),
        ranking=tied,
    )
    result = YearResult(
        on=date(2025, 12, 15),
        criteria_version="2025.2",
        layers={Layer.SELF: layer, Layer.VERIFIED: layer, Layer.CITY: layer},
        flagged={"u1": (), "u2": ("A2", "B1"), "u3": ()},
    )
    stored_json = result.to_json()
    assert stored_json["layers"]["city"]["ranking"]["first"] is None
    assert stored_json["flagged"]["u2"] == ["A2", "B1"]
    assert stored_json["layers"]["self"]["totals"][0]["total"] == "90.50"
    written = NFCJSONTranscoder().encode(stored_json)
    again = YearResult.from_json(NFCJSONTranscoder().decode(written))
    assert again == result
    assert NFCJSONTranscoder().encode(again.to_json()) == written
