"""Real PostgreSQL for every test: the embedded server, and DATABASE_URL's when it is set.

Each server gets a fresh, migrated database for the session; the store runs as the
application role, exactly as the product does.
"""

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from thidua.config import Settings
from thidua.db.migrate import migrate
from thidua.db.server import database_url, ensure_database
from thidua.store import EventStore

SERVERS = ["embedded"] + (["database_url"] if os.environ.get("DATABASE_URL") else [])


def with_database(dsn: str, name: str) -> str:
    """The same server, another database."""
    parts = urlsplit(dsn)
    return parts._replace(path=f"/{name}").geturl()


@asynccontextmanager
async def server_dsn(kind: str, data_dir: Path) -> AsyncIterator[str]:
    """A DSN to an administrative database on the chosen server."""
    if kind == "embedded":
        async with database_url(Settings(database_url=None, data_dir=data_dir)) as dsn:
            yield dsn
    else:
        yield os.environ["DATABASE_URL"]


@pytest.fixture(scope="session", params=SERVERS)
async def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async with server_dsn(request.param, tmp_path_factory.mktemp("pg")) as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def new_database(server: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes empty databases on the server; drops them when the session ends."""
    made: list[str] = []

    async def make() -> str:
        name = f"thidua_test_{uuid.uuid4().hex[:12]}"
        await ensure_database(server, name)
        made.append(name)
        return with_database(server, name)

    yield make
    admin = await asyncpg.connect(server)
    try:
        for name in made:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def dsn(new_database: Callable[[], Awaitable[str]]) -> str:
    """A migrated database shared by the session's store tests."""
    url = await new_database()
    await migrate(url)
    return url


@pytest.fixture(scope="session")
async def store(dsn: str) -> AsyncIterator[EventStore]:
    store = await EventStore.open(dsn, max_size=60)
    yield store
    await store.close()


_tenant_numbers = itertools.count(1)


@pytest.fixture
def new_tenant(store: EventStore) -> Callable[..., Awaitable[str]]:
    async def make(name: str = "Cụm thi đua thử nghiệm") -> str:
        code = f"cum-t{next(_tenant_numbers)}-{uuid.uuid4().hex[:6]}"
        await store.create_tenant(code, name)
        return code

    return make


@pytest.fixture
async def superuser(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the migrating (owner or super) user, not the application role."""
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()
