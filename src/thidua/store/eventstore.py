"""The event store: append, read and subscribe to one tenant's log at a time.

Every transaction first sets the tenant (thidua.tenant) and runs as thidua_app, so
row-level security confines it to that tenant's rows whatever the SQL says.
"""

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from thidua.db.errors import BUSY, DatabaseBusy, outage, outages
from thidua.db.pool import create_app_pool
from thidua.domain.checks import CLUSTER_CODE
from thidua.domain.text import nfc
from thidua.ledger.chain import GENESIS, content_digest
from thidua.ledger.records import AppendResult, Metadata, NewEvent, RecordedEvent
from thidua.store.errors import (
    ConcurrencyConflict,
    InvalidIdempotencyKey,
    InvalidTenantCode,
    InvalidTenantName,
    TenantExists,
    UnknownTenant,
)
from thidua.store.notifier import Changes, Notifier
from thidua.telemetry import metrics

# What a transaction hands out: a pooled connection, used like a plain one.
Connection = asyncpg.Connection | PoolConnectionProxy
# Checked with fullmatch: `match` with `$` would let a trailing newline through.
TENANT_CODE = CLUSTER_CODE
TENANT_NAME_LENGTH = 200  # characters
_FUNCTION = re.compile(r"[a-z_][a-z0-9_]*")
# A retry's key: printable ASCII without spaces, short enough for its B-tree index (a key
# of a few thousand bytes cannot be indexed at all).
IDEMPOTENCY_KEY_LENGTH = 200
IDEMPOTENCY_KEY = re.compile(rf"[!-~]{{1,{IDEMPOTENCY_KEY_LENGTH}}}")
# Seconds a request waits for a pooled connection before it is told the database is busy
# (DatabaseBusy, a 503 to retry) rather than queueing without end behind a full pool.
ACQUIRE_TIMEOUT = 5.0


def _check_key(key: str | None) -> None:
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidIdempotencyKey(IDEMPOTENCY_KEY_LENGTH)


_COLUMNS = (
    "tenant_id, position, stream_id, stream_version, event_type, event_version,"
    " payload, metadata, recorded_at, hash"
)

_APPEND = "SELECT * FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"

# Nothing behind when the replica streams from the primary and has replayed all it
# received (an idle primary sends nothing, and its last commit may be old); else the time
# since the last commit it replayed, which grows while it is cut off. NULL on a server
# not in recovery: a primary, or a replica promoted away from ours.
_REPLAY_LAG = """
SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                 AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE pid IS NOT NULL) THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
"""

