"""Typed refusals of the event store. They live in `thidua.errors`, so that layers which
must recognise them (the API) need not import the store."""

from thidua.errors import (
    ConcurrencyConflict,
    InvalidIdempotencyKey,
    InvalidTenantCode,
    InvalidTenantName,
    TenantExists,
    UnknownTenant,
)

__all__ = [
    "ConcurrencyConflict",
    "InvalidIdempotencyKey",
    "InvalidTenantCode",
    "InvalidTenantName",
    "TenantExists",
    "UnknownTenant",
]
