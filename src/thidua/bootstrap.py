"""The composition root: a database (embedded or DATABASE_URL), migrated, and its event store."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from thidua.config import ReplicaSettings, Settings
from thidua.db.migrate import migrate
from thidua.db.server import database_url
from thidua.ledger.note import parse_verifier
from thidua.projections.runtime import Projector
from thidua.service.ledger import Ledger, Witness
from thidua.store.eventstore import EventStore
from thidua.store.replicas import Replicas


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    dsn: str
    store: EventStore
    projector: Projector
    replicas: Replicas | None = None  # streaming replicas that may serve queries


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, migrate_first: bool | None = None, replicas: bool = False
) -> AsyncIterator[Runtime]:
    """Everything the app needs, closed (and an embedded server stopped) on exit.

    The embedded server is always migrated first; a configured server only when
    asked, since production migrates as its own step. The configured replicas are
    opened only when asked (the server's queries read them; the commands do not).
    """
    if migrate_first is None:
        migrate_first = settings.database_url is None
    async with database_url(settings) as dsn:
        if migrate_first:
            await migrate(dsn)
        store = await EventStore.open(dsn, max_size=settings.pool_size)
        projector = Projector(store)
        projector.attach()
        opened = None
        try:
            if replicas:
                opened = await open_replicas(settings.replicas, settings.pool_size)
            yield Runtime(settings, dsn, store, projector, opened)
        finally:
            if opened is not None:
                await opened.close()
            await store.close()


async def open_replicas(settings: ReplicaSettings, pool_size: int = 10) -> Replicas | None:
    """The configured replicas, or None without any."""
    if not settings.urls:
        return None
    return await Replicas.open(settings.urls, settings.max_lag, pool_size=pool_size)


def open_ledger(runtime: Runtime) -> Ledger:
    """The log's signer and witnesses, as configured."""
    log = runtime.settings.log
    witnesses = tuple(Witness(url, parse_verifier(key)) for url, key in log.witnesses)
    return Ledger(runtime.store, runtime.settings.log_key(), log.origin, witnesses)
