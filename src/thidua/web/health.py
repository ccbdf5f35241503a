"""Liveness (the process answers) and readiness, always JSON.

Readiness has three words. `ready` (200): the database answers and is migrated. `busy`
(200): the database is reachable but no connection is free (this pool or the server is
full); the instance still serves, and requests that find no connection are answered 503
`DATABASE_BUSY` to retry, so a load balancer keeps it: pulling every instance out for
being busy would turn a crowd into an outage. `unavailable` (503): the database cannot be
reached or lacks migrations; take the instance out of rotation. `listening` says whether
the instance hears other instances' writes (subscriptions still poll when it does not).
"""

import logging
import os

from starlette.requests import Request
from starlette.responses import JSONResponse

from thidua.db.migrate import Migration, pending_on
from thidua.errors import DatabaseBusy, DatabaseUnavailable, ThiduaError

log = logging.getLogger(__name__)

PROBE_WAIT = 0.5  # seconds readiness waits for a pooled connection before it says busy


async def healthz(request: Request) -> JSONResponse:
    # Which worker answered (`thidua serve --workers N`): its process id, as ps shows it.
    return JSONResponse({"status": "ok", "worker": os.getpid()})


async def readyz(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    try:
        async with runtime.store.connection(PROBE_WAIT) as conn:
            await conn.fetchval("SELECT 1")
        if not getattr(request.app.state, "migrated", False):
            pending = await pending_on(runtime.dsn)
            if pending:
                return _pending(pending)
            request.app.state.migrated = True  # migrations are only ever added
    except DatabaseBusy as exc:
        return _said("busy", exc, 200, listening=runtime.store.listening)
    except ThiduaError as exc:
        return _said("unavailable", exc, 503)
    except Exception:
        log.exception("readiness check failed")
        return _said("unavailable", DatabaseUnavailable("Không kiểm tra được cơ sở dữ liệu."), 503)
    return JSONResponse({"status": "ready", "listening": runtime.store.listening})


def _said(status: str, exc: ThiduaError, code: int, **more: object) -> JSONResponse:
    return JSONResponse({"status": status, "code": exc.code, "reason": exc.message, **more}, code)


def _pending(pending: list[Migration]) -> JSONResponse:
    names = ", ".join(m.name for m in pending)
    return JSONResponse(
        {
            "status": "unavailable",
            "code": "MIGRATIONS_PENDING",
            "reason": f"Cơ sở dữ liệu chưa được cập nhật, hãy chạy 'thidua db migrate': {names}.",
        },
        503,
    )
