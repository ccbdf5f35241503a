"""The database's failures as the product names them: an outage (DatabaseUnavailable) or a
full house (DatabaseBusy) whatever asyncpg or the socket called it."""

import contextlib
from collections.abc import Iterator

import asyncpg

from thidua.errors import DatabaseBusy, DatabaseUnavailable, ThiduaError

__all__ = ["DatabaseBusy", "DatabaseUnavailable", "MigrationError", "outage", "outages"]

UNAVAILABLE = "Cơ sở dữ liệu tạm thời không truy cập được; vui lòng thử lại sau ít phút."
BUSY = "Cơ sở dữ liệu đang quá tải (hết kết nối); vui lòng thử lại sau ít giây."
# Lost mid-request: a command may or may not have been recorded; its key makes a retry safe.
RETRY_NOTE = " Gửi lại với cùng idempotencyKey thì không ghi trùng."

# The server said it is going away, starting, or the connection is gone (class 08).
_GONE = (
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
    OSError,  # refused, reset, unreachable
)


class MigrationError(ThiduaError):
    """The migrations on disk and the ones applied to the database disagree."""

    code = "MIGRATION_REFUSED"


def outage(exc: BaseException) -> DatabaseUnavailable | None:
    """The outage an exception means, or None when it is something else (a bug, a refusal).
    A failure raised while handling an outage (a rollback on the dead connection) is it."""
    seen = 0
    found: BaseException | None = exc
    while found is not None and seen < 5:
        named = _named(found)
        if named is not None:
            return named
        found, seen = found.__context__, seen + 1
    return None


def _named(exc: BaseException) -> DatabaseUnavailable | None:
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return DatabaseBusy(BUSY)
    if isinstance(exc, _GONE) or _broken(exc):
        return DatabaseUnavailable(UNAVAILABLE + RETRY_NOTE)
    return None


def _broken(exc: BaseException) -> bool:
    """asyncpg's word for a connection the server left: closed, or (when the server's
    farewell is read before its socket closes) stuck on an error it will never finish."""
    text = str(exc)
    return (isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in text) or (
        isinstance(exc, asyncpg.InternalClientError) and "cannot switch to state" in text
    )


@contextlib.contextmanager
def outages() -> Iterator[None]:
    """Raises the outage a failure inside means, from it; anything else as it was."""
    try:
        yield
    except Exception as exc:
        found = outage(exc)
        if found is None or found is exc:
            raise
        raise found from exc
