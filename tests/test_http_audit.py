"""GraphQLView passes every graphql-http server audit (GraphQL over HTTP, MUSTs and SHOULDs).

A tiny schema is served by uvicorn on a real port and `node audit/run.mjs` audits it.
"""

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import strawberry
import uvicorn

from thidua.api.http import GraphQLView

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


def test_graphql_http_audits_all_pass(url: str) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("node is not on PATH: the graphql-http audits run under Node.js")
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        if npm is None:
            pytest.skip("npm is not on PATH and audit/node_modules is missing")
        subprocess.run([npm, "ci", "--silent"], cwd=AUDIT, check=True, timeout=300)

    run = subprocess.run(
        [node, str(AUDIT / "run.mjs"), url], capture_output=True, text=True, timeout=120
    )

    summary = SUMMARY.search(run.stdout)
    assert summary, f"no summary line:\n{run.stdout}\n{run.stderr}"
    total, ok, warn, error = map(int, summary.groups())
    assert (warn, error) == (0, 0), run.stdout
    assert ok == total >= 61, run.stdout
    assert run.returncode == 0, run.stdout