# Runs in an append's transaction once its events are in (connection, tenant, the events
# as the log now holds them): the inline projections, so a writer reads its own write.
InlineHook = Callable[[Connection, str, Sequence[RecordedEvent]], Awaitable[None]]


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool reset: nothing to undo, transactions set only transaction-local settings."""


class EventStore:
    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._notifier = Notifier(dsn, pool)
        self.inline: list[InlineHook] = []
        self.query_log: list[str] | None = None  # set to a list to record every statement

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 0, max_size: int = 10) -> "EventStore":
        """A store on this DSN; with min_size 0 it connects on first use, so a server
        can start (and say it is not ready) while its database is still down."""
        pool = await create_app_pool(dsn, min_size=min_size, max_size=max_size, reset=_keep_session)
        store = cls(dsn, pool)
        store._notifier.start()
        return store

    @classmethod
    async def open_replica(
        cls, dsn: str, *, max_size: int = 10, connect_timeout: float = 10
    ) -> "EventStore":
        """A store on a streaming replica of the primary, for reads: the server refuses
        writes, and this store neither notifies nor listens (a standby can do neither).
        It connects on first use, so a replica that is down delays nothing at start."""
        pool = await create_app_pool(
            dsn,
            min_size=0,
            max_size=max_size,
            reset=_keep_session,
            connect_timeout=connect_timeout,
        )
        return cls(dsn, pool)

    async def replay_lag(self) -> float | None:
        """On a streaming replica, how many seconds its replay is behind (0 when it has
        replayed all it received); None on a server that is not replaying."""
        found = await self._pool.fetchval(_REPLAY_LAG)
        return None if found is None else float(found)

    async def close(self) -> None:
        await self._notifier.close()
        await self._pool.close()

    def pool_use(self) -> tuple[int, int, int]:
        """The connection pool's open connections, idle ones, and its maximum."""
        pool = self._pool
        return pool.get_size(), pool.get_idle_size(), pool.get_max_size()

    @contextlib.asynccontextmanager
    async def transaction(self, tenant: str) -> AsyncIterator[Connection]:
        """A transaction that sees and writes only this tenant's rows."""
        if not TENANT_CODE.fullmatch(tenant):
            raise UnknownTenant(tenant)
        async with self.connection() as conn, self._logged(conn):
            # One round trip; the code was checked above, so it is safe as a literal.
            await conn.execute(f"BEGIN; SELECT set_config('thidua.tenant', '{tenant}', true)")
            try:
                yield conn
            except BaseException:
                try:
                    await conn.execute("ROLLBACK")
                except Exception:
                    # Broken, or cut mid-statement: never handed out again.
                    conn.terminate()
                raise
            await conn.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def connection(self, wait: float = ACQUIRE_TIMEOUT) -> AsyncIterator[PoolConnectionProxy]:
        """A pooled connection, no tenant set; whatever fails for want of the database
        (connecting, the pool full, the server gone mid-statement) raises DatabaseUnavailable
        or DatabaseBusy."""
        with outages():
            try:
                conn = await self._pool.acquire(timeout=wait)
            except TimeoutError as exc:
                raise DatabaseBusy(BUSY) from exc
            try:
                yield conn
            except Exception as exc:
                if outage(exc) is not None:
                    conn.terminate()  # whatever state it was left in, it is not reused
                raise
            finally:
                await self._pool.release(conn)

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Whether this process holds `name` for the block, among every process on this
        database (never waits: False while another holds it)."""
        async with self.connection() as conn, conn.transaction():
            held: bool = await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", name
            )
            yield held

    @contextlib.asynccontextmanager
    async def _logged(self, conn: Connection) -> AsyncIterator[None]:
        """Statements recorded in query_log, for tests that count them."""
        log = self.query_log
        if log is None:
            yield
            return

        def record(query: asyncpg.connection.LoggedQuery) -> None:
            log.append(query.query)

        conn.add_query_logger(record)
        try:
            yield
        finally:
            conn.remove_query_logger(record)

    async def create_tenant(self, tenant: str, name: str) -> None:
        """Register a cluster with an empty log."""
        if not TENANT_CODE.fullmatch(tenant):
            raise InvalidTenantCode(tenant)
        if not name.strip() or len(name) > TENANT_NAME_LENGTH:
            raise InvalidTenantName(TENANT_NAME_LENGTH)
        try:
            async with self.transaction(tenant) as conn:
                await conn.execute(
                    "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)", tenant, nfc(name)
                )
                await conn.execute("SELECT open_log($1)", tenant)
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

    @contextlib.asynccontextmanager
    async def session(self, tenant: str) -> AsyncIterator["Session"]:
        """One transaction on one tenant for a whole command: its reads and its append.
        New events are announced once it commits."""
        async with self.transaction(tenant) as conn:
            session = Session(self, conn, tenant)
            yield session
        if session.appended is not None:
            metrics.APPENDED.inc(session.count)
            self._notifier.committed(tenant, session.appended)

    async def append(
        self,
        tenant: str,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency_key: str | None = None,
        guards: Sequence[tuple[str, int]] = (),
    ) -> AppendResult:
        """Append events to a stream at expected_version, atomically, or refuse (`Session`)."""
        async with self.session(tenant) as session:
            return await session.append(
                stream_id, expected_version, events, metadata, idempotency_key, guards
            )

    async def recorded_for(
        self, tenant: str, idempotency_key: str
    ) -> tuple[str, int, tuple[int, ...]] | None:
        """Stream, version and positions the command with this key recorded, if it ran."""
        async with self.session(tenant) as session:
            return await session.recorded_for(idempotency_key)

    async def read_stream(
        self, tenant: str, stream_id: str, after_version: int = 0
    ) -> list[RecordedEvent]:
        async with self.session(tenant) as session:
            return await session.read_stream(stream_id, after_version)

    async def read_log(
        self, tenant: str, after_position: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        async with self.transaction(tenant) as conn:
            return await read_events(conn, tenant, after_position, limit=limit)

    async def head(self, tenant: str) -> tuple[int, bytes]:
        """The tenant's last position and hash."""
        async with self.transaction(tenant) as conn:
            row = await conn.fetchrow(
                "SELECT position, hash FROM event_log_heads WHERE tenant_id = $1", tenant
            )
        if row is None:
            raise UnknownTenant(tenant)
        return row["position"], row["hash"]

    async def note_access_refusal(self, subject: str, cluster: str, code: str, what: str) -> None:
        """A caller refused a cluster its token does not cover: counted for the deployment's
        auditors (`access_refusals`), never written into that cluster's log."""
        async with self.connection() as conn:
            await conn.execute(
                "SELECT note_access_refusal($1, $2, $3, $4)", subject, cluster, code, what
            )

    async def access_refusals(self, day: date) -> list[asyncpg.Record]:
        """The deployment's refusals of uncovered clusters on one day."""
        async with self.connection() as conn:
            return await conn.fetch(
                "SELECT subject, cluster, code, what, count, first_at, last_at"
                " FROM access_refusals WHERE day = $1 ORDER BY count DESC, subject, cluster",
                day,
            )

    async def report(self, function: str, *args: object) -> list[asyncpg.Record]:
        """The rows of a reporting function, called outside any tenant's transaction: one
        round trip, no BEGIN or COMMIT, not in query_log. Row-level security shows such a
        call no tenant's rows, so only functions that run as their owner and report
        positions, never data, answer anything."""
        if not _FUNCTION.fullmatch(function):
            raise ValueError(f"not a function name: {function!r}")
        arguments = ", ".join(f"${i}" for i in range(1, len(args) + 1))
        async with self.connection() as conn:
            return await conn.fetch(f"SELECT * FROM {function}({arguments})", *args)

    @contextlib.asynccontextmanager
    async def watch(self, tenant: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the tenant's log (ANY_TENANT: any log) may have grown,
        here or on another instance."""
        await self._notifier.listen()
        with self._notifier.watch(tenant) as woken:
            yield woken

    async def listen(self) -> None:
        """Hear other instances' appends (see `on_change`)."""
        await self._notifier.listen()

    @property
    def listening(self) -> bool:
        return self._notifier.listening

    def on_change(self, told: Callable[[str, int], None]) -> None:
        """Call `told(tenant, position)` whenever a tenant's log grows (`Notifier`)."""
        self._notifier.on_change(told)

    @contextlib.asynccontextmanager
    async def changes(self) -> AsyncIterator[Changes]:
        """The tenants whose logs grew, here or on another instance, as they do."""
        await self._notifier.listen()
        with self._notifier.changes() as changes:
            yield changes

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


async def read_events(
    conn: Connection,
    tenant: str,
    after_position: int,
    upto_position: int | None = None,
    limit: int = 1000,
) -> list[RecordedEvent]:
    """The tenant's events after one position (up to another), in order, in this transaction."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE tenant_id = $1 AND position > $2"
        " AND position <= coalesce($3, position) ORDER BY position LIMIT $4",
        tenant,
        after_position,
        upto_position,
        limit,
    )
    return [_recorded(r) for r in rows]


async def read_stream_upto(
    conn: Connection, tenant: str, stream_id: str, upto_position: int
) -> list[RecordedEvent]:
    """One stream's events as they stood at a position of the tenant's log."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE tenant_id = $1 AND stream_id = $2"
        " AND position <= $3 ORDER BY stream_version",
        tenant,
        stream_id,
        upto_position,
    )
    return [_recorded(r) for r in rows]


