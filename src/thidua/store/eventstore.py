"""The event store: append, read and subscribe to one tenant's log at a time.

Every transaction first sets the tenant (thidua.tenant) and runs as thidua_app, so
row-level security confines it to that tenant's rows whatever the SQL says.
"""

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from thidua.db.pool import create_app_pool
from thidua.domain.text import nfc
from thidua.store.chain import canonical_bytes, chain_hash
from thidua.store.errors import ConcurrencyConflict, InvalidTenantCode, TenantExists, UnknownTenant
from thidua.store.notifier import Notifier
from thidua.store.records import AppendResult, Metadata, NewEvent, RecordedEvent

# What a transaction hands out: a pooled connection, used like a plain one.
Connection = asyncpg.Connection | PoolConnectionProxy
TENANT_CODE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

_COLUMNS = (
    "tenant_id, position, stream_id, stream_version, event_type, event_version,"
    " payload, metadata, recorded_at, hash"
)

# Taking the head row's lock is the per-tenant lock; clock_timestamp() is read after
# the lock is granted, so recording times follow positions.
_LOCK_HEAD = """
SELECT position, hash, clock_timestamp() AS now
FROM event_log_heads WHERE tenant_id = $1 FOR UPDATE
"""

# A separate statement from the lock, so its snapshot sees every commit made before it.
_STREAM_STATE = """
SELECT (SELECT coalesce(max(stream_version), 0) FROM events
        WHERE tenant_id = $1 AND stream_id = $2) AS version,
       k.stream_version AS replay_version, k.positions AS replay_positions
FROM (SELECT 1) one
LEFT JOIN idempotency_keys k ON k.tenant_id = $1 AND k.key = $3
"""

_WRITE = f"""
WITH appended AS (
    INSERT INTO events ({_COLUMNS})
    SELECT $1, u.position, $2, u.version, u.type, u.event_version, u.payload, $3::jsonb, $4, u.hash
    FROM unnest($5::bigint[], $6::int[], $7::text[], $8::int[], $9::bytea[], $10::bytea[])
         AS u(position, version, type, event_version, payload, hash)
), head AS (
    UPDATE event_log_heads SET position = $11, hash = $12 WHERE tenant_id = $1
)
INSERT INTO idempotency_keys (tenant_id, key, stream_id, stream_version, positions)
SELECT $1, $13, $2, $14, $5 WHERE $13::text IS NOT NULL
"""


