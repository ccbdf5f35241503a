"""The offline verifier: a cluster's exported events, recomputed with the pure domain code
alone, give the standings and the frozen results the server published; an altered score
or an altered publication is named, with its layer and unit."""

import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest

from thidua.ledger.codec import NFCJSONTranscoder
from thidua.ledger.recompute import (
    FINAL,
    MID_YEAR,
    STANDINGS,
    check_results,
    compare_results,
    compare_standings,
    recompute,
    result_json,
    standing_json,
)
from thidua.ledger.records import RecordedEvent
from thidua.projections.runtime import Projector
from thidua.service.emulation import Emulation
from thidua.service.reads import Reads
from thidua.store import EventStore
from workload import BASE, YEAR, generated_year


@dataclass(frozen=True)
class Published:
    """A played year: its cluster's whole log, and what the server published for it."""

    tenant: str
    events: list[RecordedEvent]
    standings: list[dict[str, Any]]
    results: list[dict[str, Any]]


async def nothing() -> None:
    return None


async def whole_log(store: EventStore, tenant: str) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while batch := await store.read_log(tenant, events[-1].position if events else 0):
        events += batch
    return events


@pytest.fixture(scope="module")
async def published(dsn: str) -> AsyncIterator[Published]:
    """A seeded year (a join, a leave, the mid-year review, corrections, refusals, two
    finalisations around a reopening), its appends projected inline as the product runs."""
    store = await EventStore.open(dsn, max_size=10)
    Projector(store).attach()
    tenant = f"cum-r-{uuid.uuid4().hex[:8]}"
    await generated_year(store, tenant, seed=7, events=1_000, capture=nothing, moments=0)
    standings = await Reads(store).standings(tenant, YEAR)
    year = await Emulation(store).year(tenant, YEAR)
    assert year.mid_year_review is not None
    results = [result_json(MID_YEAR, 1, year.mid_year_review)]
    results += [result_json(FINAL, v, r) for v, r in sorted(year.results.items())]
    yield Published(
        tenant,
        await whole_log(store, tenant),
        [standing_json(s) for s in standings],
        results,
    )
    await store.close()


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["layer"], r["rank"], r["unit"]))


def test_the_year_recomputed_offline_is_what_the_server_published(published: Published) -> None:
    shuffled = random.Random(1).sample(published.events, len(published.events))
    found = recompute(shuffled, YEAR)  # log order is the positions', whatever the file's

    assert found.position == max(
        e.position for e in published.events if e.stream_id.startswith(("year/", "scorecard/"))
    )
    assert len(found.standings) == len(published.standings) > 0
    assert ordered(found.standings) == ordered(published.standings)
    assert compare_standings(published.standings, found.standings) == []

    assert [(r.kind, r.version) for r in found.results] == [(MID_YEAR, 1), (FINAL, 1), (FINAL, 2)]
    assert all(r.recomputed == r.frozen for r in found.results)
    assert [r.published() for r in found.results] == published.results
    assert check_results(found.results) == []
    assert compare_results(published.results, found.results) == []

    other = recompute(published.events, YEAR - 1)
    assert (other.position, other.standings, other.results) == (0, [], ())


def altered(event: RecordedEvent, **changes: Any) -> RecordedEvent:
    transcoder = NFCJSONTranscoder()
    payload = transcoder.decode(event.payload)
    return replace(event, payload=transcoder.encode({**payload, **changes}))


def test_an_altered_score_is_named_with_its_layer_and_unit(published: Published) -> None:
    """A unit's last self score, one point lower in the exported file: its self total, as
    recomputed, is not the one the server published, nor the results frozen after it."""
    transcoder = NFCJSONTranscoder()
    leader = next(r for r in published.standings if r["layer"] == "self" and r["rank"] == 1)
    unit = leader["unit"]
    scored = [
        (i, transcoder.decode(e.payload))
        for i, e in enumerate(published.events)
        if e.stream_id == f"scorecard/{YEAR}/{unit}" and e.event_type.endswith(".Scored")
    ]
    last = {}
    for i, data in scored:
        if data["layer"] == "self" and data["code"] in BASE:
            last[data["code"]] = (i, data)
    i, data = last[sorted(last)[0]]
    points = data["points"]
    lower = points - 1 if points >= 1 else points + 1
    events = list(published.events)
    events[i] = altered(events[i], points=lower)

    found = recompute(events, YEAR)
    differences = compare_standings(published.standings, found.standings)
    totals = [d for d in differences if (d.layer, d.unit, d.field) == ("self", unit, "total")]
    assert len(totals) == 1
    total = totals[0]
    assert total.subject == STANDINGS
    before = Decimal(leader["total"])
    assert Decimal(total.published or "") == before
    assert Decimal(total.recomputed or "") == before + lower - points
    assert total.text == (
        f"Lớp tự chấm, đơn vị {unit}: tổng điểm máy chủ công bố {total.published},"
        f" tính lại {total.recomputed}"
    )
    assert str(total) == total.text
    assert all(d.unit in (unit, None) for d in differences if d.field == "total")

    frozen_after = [r for r in found.results if r.position > published.events[i].position]
    assert frozen_after  # the finalisations at least
    named = check_results(found.results)
    for result in frozen_after:
        assert any(
            (d.subject, d.version, d.layer, d.unit, d.field)
            == (result.kind, result.version, "self", unit, "total")
            for d in named
        )
    assert any(d.text.startswith("Kết quả chốt phiên bản 1, lớp tự chấm, đơn vị") for d in named)


