"""The API over a real socket: the app under uvicorn on a free port, tokens signed as the
server checks them, and a small GraphQL-over-HTTP client (httpx) that returns what a
caller sees: the status and the JSON body."""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import httpx
import uvicorn

from thidua.api.tokens import development_token
from thidua.bootstrap import Runtime
from thidua.config import Settings, TokenSettings
from thidua.demo import DEMO, YEAR, ensure_template, play_year
from thidua.domain.rights import Role
from thidua.projections.runtime import Projector
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar
from thidua.store import EventStore
from thidua.store.replicas import Replicas
from thidua.web.app import create_app

SECRET = "a-test-secret-that-is-not-for-production"


def settings(dsn: str, **changes: Any) -> Settings:
    """The test secret unless `tokens` says otherwise; a throwaway data folder, so a
    development secret is never generated in the working tree."""
    changes.setdefault("tokens", TokenSettings(secret=SECRET))
    return Settings(dsn, Path(mkdtemp(prefix="thidua-api-")), **changes)


def token(
    dsn: str,
    sub: str,
    clusters: list[str],
    role: Role | list[Role],
    unit: str | None = None,
    ttl: int = 600,
) -> str:
    roles = role if isinstance(role, list) else [role]
    return development_token(settings(dsn), sub, clusters, roles, unit, ttl)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Api:
    url: str
    dsn: str
    store: EventStore
    clock: Calendar
    http: httpx.AsyncClient

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None,
        cluster: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One GraphQL request; the status and the body as the caller gets them."""
        path = f"/clusters/{cluster}/graphql" if cluster else "/graphql"
        headers = {"accept": "application/graphql-response+json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = await self.http.post(path, json=body, headers=headers)
        return response.status_code, response.json()

    async def ok(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str,
        cluster: str | None = None,
    ) -> dict[str, Any]:
        """The data of a request that must succeed."""
        status, body = await self.post(query, variables, token=token, cluster=cluster)
        assert status == 200, body
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def refused(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None,
        cluster: str | None = None,
    ) -> str:
        """The code of a request that must be refused."""
        _, body = await self.post(query, variables, token=token, cluster=cluster)
        assert body.get("errors"), body
        code: str = body["errors"][0]["extensions"]["code"]
        return code


@asynccontextmanager
async def serving(
    dsn: str, clock: Calendar | None = None, replicas: Replicas | None = None, **changes: Any
) -> AsyncIterator[Api]:
    """The app as `thidua serve` runs it (inline projections attached), on a real port."""
    store = await EventStore.open(dsn, max_size=20)
    projector = Projector(store)
    projector.attach()
    clock = clock or Calendar(datetime.now(UTC))
    runtime = Runtime(settings(dsn, **changes), dsn, store, projector, replicas)
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime, Emulation(store, clock)),
        port=port,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield Api(url, dsn, store, clock, http)
    finally:
        server.should_exit = True
        await task
        await store.close()


async def played(api: Api, units: int) -> str:
    """A demo cluster with this many units, its year played through the commands."""
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    service = Emulation(api.store, clock)
    await ensure_template(service)
    base = DEMO[0]
    code = f"cum-sql-{uuid.uuid4().hex[:6]}"
    names = [(f"don-vi-{i}", f"Đơn vị số {i}") for i in range(units)]
    cluster = replace(base, code=code, units=names, deputies=1)
    await api.store.create_tenant(code, "Cụm đếm câu lệnh")
    await play_year(service, clock, cluster)
    return code
