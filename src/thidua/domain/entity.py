"""The base of every aggregate: eventsourcing's, with readable string ids.

Stream ids say what they hold ("year/2025", "scorecard/2025/bhxh-hn"), so an auditor
reading the raw log needs no lookup table.
"""

from datetime import datetime

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    MetaDomainEvent,
)

KEPT = "_kept_"  # attributes an aggregate keeps to answer faster: not part of its state


class Entity(BaseAggregate[str]):
    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and _state(self) == _state(other)

    __hash__ = None  # type: ignore[assignment]  # as eventsourcing's: aggregates change

    class Event(CanMutateAggregate[str], metaclass=MetaDomainEvent):
        originator_id: str
        originator_version: int
        timestamp: datetime

    class Created(Event, CanInitAggregate[str]):
        originator_topic: str


def _state(entity: Entity) -> dict[str, object]:
    return {k: v for k, v in vars(entity).items() if not k.startswith(KEPT)}
