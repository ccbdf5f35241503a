"""Domain events to log records and back, through eventsourcing's Mapper and Transcoder.

Decimals stay exact (strings), datetimes must carry a time zone, dates are ISO,
and every string is stored in NFC. Event schema versions travel as eventsourcing's
class_version, upcast on read by the event class's upcast_vX_vY methods.
"""

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)

from thidua.domain.text import nfc_deep
from thidua.ledger.records import NewEvent, RecordedEvent


class AwareDatetimeAsISO(Transcoding):
    type = datetime
    name = "datetime_iso"

    def encode(self, obj: datetime) -> str:
        if obj.tzinfo is None or obj.utcoffset() is None:
            raise ValueError(f"datetime without a time zone cannot be stored: {obj!r}")
        return obj.isoformat()

    def decode(self, data: str) -> datetime:
        return datetime.fromisoformat(data)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class NFCJSONTranscoder(JSONTranscoder):
    """JSON with every string in NFC, so equal Vietnamese text is stored as equal bytes."""

    def __init__(self) -> None:
        super().__init__()
        for transcoding in (UUIDAsHex(), DecimalAsStr(), AwareDatetimeAsISO(), DateAsISO()):
            self.register(transcoding)

    def encode(self, obj: Any) -> bytes:
        return super().encode(nfc_deep(obj))


class EventCodec:
    def __init__(self, mapper: Mapper[Any] | None = None) -> None:
        self.mapper = mapper or Mapper(transcoder=NFCJSONTranscoder())

    def encode(self, event: DomainEventProtocol[Any]) -> NewEvent:
        stored = self.mapper.to_stored_event(event)
        return NewEvent(
            event_type=stored.topic,
            payload=stored.state,
            event_version=getattr(type(event), "class_version", 1),
        )

    def decode(self, record: RecordedEvent) -> DomainEventProtocol[Any]:
        stored = StoredEvent(
            originator_id=record.stream_id,
            originator_version=record.stream_version,
            topic=record.event_type,
            state=record.payload,
        )
        return self.mapper.to_domain_event(stored)
