"""Aggregates in and out of the event store, inside a command's session.

Aggregates last seen are kept in memory, so loading one reads and applies only the events
recorded since (by any instance); a caller always gets its own copy to decide on.
"""

import copy
from collections import OrderedDict
from typing import Any, TypeVar, cast

from thidua.domain.entity import Entity
from thidua.ledger.codec import EventCodec
from thidua.ledger.records import Metadata, RecordedEvent
from thidua.service.envelope import Recorded
from thidua.store.eventstore import Session

T = TypeVar("T", bound=Entity)
KEPT = 1024  # aggregates kept, the most recently used (a cluster-year is ~100 kB)


def read_version(aggregate: Entity) -> int:
    """The version the aggregate was read at, before its pending events."""
    return aggregate.version - len(aggregate.pending_events)


class Repository:
    def __init__(self, codec: EventCodec | None = None) -> None:
        self.codec = codec or EventCodec()
        self._kept: OrderedDict[tuple[str, str], Entity] = OrderedDict()

    async def get(self, session: Session, cls: type[T], stream_id: str) -> T | None:
        """The aggregate as its events left it, or None when the stream is empty."""
        key = (session.tenant, stream_id)
        kept = self._kept.get(key)
        records = await session.read_stream(stream_id, kept.version if kept else 0)
        # No await from here on: a concurrent load cannot interleave its events with ours.
        aggregate = self._caught_up(key, records)
        if aggregate is not None and not isinstance(aggregate, cls):
            raise TypeError(f"{stream_id} holds a {type(aggregate).__name__}, not a {cls.__name__}")
        return copy.deepcopy(aggregate)

    def _caught_up(self, key: tuple[str, str], records: list[RecordedEvent]) -> Entity | None:
        aggregate: Any = self._kept.get(key)
        for record in records:
            version = aggregate.version if aggregate is not None else 0
            if record.stream_version == version + 1:  # a concurrent load may have applied it
                aggregate = cast(Any, self.codec.decode(record)).mutate(aggregate)
        if aggregate is not None:
            self._keep(key, aggregate)
        return cast(Entity | None, aggregate)

    def _keep(self, key: tuple[str, str], aggregate: Entity) -> None:
        self._kept[key] = aggregate
        self._kept.move_to_end(key)
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)

    async def save(
        self,
        session: Session,
        metadata: Metadata,
        aggregate: Entity,
        guards: list[tuple[str, int]] | None = None,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Append the aggregate's new events, provided nothing it was decided on moved."""
        expected = read_version(aggregate)
        pending = aggregate.collect_events()
        result = await session.append(
            aggregate.id,
            expected,
            [self.codec.encode(e) for e in pending],
            metadata,
            idempotency_key=idempotency_key,
            guards=guards or (),
        )
        return Recorded(aggregate.id, result.stream_version, result.positions)

    def committed(self, cluster: str, aggregate: Entity) -> None:
        """Keep the aggregate as the log now has it, once its session has committed."""
        key = (cluster, aggregate.id)
        kept = self._kept.get(key)
        if kept is None or kept.version < aggregate.version:
            self._keep(key, aggregate)  # callers only ever get copies
