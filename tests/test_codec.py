"""Domain events through eventsourcing's Mapper into the log and back: exact, aware, NFC, upcast."""

import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event

from thidua.ledger.codec import EventCodec
from thidua.store import EventStore, Metadata

META = Metadata(actor="Phạm Thị D", role="member_officer", reason="tự chấm điểm")
HANOI = timezone(timedelta(hours=7))


class Scorecard(Aggregate):
    @event("Scored")
    def score(self, criterion: str, points: Decimal, note: str, at: datetime, due: date) -> None:
        self.points = points
        self.note = note


async def test_decimals_datetimes_and_text_round_trip(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant, codec = await new_tenant(), EventCodec()
    card = Scorecard()
    decomposed = unicodedata.normalize("NFD", "Hoàn thành chỉ tiêu thành phố giao")
    card.score(
        "A1",
        Decimal("27.25"),
        decomposed,
        datetime(2025, 12, 10, 16, 30, tzinfo=HANOI),
        date(2025, 12, 10),
    )
    pending = card.collect_events()
    await store.append(tenant, str(card.id), 0, [codec.encode(e) for e in pending], META)

    recorded = await store.read_stream(tenant, str(card.id))
    scored = codec.decode(recorded[1])
    state: dict[str, Any] = vars(scored)
    assert isinstance(state["points"], Decimal)
    assert state["points"] == Decimal("27.25")
    assert state["at"] == datetime(2025, 12, 10, 9, 30, tzinfo=UTC)
    assert state["at"].utcoffset() == timedelta(hours=7)
    assert state["due"] == date(2025, 12, 10)
    assert state["note"] == unicodedata.normalize("NFC", decomposed) != decomposed
    assert "Hoàn thành".encode() in recorded[1].payload  # UTF-8 itself, no \\u escapes


def test_naive_datetimes_are_refused() -> None:
    card = Scorecard()
    card.score("A1", Decimal(1), "x", datetime(2025, 1, 1), date(2025, 1, 1))
    with pytest.raises(ValueError, match="time zone"):
        EventCodec().encode(card.collect_events()[1])


class Membership(Aggregate):
    """Version 1 of an event class, as first released."""

    @event("Joined")
    def join(self, unit: str) -> None:
        self.unit = unit


class MembershipV2(Aggregate):
    """The same event a release later: it gained the date the unit joined from."""

    class Joined(Aggregate.Event):
        class_version = 2
        unit: str
        joined_on: date | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["joined_on"] = None

        def apply(self, aggregate: Aggregate) -> None:
            aggregate.__dict__.update(unit=self.unit, joined_on=self.joined_on)


async def test_a_stored_v1_event_is_read_as_v2(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant, codec = await new_tenant(), EventCodec()
    membership = Membership()
    membership.join("Cục Thuế thành phố Hà Nội")
    joined_v1 = codec.encode(membership.collect_events()[1])
    assert joined_v1.event_version == 1
    # The class was renamed in this test only; in production the topic stays the same.
    v2_topic = joined_v1.__class__(
        event_type=f"{__name__}:MembershipV2.Joined", payload=joined_v1.payload
    )
    stream = str(uuid.uuid4())
    await store.append(tenant, stream, 0, [v2_topic], META)

    joined = codec.decode((await store.read_stream(tenant, stream))[0])

    assert isinstance(joined, MembershipV2.Joined)
    assert joined.unit == "Cục Thuế thành phố Hà Nội"
    assert joined.joined_on is None
    assert codec.encode(joined).event_version == 2
