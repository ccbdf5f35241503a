"""Who sends a command, for which cluster, why, and how a retry is recognised."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from thidua.domain.days import HANOI, local_day
from thidua.domain.rights import Actor, Caller
from thidua.ledger.records import Metadata
from thidua.telemetry.traces import trace_id

__all__ = ["HANOI", "Calendar", "Envelope", "Recorded", "local_day", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Envelope:
    """What travels with a command: the cluster, the caller, and the caller's options."""

    cluster: str
    caller: Caller
    reason: str | None = None
    idempotency_key: str | None = None
    expected_version: int | None = None  # of the aggregate the command changes
    request_id: str | None = None
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def metadata(
        self,
        actor: Actor | None,
        at: datetime,
        reason: str | None = None,
        command: str | None = None,
    ) -> Metadata:
        """Who did it (a caller with no role at all is recorded with none), in which
        command, why, and when it happened (the log adds when it was recorded)."""
        return Metadata(
            command=command,
            actor=self.caller.person,
            role=actor.role.value if actor else "",
            unit=self.caller.unit,
            reason=self.reason or reason,
            correlation_id=self.correlation_id,
            request_id=self.request_id,
            occurred_at=at,
            trace_id=trace_id(),  # when a span is active: the event links to its trace
        )


@dataclass(frozen=True)
class Recorded:
    """Where a command's events landed."""

    stream_id: str
    version: int
    positions: tuple[int, ...]


@dataclass
class Calendar:
    """A clock that stays where it is set: the demo's year and the tests' days."""

    now: datetime

    def on(self, day: date) -> None:
        """Move to 9 a.m. in Hanoi on this day."""
        self.now = datetime.combine(day, time(9), HANOI)

    def __call__(self) -> datetime:
        return self.now
