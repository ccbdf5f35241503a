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


class Entity(BaseAggregate[str]):
    class Event(CanMutateAggregate[str], metaclass=MetaDomainEvent):
        originator_id: str
        originator_version: int
        timestamp: datetime

    class Created(Event, CanInitAggregate[str]):
        originator_topic: str
