"""Every graphql-http server audit passes (GraphQL over HTTP, MUSTs and SHOULDs): the view
on a tiny schema, then the product itself on both endpoints, through `node audit/run.mjs`.
"""

import asyncio
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import strawberry
import uvicorn

from api_client import serving, token
from thidua.api.http import GraphQLView
from thidua.domain.rights import Role

AUDIT = Path(__file__).resolve().parent.parent / "audit"
SUMMARY = re.compile(r"graphql-http audits: (\d+) total, (\d+) ok, (\d+) warn, (\d+) error")


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str | None:
        return "Xin chào"


@strawberry.type
class Mutation:
    @strawberry.mutation
    def touch(self, id: strawberry.ID) -> strawberry.ID:  # an ID! argument: variable coercion
        return id


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """GraphQLView on a free localhost port, served by uvicorn in a background thread."""
    schema = strawberry.Schema(query=Query, mutation=Mutation)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(GraphQLView(schema), lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def audit(url: str, token: str | None = None) -> None:
    """Run every graphql-http server audit against url; all must pass, SHOULDs included."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("node is not on PATH: the graphql-http audits run under Node.js")
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        if npm is None:
            pytest.skip("npm is not on PATH and audit/node_modules is missing")
        subprocess.run([npm, "ci", "--silent"], cwd=AUDIT, check=True, timeout=300)

    command = [node, str(AUDIT / "run.mjs"), url] + (["--token", token] if token else [])
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)

    summary = SUMMARY.search(run.stdout)
    assert summary, f"no summary line:\n{run.stdout}\n{run.stderr}"
    total, ok, warn, error = map(int, summary.groups())
    assert (warn, error) == (0, 0), run.stdout
    assert ok == total >= 61, run.stdout
    assert run.returncode == 0, run.stdout


def test_graphql_http_audits_all_pass(url: str) -> None:
    audit(url)


async def test_the_product_passes_every_audit_on_both_endpoints(dsn: str) -> None:
    """The real app, tokens and all: a cluster's endpoint and the city's /graphql."""
    async with serving(dsn) as api:
        cluster = f"cum-audit-{uuid.uuid4().hex[:6]}"
        await api.store.create_tenant(cluster, "Cụm kiểm tra GraphQL over HTTP")
        auditor = token(dsn, "Kiểm toán viên", [cluster], Role.AUDITOR)
        await asyncio.to_thread(audit, f"{api.url}/clusters/{cluster}/graphql", auditor)
        await asyncio.to_thread(audit, f"{api.url}/graphql", auditor)


async def test_graphiql_without_a_token_and_nothing_else(dsn: str) -> None:
    async with serving(dsn) as api:
        page = await api.http.get("/clusters/cum-xii/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        status, body = await api.post("{ me { person } }", token=None, cluster="cum-xii")
        assert status == 401
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "data" not in body
    async with serving(dsn, production=True) as api:
        page = await api.http.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 401  # no GraphiQL in production: a token or nothing
        assert "graphiql" not in page.text.lower()