def test_an_altered_frozen_result_is_named(published: Published) -> None:
    """The first finalisation's payload, with one unit's city total and rank changed: the
    result computed again from the log says otherwise."""
    at = next(i for i, e in enumerate(published.events) if e.event_type.endswith(".Finalised"))
    event = published.events[at]
    result = NFCJSONTranscoder().decode(event.payload)["result"]
    city = result["layers"]["city"]
    totals = city["totals"][0]
    unit = totals["unit"]
    totals["total"] = str(Decimal(totals["total"]) + 5)
    place = next(p for p in city["ranking"]["places"] if p["unit"] == unit)
    place["rank"] += 1
    events = list(published.events)
    events[at] = altered(event, result=result)

    found = recompute(events, YEAR)
    differences = check_results(found.results)
    named = {(d.subject, d.version, d.layer, d.unit, d.field): d for d in differences}
    assert set(named) == {
        (FINAL, 1, "city", unit, "total"),
        (FINAL, 1, "city", unit, "rank"),
    }
    rank = named[(FINAL, 1, "city", unit, "rank")]
    assert rank.text == (
        f"Kết quả chốt phiên bản 1, lớp thành phố điều chỉnh, đơn vị {unit}: thứ hạng"
        f" máy chủ đã chốt {place['rank']}, tính lại {place['rank'] - 1}"
    )
    # The server published what its log froze: the copy is the log's, the recomputation not.
    assert compare_results([r.published() for r in found.results], found.results) == list(
        named.values()
    )
    # A published copy that is not what the log froze is named too, before the rest.
    both = compare_results(published.results, found.results)
    assert both[2:] == list(named.values())
    assert [(d.layer, d.unit, d.field) for d in both[:2]] == [
        ("city", unit, "rank"),
        ("city", unit, "total"),
    ]
    assert both[0].text == (
        f"Kết quả chốt phiên bản 1, lớp thành phố điều chỉnh, đơn vị {unit}: thứ hạng"
        f" máy chủ công bố {place['rank'] - 1}, nhật ký đã chốt {place['rank']}"
    )


def test_a_published_row_altered_or_missing_is_named(published: Published) -> None:
    found = recompute(published.events, YEAR)
    rows = [dict(r) for r in published.standings]
    changed = next(r for r in rows if r["layer"] == "verified")
    changed["total"] = str(Decimal(changed["total"]) + Decimal("0.5"))
    dropped = next(r for r in rows if r["layer"] == "city")
    rows.remove(dropped)

    differences = compare_standings(rows, found.standings)
    assert [(d.layer, d.unit, d.field) for d in differences] == [
        ("verified", changed["unit"], "total"),
        ("city", dropped["unit"], "row"),
    ]
    assert differences[1].text.startswith(
        f"Lớp thành phố điều chỉnh, đơn vị {dropped['unit']}: máy chủ công bố không có, tính lại có"
    )
    # Decimals are compared by value: the same total written with another scale is no change.
    rescaled = [dict(r, total=str(Decimal(r["total"]).quantize(Decimal("0.0001")))) for r in rows]
    again = compare_standings(rescaled, found.standings)
    assert [(d.layer, d.unit, d.field) for d in again] == [
        (d.layer, d.unit, d.field) for d in differences
    ]


def test_the_verifier_loads_no_database_nor_projection_code() -> None:
    forbidden = ("asyncpg", "thidua.store", "thidua.db", "thidua.projections", "thidua.service")
    script = (
        "import sys, thidua.ledger.recompute\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] == 'asyncpg'"
        f" or m.startswith({forbidden!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
