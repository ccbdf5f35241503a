"""Aggregates in and out of the event store."""

from typing import Any, TypeVar, cast

from thidua.domain.entity import Entity
from thidua.service.command import Command, Recorded
from thidua.store.codec import EventCodec
from thidua.store.eventstore import EventStore

T = TypeVar("T", bound=Entity)


def read_version(aggregate: Entity) -> int:
    """The version the aggregate was read at, before its pending events."""
    return aggregate.version - len(aggregate.pending_events)


class Repository:
    def __init__(self, store: EventStore, codec: EventCodec | None = None) -> None:
        self.store = store
        self.codec = codec or EventCodec()

    async def get(self, tenant: str, cls: type[T], stream_id: str) -> T | None:
        """The aggregate as its events left it, or None when the stream is empty."""
        aggregate: Any = None
        for record in await self.store.read_stream(tenant, stream_id):
            aggregate = cast(Any, self.codec.decode(record)).mutate(aggregate)
        if aggregate is not None and not isinstance(aggregate, cls):
            raise TypeError(f"{stream_id} holds a {type(aggregate).__name__}, not a {cls.__name__}")
        return aggregate

    async def save(
        self, command: Command, aggregate: Entity, guards: list[tuple[str, int]] | None = None
    ) -> Recorded:
        """Append the aggregate's new events, provided nothing it was decided on moved."""
        expected = read_version(aggregate)
        pending = aggregate.collect_events()
        result = await self.store.append(
            command.tenant,
            aggregate.id,
            expected,
            [self.codec.encode(e) for e in pending],
            command.metadata(),
            idempotency_key=command.idempotency_key,
            guards=guards or (),
        )
        return Recorded(aggregate.id, result.stream_version, result.positions)
