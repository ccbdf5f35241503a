"""What goes into the log and what comes out of it."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from thidua.domain.text import nfc


@dataclass(frozen=True)
class Metadata:
    """Who did it, in which role, why, and which request and command it belongs to."""

    actor: str
    role: str
    reason: str | None = None
    unit: str | None = None  # the member unit the actor acts for, if any
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: str | None = None
    request_id: str | None = None
    # When it happened: the day given by whoever recorded it (noon in Hanoi when only the
    # day is known), else the service's clock; recorded_at is when the log took it.
    occurred_at: datetime | None = None
    command: str | None = None  # as the API names it: selfScore, finalise...
    trace_id: str | None = None  # the OpenTelemetry trace the command ran in, if traced

    def to_json(self) -> dict[str, str | None]:
        """The stored form: every text in NFC; the command's name and its trace id where
        there are."""
        named = {} if self.command is None else {"command": self.command}
        if self.trace_id is not None:
            named["trace_id"] = self.trace_id
        return named | {
            "actor": nfc(self.actor),
            "role": nfc(self.role),
            "reason": None if self.reason is None else nfc(self.reason),
            "unit": self.unit,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "request_id": self.request_id,
            "occurred_at": None if self.occurred_at is None else self.occurred_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Metadata":
        return cls(
            actor=data["actor"],
            role=data["role"],
            reason=data.get("reason"),
            unit=data.get("unit"),
            correlation_id=data["correlation_id"],
            causation_id=data.get("causation_id"),
            request_id=data.get("request_id"),
            occurred_at=_datetime(data.get("occurred_at")),
            command=data.get("command"),
            trace_id=data.get("trace_id"),
        )


def _datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class NewEvent:
    """An event to append: its type (a topic), schema version and encoded payload."""

    event_type: str
    payload: bytes
    event_version: int = 1


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the log holds it."""

    tenant: str
    position: int
    stream_id: str
    stream_version: int
    event_type: str
    event_version: int
    payload: bytes
    metadata_json: dict[str, Any]  # as stored: the hash covers exactly this
    recorded_at: datetime
    hash: bytes

    @property
    def metadata(self) -> Metadata:
        return Metadata.from_json(self.metadata_json)

    @property
    def occurred_at(self) -> datetime:
        """When the command ran, by the service's clock; the recording time if unknown."""
        return _datetime(self.metadata_json.get("occurred_at")) or self.recorded_at


@dataclass(frozen=True)
class AppendResult:
    """Where an append landed: the stream's new version and the tenant positions taken."""

    stream_version: int
    positions: tuple[int, ...]
