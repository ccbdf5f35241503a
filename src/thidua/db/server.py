"""Which PostgreSQL to use: the one DATABASE_URL names, or an embedded one (pgserver)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from thidua.config import Settings
from thidua.db.errors import DatabaseBusy, DatabaseUnavailable

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "thidua"


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """The DSN to use; an embedded server is started for the block and stopped after it."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    server = await asyncio.to_thread(_start_embedded, settings.data_dir / "pgdata")
    try:
        await ensure_database(server.get_uri(), EMBEDDED_DATABASE)
        yield server.get_uri(EMBEDDED_DATABASE)
    finally:
        await asyncio.to_thread(server.cleanup)


def _start_embedded(pgdata: Path) -> Any:
    try:  # imported here: its import looks for binaries and is only needed here
        import pgserver
    except ImportError:
        raise DatabaseUnavailable(
            "Chưa đặt DATABASE_URL và bản cài này không có PostgreSQL nhúng: đặt DATABASE_URL "
            "hoặc cài 'thidua[embedded]' (set DATABASE_URL or install thidua[embedded])."
        ) from None
    pgdata.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", pgdata)
    try:
        return pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    except Exception as exc:
        raise DatabaseUnavailable(
            f"Không khởi động được PostgreSQL nhúng trong {pgdata} ({exc.__class__.__name__})."
        ) from exc


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """A connection, or a clear DatabaseUnavailable instead of a socket traceback."""
    try:
        return await asyncpg.connect(dsn, timeout=10, **kwargs)
    except CONNECT_ERRORS as exc:
        raise unavailable(dsn, exc) from exc


CONNECT_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def unavailable(dsn: str, exc: BaseException) -> DatabaseUnavailable:
    full = isinstance(exc, asyncpg.TooManyConnectionsError)
    return (DatabaseBusy if full else DatabaseUnavailable)(
        f"Không kết nối được cơ sở dữ liệu {redact(dsn)} ({exc.__class__.__name__}: {exc})."
    )


async def ensure_database(admin_dsn: str, name: str) -> None:
    conn = await connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another process may make it meanwhile.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'")
    finally:
        await conn.close()


def redact(dsn: str) -> str:
    """The DSN without its password, fit for a log line or an error message."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or "@" not in rest:
        return dsn
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{location}"
