"""Benchmarks: write, read, rebuild, time travel, subscription lag and many clusters, each
figure the median of several runs (with min and max), each target a ratio to a baseline
measured in the same run on the same PostgreSQL, or a bound. Prints a table and writes JSON.

    python -m bench [--only write read rebuild travel scale soak] [--runs 3] [--seconds 5]
                    [--minutes 30] [--quick]

The soak (30 minutes of steady load, memory sampled) runs only when named: --only soak.

Uses DATABASE_URL, or the embedded server, in fresh databases dropped afterwards.
"""

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import peer, read, rebuild, scale, soak, travel, write
from bench.figures import Figure, Target, table
from bench.scratch import scratch_database
from bench.servers import log

TARGETS = [
    Target(
        "write",
        "score mutation (1 event): thidua",
        "rate",
        at_least=0.25,
        of="score mutation (1 event): raw",
    ),
    Target(
        "write",
        "score mutation (1 event): thidua",
        "rate",
        at_least=2.0,
        of="score mutation (1 event): eventsourcing",
    ),
    Target(
        "write",
        "scorecard mutation (20): thidua",
        "rate",
        at_least=0.5,
        of="scorecard mutation (20): raw",
    ),
    Target(
        "write",
        "scorecard mutation (20): thidua",
        "rate",
        at_least=2.0,
        of="scorecard mutation (20): eventsourcing",
    ),
    Target(
        "read",
        f"standings query, {read.CLIENTS} clients",
        "rate",
        at_least=1.0,
        of="plain Starlette + asyncpg",
    ),
    Target("read", f"standings query, {read.CLIENTS} clients", "p99_ms", below=25),
    Target("rebuild", "thidua", "rate", at_least=100_000),
    Target("travel", "standings at a position (200 per run)", "p99_ms", below=50),
    Target("lag", "commit to subscriber (score load)", "p99_ms", below=100),
]
CASES = ("write", "read", "rebuild", "travel", "scale", "soak")
DEFAULT = CASES[:-1]  # the soak is half an hour: asked for by name


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=CASES, default=list(DEFAULT))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per load run")
    parser.add_argument("--events", type=int, default=1_000_000, help="rebuild's log")
    parser.add_argument("--travel-events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200, help="time-travel reads per run")
    parser.add_argument(
        "--clusters", type=int, nargs=2, default=[2, 2000], help="the scale case's two sizes"
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="the soak's length")
    parser.add_argument("--quick", action="store_true", help="1 run, 2 s, small logs: a smoke test")
    parser.add_argument("--json", type=Path, default=Path("bench/results.json"))
    parser.add_argument(
        "--profile", type=Path, help="run each server under py-spy, its stacks written here"
    )
    parser.add_argument(
        "--workers", default="1", help="`thidua serve --workers` of the servers measured"
    )
    args = parser.parse_args()
    os.environ["BENCH_WORKERS"] = args.workers
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        os.environ["BENCH_PROFILE_DIR"] = str(args.profile.resolve())
    if args.quick:
        args.runs, args.seconds, args.events, args.travel_events = 1, 2.0, 20_000, 5_000
        args.clusters = [2, 20]
        args.minutes = 1.0
    return args


def cases(args: argparse.Namespace) -> dict[str, Callable[[str], Awaitable[list[Figure]]]]:
    return {
        "write": lambda dsn: write.measure(dsn, args.runs, args.seconds),
        "read": lambda dsn: read.measure(dsn, args.runs, args.seconds),
        "rebuild": lambda dsn: rebuild.measure(dsn, args.runs, args.events),
        "travel": lambda dsn: travel.measure(dsn, args.runs, args.travel_events, args.samples),
        "scale": lambda _dsn: scale.figures(args.clusters, args.seconds),
        "soak": lambda _dsn: soak.figures(args.minutes),
    }


def cpu_model() -> str:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor()


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


async def machine(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        postgres = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    cpu = cpu_model()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "psycopg": peer.PSYCOPG_IMPL,
        "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
        "workers": os.environ["BENCH_WORKERS"],
    }


async def main(args: argparse.Namespace) -> int:
    figures: list[Figure] = []
    about: dict[str, Any] = {}
    started = time.perf_counter()
    for name, measure in cases(args).items():
        if name not in args.only:
            continue
        log(f"{name} ...")
        async with scratch_database() as dsn:
            about = about or await machine(dsn)
            found = await measure(dsn)
        log(table(found))  # as each case ends, so a long run's figures are never lost
        figures += found
    by_name = {(f.case, f.subject): f for f in figures}
    every = TARGETS + scale.targets(*args.clusters) + soak.TARGETS
    checked = [t.check(by_name) for t in every if t.case in args.only or t.case == "lag"]
    checked = [c for c in checked if c["value"] is not None]
    print(table(figures))
    print()
    for c in checked:
        print(("met   " if c["met"] else "MISSED"), c["text"])
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "machine": about,
        "seconds": round(time.perf_counter() - started),
        "figures": [f.as_json() for f in figures],
        "targets": checked,
    }
    write_report(args.json, report)
    log(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(arguments())))
