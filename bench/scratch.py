"""A fresh, migrated database for one benchmark run, dropped afterwards."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from tempfile import mkdtemp
from urllib.parse import urlsplit

import asyncpg

from thidua.config import Settings
from thidua.db.migrate import migrate
from thidua.db.server import database_url, ensure_database


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """DATABASE_URL's server, or the embedded one: a DSN to a new database on it."""
    settings = Settings(os.environ.get("DATABASE_URL"), Path(mkdtemp(prefix="thidua-bench-")))
    async with database_url(settings) as server:
        name = f"thidua_bench_{uuid.uuid4().hex[:8]}"
        await ensure_database(server, name)
        try:
            dsn = urlsplit(server)._replace(path=f"/{name}").geturl()
            await migrate(dsn)
            yield dsn
        finally:
            admin = await asyncpg.connect(server)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
