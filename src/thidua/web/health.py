"""Liveness (the process answers) and readiness (database reachable, migrations applied)."""

import os

from starlette.requests import Request
from starlette.responses import JSONResponse

from thidua.db.migrate import pending_on
from thidua.errors import ThiduaError


async def healthz(request: Request) -> JSONResponse:
    # Which worker answered (`thidua serve --workers N`): its process id, as ps shows it.
    return JSONResponse({"status": "ok", "worker": os.getpid()})


async def readyz(request: Request) -> JSONResponse:
    try:
        pending = await pending_on(request.app.state.runtime.dsn)
    except ThiduaError as exc:
        return JSONResponse({"status": "unavailable", "code": exc.code, "reason": exc.message}, 503)
    if pending:
        names = ", ".join(m.name for m in pending)
        return JSONResponse(
            {
                "status": "unavailable",
                "code": "MIGRATIONS_PENDING",
                "reason": (
                    f"Cơ sở dữ liệu chưa được cập nhật, hãy chạy 'thidua db migrate': {names}."
                ),
            },
            503,
        )
    return JSONResponse({"status": "ready"})
