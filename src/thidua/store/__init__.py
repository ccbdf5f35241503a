"""The event store: one append-only, hash-chained log per tenant on PostgreSQL (asyncpg)."""

from thidua.ledger.records import AppendResult, Metadata, NewEvent, RecordedEvent
from thidua.store.errors import ConcurrencyConflict, UnknownTenant
from thidua.store.eventstore import EventStore

__all__ = [
    "AppendResult",
    "ConcurrencyConflict",
    "EventStore",
    "Metadata",
    "NewEvent",
    "RecordedEvent",
    "UnknownTenant",
]