class EventStore:
    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._notifier = Notifier(dsn, pool)

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 0, max_size: int = 10) -> "EventStore":
        """A store on this DSN; with min_size 0 it connects on first use, so a server
        can start (and say it is not ready) while its database is still down."""
        store = cls(dsn, await create_app_pool(dsn, min_size=min_size, max_size=max_size))
        store._notifier.start()
        return store

    async def close(self) -> None:
        await self._notifier.close()
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def transaction(self, tenant: str) -> AsyncIterator[Connection]:
        """A transaction that sees and writes only this tenant's rows."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('thidua.tenant', $1, true)", tenant)
            yield conn

    async def create_tenant(self, tenant: str, name: str) -> None:
        """Register a cluster with an empty log."""
        if not TENANT_CODE.match(tenant):
            raise InvalidTenantCode(tenant)
        try:
            async with self.transaction(tenant) as conn:
                await conn.execute(
                    "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)", tenant, nfc(name)
                )
                await conn.execute("INSERT INTO event_log_heads (tenant_id) VALUES ($1)", tenant)
        except asyncpg.UniqueViolationError:
            raise TenantExists(tenant) from None

    async def tenant_name(self, tenant: str) -> str:
        async with self.transaction(tenant) as conn:
            name: str | None = await conn.fetchval(
                "SELECT name FROM tenants WHERE tenant_id = $1", tenant
            )
        if name is None:
            raise UnknownTenant(tenant)
        return name

    async def append(
        self,
        tenant: str,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Append events to a stream at expected_version, atomically, or refuse.

        Raises ConcurrencyConflict when the stream is not at expected_version and
        UnknownTenant when no such cluster exists. A repeated idempotency key
        records nothing and returns the first append's result.
        """
        if not events:
            raise ValueError("append needs at least one event")
        meta = metadata.to_json()
        async with self.transaction(tenant) as conn:
            head = await conn.fetchrow(_LOCK_HEAD, tenant)
            if head is None:
                raise UnknownTenant(tenant)
            state = await conn.fetchrow(_STREAM_STATE, tenant, stream_id, idempotency_key)
            assert state is not None
            if state["replay_positions"] is not None:
                return AppendResult(state["replay_version"], tuple(state["replay_positions"]))
            if state["version"] != expected_version:
                raise ConcurrencyConflict(stream_id, expected_version, state["version"])
            rows = _chain(tenant, stream_id, expected_version, events, meta, head)
            last_hash = rows["hashes"][-1]
            await conn.execute(
                _WRITE,
                tenant,
                stream_id,
                json.dumps(meta, ensure_ascii=False),
                head["now"],
                rows["positions"],
                rows["versions"],
                [e.event_type for e in events],
                [e.event_version for e in events],
                [e.payload for e in events],
                rows["hashes"],
                rows["positions"][-1],
                last_hash,
                idempotency_key,
                rows["versions"][-1],
            )
        self._notifier.committed(tenant, rows["positions"][-1])
        return AppendResult(rows["versions"][-1], tuple(rows["positions"]))

    async def read_stream(
        self, tenant: str, stream_id: str, after_version: int = 0
    ) -> list[RecordedEvent]:
        async with self.transaction(tenant) as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM events WHERE tenant_id = $1 AND stream_id = $2"
                " AND stream_version > $3 ORDER BY stream_version",
                tenant,
                stream_id,
                after_version,
            )
        return [_recorded(r) for r in rows]

    async def read_log(
        self, tenant: str, after_position: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        async with self.transaction(tenant) as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM events WHERE tenant_id = $1 AND position > $2"
                " ORDER BY position LIMIT $3",
                tenant,
                after_position,
                limit,
            )
        return [_recorded(r) for r in rows]

    async def head(self, tenant: str) -> tuple[int, bytes]:
        """The tenant's last position and hash."""
        async with self.transaction(tenant) as conn:
            row = await conn.fetchrow(
                "SELECT position, hash FROM event_log_heads WHERE tenant_id = $1", tenant
            )
        if row is None:
            raise UnknownTenant(tenant)
        return row["position"], row["hash"]

    async def subscribe(
        self, tenant: str, after_position: int = 0, *, batch: int = 500, poll: float = 1.0
    ) -> AsyncIterator[RecordedEvent]:
        """Every event after after_position, in order, once; then each new one as it commits.

        Positions are gapless and assigned in commit order, so reading "after the
        last one seen" never skips a late commit.
        """
        await self.head(tenant)  # raises UnknownTenant before anything is yielded
        await self._notifier.listen()
        position = after_position
        with self._notifier.watch(tenant) as woken:
            while True:
                woken.clear()
                events = await self.read_log(tenant, position, batch)
                for event in events:
                    yield event
                    position = event.position
                if len(events) < batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), poll)


def _chain(
    tenant: str,
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    meta: dict[str, Any],
    head: asyncpg.Record,
) -> dict[str, list[Any]]:
    """Positions, stream versions and chained hashes for the events to append."""
    previous: bytes = head["hash"]
    positions, versions, hashes = [], [], []
    for offset, event in enumerate(events, start=1):
        position, version = head["position"] + offset, expected_version + offset
        previous = chain_hash(
            previous,
            canonical_bytes(
                tenant=tenant,
                position=position,
                stream_id=stream_id,
                stream_version=version,
                event_type=event.event_type,
                event_version=event.event_version,
                metadata=meta,
                recorded_at=head["now"],
                payload=event.payload,
            ),
        )
        positions.append(position)
        versions.append(version)
        hashes.append(previous)
    return {"positions": positions, "versions": versions, "hashes": hashes}


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        tenant=row["tenant_id"],
        position=row["position"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        event_type=row["event_type"],
        event_version=row["event_version"],
        payload=row["payload"],
        metadata_json=json.loads(row["metadata"]),
        recorded_at=row["recorded_at"],
        hash=row["hash"],
    )
