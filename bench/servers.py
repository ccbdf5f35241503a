"""The processes a benchmark talks to: `thidua serve` as a user runs it, the plain
Starlette baseline, the load generator and the subscriber, each in its own process."""

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from thidua.api.tokens import development_token
from thidua.config import Settings, TokenSettings
from thidua.domain.rights import Role

SECRET = "a-benchmark-secret-not-for-production"
PIDS: dict[str, int] = {}  # each running server's process, by its URL
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    """Progress, on stderr: the table and the JSON are the results."""
    print(message, file=sys.stderr, flush=True)


def token(sub: str, clusters: list[str], role: Role, unit: str | None = None) -> str:
    settings = Settings(None, Path(tempfile.gettempdir()), tokens=TokenSettings(secret=SECRET))
    return development_token(settings, sub, clusters, [role], unit, ttl=3600)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def process(args: Sequence[str], ready: str, env: dict[str, str]) -> AsyncIterator[str]:
    """A server process on a free port (`{port}` in args), once `ready` answers 200."""
    port = free_port()
    # Closed below, once the process is gone.
    log = tempfile.NamedTemporaryFile(prefix="thidua-bench-", suffix=".log", delete=False)  # noqa: SIM115
    proc = await asyncio.create_subprocess_exec(
        *(a.format(port=port) for a in args),
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    PIDS[url] = proc.pid
    try:
        await _until_ready(url + ready, proc, log.name)
        yield url
    finally:
        PIDS.pop(url, None)
        if proc.returncode is None:
            # As Ctrl-C, to the process group: uvicorn stops, and py-spy (with --profile)
            # writes its profile without leaving the server it ran behind.
            os.killpg(proc.pid, signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        log.close()
        os.unlink(log.name)


async def _until_ready(url: str, proc: asyncio.subprocess.Process, log: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.returncode is not None:
                raise RuntimeError(f"{url} exited: {_tail(log)}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready: {_tail(log)}")


def _tail(log: str) -> str:
    return Path(log).read_text(errors="replace")[-2000:]


def thidua(dsn: str) -> Any:
    """`thidua serve` on this database, tokens signed with SECRET, with as many worker
    processes as `python -m bench --workers` says (one by default)."""
    env = {
        "DATABASE_URL": dsn,
        "THIDUA_JWT_SECRET": SECRET,
        "THIDUA_DATA_DIR": tempfile.mkdtemp(prefix="thidua-bench-"),
        # An access line a request, as a deployment writes them for its collector.
        "THIDUA_LOG_FORMAT": "json",
    }
    workers = os.environ.get("BENCH_WORKERS", "1")
    args = [sys.executable, "-m", "thidua", "serve", "--port", "{port}", "--workers", workers]
    profiles = os.environ.get("BENCH_PROFILE_DIR")
    if profiles:  # sampled by py-spy, as collapsed stacks (python -m bench --profile DIR)
        out = tempfile.mktemp(prefix="thidua-serve-", suffix=".txt", dir=profiles)
        spy = str(Path(sys.executable).with_name("py-spy"))
        # The workers too: with --workers, they are the parent's children.
        sampling = ["record", "--subprocesses", "--format", "raw", "--rate", "200", "-o", out]
        args = [spy, *sampling, "--", *args]
    return process(args, "/readyz", env)


def plain(dsn: str) -> Any:
    """The baseline: a plain Starlette endpoint over asyncpg (bench/plain.py)."""
    return process([sys.executable, "-m", "bench.plain", dsn, "{port}"], "/healthz", {})


async def run_json(module: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run `python -m module PLAN.json` in its own process; its last stdout line, as JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as plan:
        json.dump(payload, plan)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            plan.name,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    finally:
        os.unlink(plan.name)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def load(plan: dict[str, Any]) -> dict[str, Any]:
    """The load generator's figures; every request must have succeeded."""
    result = await run_json("bench.loadgen", plan)
    if result["failures"]:
        raise RuntimeError(f"{result['failures']} requests failed: {result['first_failure']}")
    return result
