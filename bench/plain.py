"""The read baseline: a plain Starlette endpoint returning a cluster-year's standings rows
from asyncpg as JSON; no tokens, no GraphQL, no row-level security, no cache.

    python -m bench.plain DSN PORT
"""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STANDINGS = """
SELECT unit, rank, total::text, decided_by, first FROM standings
WHERE tenant_id = $1 AND year = $2 AND layer = $3 AND generation = (
    SELECT generation FROM projection_checkpoints
    WHERE tenant_id = $1 AND projection = 'standings')
ORDER BY rank, unit"""


def app(dsn: str) -> Starlette:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        yield
        await pool.close()

    async def standings(request: Request) -> Response:
        asked = await request.json()
        assert pool is not None
        rows = await pool.fetch(STANDINGS, asked["cluster"], asked["year"], asked["layer"])
        return JSONResponse({"data": {"standings": [dict(r) for r in rows]}})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [Route("/standings", standings, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)


if __name__ == "__main__":
    uvicorn.run(app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