async def position_at(conn: Connection, tenant: str, moment: datetime) -> int:
    """The last position the tenant's log had taken at this moment (0 before the first event)."""
    found = await conn.fetchval(
        "SELECT max(position) FROM events WHERE tenant_id = $1 AND recorded_at <= $2",
        tenant,
        moment,
    )
    return int(found or 0)


async def recorded_at(conn: Connection, tenant: str, position: int) -> datetime | None:
    """When the event at this position was recorded (None for position 0 or none)."""
    found: datetime | None = await conn.fetchval(
        "SELECT recorded_at FROM events WHERE tenant_id = $1 AND position = $2", tenant, position
    )
    return found


async def position_after(
    conn: Connection, tenant: str, after_position: int, count: int
) -> int | None:
    """The position `count` events after this one, or the last if fewer follow; None when
    none does."""
    found: int | None = await conn.fetchval(
        "SELECT max(position) FROM (SELECT position FROM events WHERE tenant_id = $1"
        " AND position > $2 ORDER BY position LIMIT $3) AS next",
        tenant,
        after_position,
        count,
    )
    return found


async def lock_head(conn: Connection, tenant: str) -> int:
    """The tenant's head position, its writers held until this transaction ends."""
    found: int | None = await conn.fetchval("SELECT lock_log($1)", tenant)
    if found is None:
        raise UnknownTenant(tenant)
    return found


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


