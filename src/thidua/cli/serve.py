"""`thidua serve`: the parent prepares the database once, then one or more worker processes
serve the same socket, each with its own runtime on the same database.

Nothing a worker keeps in memory needs the others: kept answers and known versions are
dropped on the log's notifications (LISTEN/NOTIFY), which reach every worker as they reach
every instance; the projection runner and the checkpoint signer take the database's locks.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from thidua.bootstrap import open_runtime
from thidua.config import Settings
from thidua.db.migrate import migrate
from thidua.db.server import database_url
from thidua.db.status import refuse_unsafe_login
from thidua.demo import load_demo
from thidua.telemetry import logs, traces


def configure_logging() -> None:
    """The CLI's logging, in the parent and again in each worker (a new interpreter)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call


def workers(text: str) -> int:
    """`--workers`: a count, or 0 / `auto` for the cores this process may run on."""
    if text == "auto" or text == "0":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError("số tiến trình phải là số nguyên không âm hoặc auto")
    return int(text)


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings.telemetry.log_format, settings.telemetry.log_level)
    if settings.production and settings.database_url is not None:
        await refuse_unsafe_login(settings.database_url)
    async with database_url(settings) as dsn:
        if settings.database_url is None:
            await migrate(dsn)  # the embedded server; a configured one migrates on its own
        shared = replace(settings, database_url=dsn)  # every worker opens this database
        if args.demo:
            async with open_runtime(shared) as runtime:
                await load_demo(runtime.store)
        # Development keys are made on first use: once here, not by workers racing.
        settings.token_secret()
        settings.log_key()
        # Logging is ours (telemetry.logs), and so is the access log: uvicorn's would
        # carry the raw path and query string.
        config = uvicorn.Config(
            Worker(shared),
            host=args.host,
            port=args.port,
            lifespan="on",
            workers=args.workers,
            log_config=None,
            access_log=False,
        )
        if args.workers == 1:
            with signals_after_serving_ignored():
                await uvicorn.Server(config).serve()
        else:
            # As uvicorn does it: one socket, bound here, shared by the workers it spawns
            # and restarts when one dies; SIGINT or SIGTERM stops them all.
            supervisor = Multiprocess(config, sockets=[config.bind_socket()])
            await asyncio.to_thread(supervisor.run)
            if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
                return STARTUP_FAILURE  # a worker could not start: it said why, and all stopped
    return 0


@contextlib.contextmanager
def signals_after_serving_ignored() -> Iterator[None]:
    """uvicorn stops gracefully on SIGINT or SIGTERM, then raises the signal again for the
    handler it found: let that be a no-op, so the embedded server is still stopped after
    it and the exit is clean (0)."""
    stops = (signal.SIGINT, signal.SIGTERM)
    found = {stop: signal.signal(stop, signal.SIG_IGN) for stop in stops}
    try:
        yield
    finally:
        for stop, handler in found.items():
            signal.signal(stop, handler)


class Worker:
    """One worker's application: its runtime opened when uvicorn starts it (the ASGI
    lifespan) and closed when it stops. Picklable until started, so it can be spawned."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self.app is not None, "served before its lifespan started"
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with contextlib.AsyncExitStack() as stack:
            try:
                self.app = await stack.enter_async_context(running(self.settings))
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[ASGIApp]:
    """The app over its own runtime, with the background work every worker does."""
    from thidua.web.app import create_app

    # A spawned worker is a new interpreter: its logging and traces are set up here.
    async with watched(settings), open_runtime(settings, replicas=True) as runtime:
        app = create_app(runtime)
        # Catches up after a restart or a failed inline run, and rebuilds a new version.
        runner = asyncio.create_task(runtime.projector.run(), name="thidua-projections")
        signer = asyncio.create_task(
            app.state.ledger.run(settings.log.interval), name="thidua-checkpoints"
        )
        try:
            yield app
        finally:
            for task in (runner, signer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@contextlib.asynccontextmanager
async def watched(settings: Settings) -> AsyncIterator[None]:
    """Log lines as configured; traces exported while the worker runs, if configured."""
    logs.configure(settings.telemetry.log_format, settings.telemetry.log_level)
    tracing = traces.exporting(settings.telemetry.traces, os.environ)
    if tracing is not None:
        traces.start(tracing)
        logging.getLogger("thidua").info("traces exported (%s)", settings.telemetry.traces)
    try:
        yield
    finally:
        traces.stop()
