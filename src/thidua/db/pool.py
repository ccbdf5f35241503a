"""The application's connections: always as the thidua_app role, so row-level security holds."""

from collections.abc import Awaitable, Callable

import asyncpg

from thidua.db.server import CONNECT_ERRORS, unavailable

APP_ROLE = "thidua_app"
# A connection idle this long is closed, down to min_size: after a burst the pool gives its
# slots back to the server, which other instances (and the operators) share.
IDLE_LIFETIME = 30.0


async def _become_app_role(conn: asyncpg.Connection) -> None:
    # The role owns no table, so every policy applies to it, whoever logged in.
    await conn.execute(f"SET ROLE {APP_ROLE}")


async def create_app_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    idle_lifetime: float = IDLE_LIFETIME,
    reset: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    connect_timeout: float = 10,
) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            max_inactive_connection_lifetime=idle_lifetime,
            init=_become_app_role,
            reset=reset,
            timeout=connect_timeout,
        )
    except CONNECT_ERRORS as exc:
        raise unavailable(dsn, exc) from exc
    assert pool is not None
    return pool
