"""The primary's streaming replicas: copies of every log that clusters' queries may read.

Each replica is an `EventStore` on its own server, as the application role, used only to
read. Whether a replica may serve is checked at most once per interval, whatever the
traffic and however many clusters: it must answer, still be replaying (a promoted one no
longer follows our primary) and have replayed what it received to within `max_lag`
seconds. Whether it has reached what a caller needs of one cluster is asked per request
by the service (`service/replicas.py`).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from thidua.db.server import redact
from thidua.errors import DatabaseUnavailable
from thidua.store.eventstore import EventStore

log = logging.getLogger(__name__)

TIMEOUT = 2.0  # seconds: a replica slower than this to answer is not worth waiting for
CHECK_INTERVAL = 1.0  # seconds between checks of the replicas' replay

# What may go wrong asking a replica; the primary then serves.
# What a replica that is down or cut off raises: the driver's errors, or the store's
# DatabaseUnavailable (which its connections turn them into).
REPLICA_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    DatabaseUnavailable,
)


def _name(url: str) -> str:
    """The replica's URL without its password or parameters (which may hold one)."""
    return redact(url).split("?", 1)[0]


@dataclass(eq=False)
class Replica:
    name: str  # its URL without the password, for logs
    store: EventStore


class Replicas:
    def __init__(
        self, replicas: Sequence[Replica], max_lag: float, interval: float = CHECK_INTERVAL
    ) -> None:
        self.replicas = tuple(replicas)
        self._max_lag = max_lag
        self._interval = interval
        self._serving: list[Replica] = []
        self._unfit: dict[Replica, str] = {}  # why each replica last could not serve
        self._due = 0.0  # when the next check may start (monotonic clock)
        self._checking: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        urls: Sequence[str],
        max_lag: float,
        interval: float = CHECK_INTERVAL,
        *,
        pool_size: int = 10,
    ) -> "Replicas":
        """Stores on the replicas (they connect on first use), checked once before use."""
        replicas = [
            Replica(
                _name(url),
                await EventStore.open_replica(url, max_size=pool_size, connect_timeout=TIMEOUT),
            )
            for url in urls
        ]
        opened = cls(replicas, max_lag, interval)
        await opened.check()
        return opened

    def serving(self) -> list[Replica]:
        """The replicas fit to serve at the last check; starts the next check when it is
        due, in the background, so no request waits for it."""
        now = time.monotonic()
        if now >= self._due and (self._checking is None or self._checking.done()):
            self._due = now + self._interval
            self._checking = asyncio.create_task(self.check(), name="thidua-replica-check")
        return self._serving

    def failed(self, replica: Replica, reason: str) -> None:
        """A read could not reach it: it serves again once a check finds it fit."""
        if replica in self._serving:
            self._serving = [r for r in self._serving if r is not replica]
            self._unfit[replica] = reason
            log.warning("replica %s stops serving reads: %s", replica.name, reason)

    async def check(self) -> None:
        """Ask every replica how far behind its replay is (concurrently)."""
        self._due = time.monotonic() + self._interval
        reasons = await asyncio.gather(*(self._unfit_because(r) for r in self.replicas))
        for replica, reason in zip(self.replicas, reasons, strict=True):
            before = self._unfit.get(replica)
            if reason is None and before is not None:
                log.info("replica %s serves reads again", replica.name)
            elif reason is not None and before is None:
                log.warning("replica %s does not serve reads: %s", replica.name, reason)
            if reason is None:
                self._unfit.pop(replica, None)
            else:
                self._unfit[replica] = reason
        self._serving = [r for r, reason in zip(self.replicas, reasons, strict=True) if not reason]

    async def _unfit_because(self, replica: Replica) -> str | None:
        try:
            async with asyncio.timeout(TIMEOUT):
                lag = await replica.store.replay_lag()
        except REPLICA_ERRORS as exc:
            return f"unreachable ({type(exc).__name__})"
        if lag is None:
            return "not replaying our primary (not in recovery)"
        if lag > self._max_lag:
            return f"replay {lag:.1f} s behind (at most {self._max_lag:g} s)"
        return None

    async def close(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checking
        for replica in self.replicas:
            await replica.store.close()
