"""Wakes subscribers when a tenant's log grows, in this process and across instances.

Appenders tell the notifier after commit; it wakes local subscribers at once and
sends one coalesced NOTIFY per tenant on the next flush, not one per append: a
NOTIFY takes a server-wide lock at commit. A LISTEN connection brings other
instances' notifications in; when it is lost (the database restarted, the network
broke) a keeper connects it again, backing off while the database is away, and then
wakes every watcher, who reads the log after the position it had reached: nothing heard
while deaf is missed. Subscribers also poll, so a lost notification only delays, never
loses, an event.
"""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Iterator

import asyncpg

from thidua.db.errors import DatabaseUnavailable, outages
from thidua.db.server import connect

log = logging.getLogger(__name__)

CHANNEL = "thidua_events"
ANY_TENANT = "*"  # watch(ANY_TENANT) wakes on every tenant's appends
CHECK = 5.0  # seconds between looks at the LISTEN connection, besides its loss being told
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)  # seconds between attempts to listen again


class Changes:
    """Which tenants' logs may have grown since the last `drain`, and an event set when one
    did: work for what changed, never a visit of every tenant."""

    def __init__(self) -> None:
        self.woken = asyncio.Event()
        self._tenants: dict[str, int] = {}  # the last position heard of (0: not said)

    def add(self, tenant: str, position: int) -> None:
        self._tenants[tenant] = max(position, self._tenants.get(tenant, 0))
        self.woken.set()

    def drain(self) -> dict[str, int]:
        self.woken.clear()
        tenants, self._tenants = self._tenants, {}
        return tenants


class Notifier:
    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        self._dsn = dsn
        self._pool = pool
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._changes: set[Changes] = set()
        self._told: list[Callable[[str, int], None]] = []  # see on_change
        self._dirty: dict[str, int] = {}
        self._flush_wanted = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._starting = asyncio.Lock()
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sending coalesced notifications for this instance's appends."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_forever(), name="thidua-notify")

    async def listen(self) -> None:
        """Hear other instances' appends too: connects on first use (DatabaseUnavailable if
        it cannot), and from then on a keeper listens again whenever the connection is lost
        (every watcher is then told that any log may have grown)."""
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_listening(), name="thidua-listen")
        await self._connect()

    async def _connect(self) -> bool:
        """Listen unless listening already; True when a new connection listens."""
        async with self._starting:
            if self.listening:
                return False
            with outages():
                listener = await connect(self._dsn)
                try:
                    listener.add_termination_listener(self._on_lost)
                    await listener.add_listener(CHANNEL, self._on_notification)
                except BaseException:
                    listener.terminate()
                    raise
            self._listener = listener
            self._lost.clear()
            return True

    async def _keep_listening(self) -> None:
        """Listen again after any loss, backing off while the database is away; say so."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), CHECK)
            if self.listening:
                continue
            log.warning("LISTEN connection lost; listening again")
            for attempt in itertools.count():
                try:
                    if await self._connect():
                        log.info("LISTEN re-established after %d attempt(s)", attempt + 1)
                    break
                except DatabaseUnavailable as exc:
                    delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
                    if attempt % 12 == 0:  # the first, then about once a minute
                        log.warning("cannot LISTEN yet (%s); retrying every %.1f s", exc, delay)
                    await asyncio.sleep(delay)
            # Whatever was committed while deaf: every watcher reads after its position.
            self._wake(ANY_TENANT)

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    def on_change(self, told: Callable[[str, int], None]) -> None:
        """Call `told(tenant, position)` whenever a tenant's log grows, here or elsewhere,
        and `told(ANY_TENANT, 0)` when other instances' news may have been missed."""
        self._told.append(told)

    def _on_lost(self, _conn: object) -> None:
        self._lost.set()
        self._wake(ANY_TENANT)

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
            await self._flush()  # what this instance appended last, told before it goes
        if self._listener is not None:
            with contextlib.suppress(OSError, asyncpg.InterfaceError, asyncpg.PostgresError):
                await self._listener.close(timeout=2)
            self._listener = None

    def committed(self, tenant: str, position: int) -> None:
        """Called after an append commits."""
        self._wake(tenant, position)
        if self._flusher is not None:
            self._dirty[tenant] = max(position, self._dirty.get(tenant, 0))
            self._flush_wanted.set()

    @contextlib.contextmanager
    def watch(self, tenant: str) -> Iterator[asyncio.Event]:
        """An event set whenever the tenant's (or with ANY_TENANT, any) log may have grown."""
        woken = asyncio.Event()
        self._watchers.setdefault(tenant, set()).add(woken)
        try:
            yield woken
        finally:
            watchers = self._watchers[tenant]
            watchers.discard(woken)
            if not watchers:
                del self._watchers[tenant]

    @contextlib.contextmanager
    def changes(self) -> Iterator[Changes]:
        """The tenants whose logs grew, here or on another instance, as they do."""
        changes = Changes()
        self._changes.add(changes)
        try:
            yield changes
        finally:
            self._changes.discard(changes)

    def _wake(self, tenant: str, position: int = 0) -> None:
        for woken in (*self._watchers.get(tenant, ()), *self._watchers.get(ANY_TENANT, ())):
            woken.set()
        for changes in self._changes:
            changes.add(tenant, position)
        for told in self._told:
            told(tenant, position)

    def _on_notification(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        tenant, _, position = str(payload).rpartition(":")
        self._wake(tenant, int(position) if position.isdigit() else 0)

    async def _flush_forever(self) -> None:
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._dirty = self._dirty, {}
        if not batch:
            return
        try:
            async with self._pool.acquire(timeout=10) as conn:
                try:
                    await conn.execute(
                        "SELECT pg_notify($1, t || ':' || p)"
                        " FROM unnest($2::text[], $3::bigint[]) AS u(t, p)",
                        CHANNEL,
                        list(batch),
                        list(batch.values()),
                    )
                except BaseException:
                    conn.terminate()  # cut mid-statement, it must not go back to the pool
                    raise
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Other instances' subscribers will find the events on their next poll.
            log.warning("could not send NOTIFY for %d tenants: %r", len(batch), exc)
