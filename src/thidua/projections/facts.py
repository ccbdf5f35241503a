"""An event as projections read it: the log's record with its decoded domain event."""

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from thidua.ledger.codec import EventCodec
from thidua.ledger.records import RecordedEvent

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}
_codec = EventCodec()


@dataclass(frozen=True)
class Fact:
    record: RecordedEvent
    event: Any

    @classmethod
    def of(cls, record: RecordedEvent) -> "Fact":
        return cls(record, _codec.decode(record))

    @property
    def position(self) -> int:
        return self.record.position

    @property
    def stream_id(self) -> str:
        return self.record.stream_id

    @property
    def name(self) -> str:
        """The event's name within its aggregate, e.g. "Scored"."""
        return type(self.event).__name__

    @property
    def aggregate(self) -> str:
        """The aggregate's kind: the stream id's first segment ("scorecard")."""
        return self.stream_id.split("/", 1)[0]

    def data(self) -> dict[str, Any]:
        """What the event says, without the envelope every event carries."""
        return {k: v for k, v in vars(self.event).items() if k not in _ENVELOPE}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a projection")


def dumps(value: Any) -> str:
    """JSON for a jsonb column: Vietnamese as itself, Decimals as exact strings."""
    return json.dumps(value, ensure_ascii=False, default=_plain, sort_keys=True)
