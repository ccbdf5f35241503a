"""The composition root: a database (embedded or DATABASE_URL), migrated, and its event store."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from thidua.config import Settings
from thidua.db.migrate import migrate
from thidua.db.server import database_url
from thidua.ledger.note import parse_verifier
from thidua.projections.runtime import Projector
from thidua.service.ledger import Ledger, Witness
from thidua.store.eventstore import EventStore


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    dsn: str
    store: EventStore
    projector: Projector


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, migrate_first: bool | None = None
) -> AsyncIterator[Runtime]:
    """Everything the app needs, closed (and an embedded server stopped) on exit.

    The embedded server is always migrated first; a configured server only when
    asked, since production migrates as its own step.
    """
    if migrate_first is None:
        migrate_first = settings.database_url is None
    async with database_url(settings) as dsn:
        if migrate_first:
            await migrate(dsn)
        store = await EventStore.open(dsn)
        projector = Projector(store)
        projector.attach()
        try:
            yield Runtime(settings, dsn, store, projector)
        finally:
            await store.close()


def open_ledger(runtime: Runtime) -> Ledger:
    """The log's signer and witnesses, as configured."""
    log = runtime.settings.log
    witnesses = tuple(Witness(url, parse_verifier(key)) for url, key in log.witnesses)
    return Ledger(runtime.store, runtime.settings.log_key(), log.origin, witnesses)
