"""The HTTP server over a real socket: liveness, readiness, and the embedded default."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn

from api_client import settings
from thidua.bootstrap import Runtime
from thidua.projections.runtime import Projector
from thidua.store import EventStore
from thidua.web.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def serving(dsn: str) -> AsyncIterator[str]:
    """The app on a real port, as `thidua serve` runs it; yields its base URL."""
    store = await EventStore.open(dsn)
    runtime = Runtime(settings(dsn), dsn, store, Projector(store))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await store.close()


async def test_health_and_readiness(dsn: str) -> None:
    async with serving(dsn) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "worker": os.getpid()}
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"


async def test_not_ready_until_migrated(new_database: Callable[[], Awaitable[str]]) -> None:
    dsn = await new_database()
    async with serving(dsn) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "MIGRATIONS_PENDING"
        assert "thidua db migrate" in ready.json()["reason"]


async def test_not_ready_when_the_database_is_gone() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    async with serving(dsn) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "DATABASE_UNAVAILABLE"


def test_serve_runs_an_embedded_database_and_stops_it(tmp_path: Path) -> None:
    """What a newcomer does: no DATABASE_URL, `thidua serve`, then Ctrl-C."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["THIDUA_DATA_DIR"] = str(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "thidua", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        assert ready.json()["status"] == "ready"
        assert (tmp_path / "pgdata" / "postmaster.pid").exists()
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "embedded server still running"
    assert "Traceback" not in output


def wait_ready(url: str, server: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, "server exited early"
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not become ready in 90 s")