class Session:
    """A command's transaction on one tenant: read streams, recognise a retry, append."""

    def __init__(self, store: EventStore, conn: Connection, tenant: str) -> None:
        self.store = store
        self.conn = conn
        self.tenant = tenant
        self.appended: int | None = None  # the last position appended, announced on commit
        self.count = 0  # events appended, counted once committed

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE tenant_id = $1 AND stream_id = $2"
            " AND stream_version > $3 ORDER BY stream_version",
            self.tenant,
            stream_id,
            after_version,
        )
        return [_recorded(r) for r in rows]

    async def recorded_for(self, idempotency_key: str) -> tuple[str, int, tuple[int, ...]] | None:
        """Stream, version and positions the command with this key recorded, if it ran."""
        _check_key(idempotency_key)
        row = await self.conn.fetchrow(
            "SELECT stream_id, stream_version, positions FROM idempotency_keys"
            " WHERE tenant_id = $1 AND key = $2",
            self.tenant,
            idempotency_key,
        )
        if row is None:
            return None
        return row["stream_id"], row["stream_version"], tuple(row["positions"])

    async def ensure_tenant(self, name: str) -> None:
        """Register this tenant with an empty log, unless it exists."""
        await self.conn.execute(
            "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            self.tenant,
            nfc(name),
        )
        await self.conn.execute("SELECT open_log($1)", self.tenant)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency_key: str | None = None,
        guards: Sequence[tuple[str, int]] = (),
    ) -> AppendResult:
        """Append events to a stream at expected_version, atomically, or refuse.

        Raises ConcurrencyConflict when the stream is not at expected_version, or a
        guard stream (stream id, version) the caller decided on has moved since, and
        UnknownTenant when no such cluster exists. A repeated idempotency key
        records nothing and returns the first append's result; a key that is not short
        printable ASCII is InvalidIdempotencyKey.
        """
        _check_key(idempotency_key)
        if not events:
            raise ValueError("append needs at least one event")
        tenant = self.tenant
        meta = metadata.to_json()
        digests = [
            content_digest(
                tenant=tenant,
                stream_id=stream_id,
                stream_version=expected_version + offset,
                event_type=event.event_type,
                event_version=event.event_version,
                metadata=meta,
                payload=event.payload,
            )
            for offset, event in enumerate(events, start=1)
        ]
        outcome = await self.conn.fetchrow(
            _APPEND,
            tenant,
            stream_id,
            expected_version,
            [e.event_type for e in events],
            [e.event_version for e in events],
            [e.payload for e in events],
            digests,
            json.dumps(meta, ensure_ascii=False),
            idempotency_key,
            [stream for stream, _ in guards],
            [version for _, version in guards],
        )
        assert outcome is not None
        status, version, positions = (
            outcome["status"],
            outcome["stream_version"],
            outcome["positions"],
        )
        if status == "unknown_tenant":
            raise UnknownTenant(tenant)
        if status == "conflict":
            conflicting = outcome["conflict_stream"]
            expected = dict(guards).get(conflicting, expected_version)
            raise ConcurrencyConflict(conflicting, expected, version)
        if status == "appended":
            self.count += len(positions)
            if self.store.inline:
                records = [
                    RecordedEvent(
                        tenant=tenant,
                        position=position,
                        stream_id=stream_id,
                        stream_version=expected_version + offset,
                        event_type=event.event_type,
                        event_version=event.event_version,
                        payload=event.payload,
                        metadata_json=meta,
                        recorded_at=outcome["recorded_at"],
                        hash=bytes(chained),
                    )
                    for offset, (position, event, chained) in enumerate(
                        zip(positions, events, outcome["hashes"], strict=True), start=1
                    )
                ]
                for hook in self.store.inline:
                    await hook(self.conn, tenant, records)
            self.appended = positions[-1]
        return AppendResult(version, tuple(positions))


async def year_positions(conn: Connection, tenant: str, year: int) -> tuple[int, int] | None:
    """The positions just before the first and at the last event of a year's streams
    (the year's, its pledge's and its scorecards'); None when it has none."""
    row = await conn.fetchrow(
        "SELECT min(position) - 1 AS after, max(position) AS upto FROM events"
        " WHERE tenant_id = $1 AND split_part(stream_id, '/', 2) = $2"
        " AND split_part(stream_id, '/', 1) IN ('year', 'pledge', 'scorecard')",
        tenant,
        str(year),
    )
    if row is None or row["upto"] is None:
        return None
    return row["after"], row["upto"]


async def read_year(conn: Connection, tenant: str, year: int, upto: int) -> list[RecordedEvent]:
    """A year's events (its own, its pledge's and its scorecards' streams) up to a position,
    in order."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE tenant_id = $1 AND position <= $3"
        " AND split_part(stream_id, '/', 2) = $2"
        " AND split_part(stream_id, '/', 1) IN ('year', 'pledge', 'scorecard')"
        " ORDER BY position",
        tenant,
        str(year),
        upto,
    )
    return [_recorded(r) for r in rows]


async def hash_at(conn: Connection, tenant: str, position: int) -> bytes:
    """The chain hash at a position (the genesis hash at 0)."""
    found: bytes | None = await conn.fetchval(
        "SELECT hash FROM events WHERE tenant_id = $1 AND position = $2", tenant, position
    )
    return GENESIS if found is None else bytes(found)
