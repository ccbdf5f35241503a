"""A refused attempt, recorded in the cluster's log so auditors see who tried what."""

from typing import Any

from eventsourcing.domain import event

from thidua.domain.entity import Entity


class RefusedAttempt(Entity):
    """One refusal, in a stream of its own: recording it never conflicts with anything."""

    @staticmethod
    def create_id(attempt_id: str, **_: Any) -> str:
        return f"refused/{attempt_id}"

    @event("Recorded")
    def __init__(
        self, attempt_id: str, command: str, code: str, message: str, target: dict[str, Any]
    ) -> None:
        self.command = command
        self.code = code
        self.message = message
        self.target = target
