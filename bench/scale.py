"""Many clusters in one deployment: the same figures at 2 clusters and at 2,000, three
years each (10 units, about 140 events a year), so what grows with the number of clusters
shows.

    python -m bench.scale [--clusters 2 2000] [--seconds 5]

For each size, in a fresh database: the clusters are filled (one cluster-year played
through the real commands, its events copied to every cluster and year), then
- rebuild: `thidua projections rebuild` of every cluster, seconds (and per cluster);
- idle: the server's CPU over 10 s with nothing asked of it;
- reads: the dashboards' standings query, 16 clients round robin over every cluster;
- writes: 200 score mutations one after another, p50 / p99;
- memory: the server's resident memory after one score written to every cluster.
Targets: each figure at the largest size within 10% of the smallest (rebuild per cluster),
and the server under 512 MB.
"""

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.figures import Figure, Run, Target
from bench.scratch import scratch_database
from bench.servers import PIDS, SECRET, load, log, thidua, token
from thidua.demo import DEMO, ensure_template, play_year
from thidua.domain.rights import Role
from thidua.ledger.records import Metadata, NewEvent, RecordedEvent
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar
from thidua.store import EventStore

UNITS = [(f"dv-{i}", f"Đơn vị số {i}") for i in range(1, 11)]
YEARS = (2024, 2025, 2026)  # 2026 is this year: copied only up to its first submission
OPEN = 2026
TEMPLATE = "cum-mau"
FILLERS = 8
READERS = 16
QUERY = """query ($year: Int!) { cluster { year(year: $year) {
  standings(layer: CITY) { unit rank total decidedBy first } } } }"""
SCORE = """mutation ($unit: String!, $points: Decimal!) { selfScore(input: {year: 2026,
  unit: $unit, criterion: "A1", points: $points, explanation: "Đo tải", evidence: ["BC"]})
  { version } }"""

Group = tuple[str, list[NewEvent], dict[str, Any]]  # one append: stream, events, metadata


async def template(store: EventStore) -> list[RecordedEvent]:
    """One cluster-year of 2025, played through the commands."""
    clock = Calendar(datetime(2025, 1, 5, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    await ensure_template(service)
    await store.create_tenant(TEMPLATE, "Cụm mẫu")
    await play_year(service, clock, replace(DEMO[0], code=TEMPLATE, units=UNITS, deputies=1))
    return await store.read_log(TEMPLATE, 0, 100_000)


def groups(events: Sequence[RecordedEvent], year: int) -> list[Group]:
    """The year's appends, the 2025 in every stream, payload and date made `year`."""
    found: list[Group] = []
    for event in events:
        if year == OPEN and event.event_type.endswith("SelfAssessmentSubmitted"):
            break  # this year's self-assessments are still open
        stream = event.stream_id.replace("2025", str(year))
        payload = event.payload.replace(b"2025", str(year).encode())
        meta = json.loads(json.dumps(event.metadata_json).replace("2025", str(year)))
        new = NewEvent(event.event_type, payload, event.event_version)
        last = found[-1] if found else None
        if last and last[0] == stream and last[2]["correlation_id"] == meta["correlation_id"]:
            last[1].append(new)
        else:
            found.append((stream, [new], meta))
    return found


async def fill(store: EventStore, clusters: list[str], plan: list[Group]) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for cluster in clusters:
        queue.put_nowait(cluster)

    async def filler() -> None:
        while not queue.empty():
            cluster = queue.get_nowait()
            await store.create_tenant(cluster, f"Cụm {cluster}")
            versions: dict[str, int] = {}
            for stream, events, meta in plan:
                expected = versions.get(stream, 0)
                await store.append(cluster, stream, expected, events, Metadata.from_json(meta))
                versions[stream] = expected + len(events)

    await asyncio.gather(*(filler() for _ in range(FILLERS)))


def rebuild(dsn: str, *extra: str) -> float:
    """Seconds `thidua projections rebuild` takes (with --stale: nothing to do, what the
    command costs whatever the clusters)."""
    started = time.perf_counter()
    env = {**os.environ, "DATABASE_URL": dsn}
    subprocess.run(
        [sys.executable, "-m", "thidua", "projections", "rebuild", "--jobs", "4", *extra],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def resident_mb(pid: int) -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024 if found else 0.0


async def signed_all(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetch("SELECT * FROM due_checkpoints(1)"):  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def once(url: str, plan: list[list[dict[str, str]]]) -> None:
    """Each request of each client, once."""
    async with aiohttp.ClientSession(url) as http:

        async def client(requests: list[dict[str, str]]) -> None:
            for request in requests:
                headers = {
                    "authorization": f"Bearer {request['token']}",
                    "content-type": "application/json",
                }
                async with http.post(request["path"], data=request["body"], headers=headers) as r:
                    await r.read()

        await asyncio.gather(*(client(requests) for requests in plan))


def officer(clusters: list[str]) -> str:
    return token("Cán bộ đo tải", clusters, Role.MEMBER_OFFICER, "dv-3")


async def measure(size: int, seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = {"clusters": size}
    clusters = [f"cum-{n:04d}" for n in range(size)]
    async with scratch_database() as dsn:
        store = await EventStore.open(dsn)
        try:
            played = await template(store)
            plan = [g for year in YEARS for g in groups(played, year)]
            started = time.perf_counter()
            await fill(store, clusters, plan)
            log(f"{size} clusters filled in {time.perf_counter() - started:.0f} s")
        finally:
            await store.close()
        took = rebuild(dsn)
        fixed = rebuild(dsn, "--stale")
        figures["rebuild_s"] = took
        figures["rebuild_ms_per_cluster"] = 1000 * (took - fixed) / size
        async with thidua(dsn) as url:
            pid = PIDS[url]
            figures["memory_start_mb"] = resident_mb(pid)
            # The server first signs every cluster its log grew in (all of them, filled):
            # work that follows change, done once; idle is measured after it.
            started = time.perf_counter()
            await signed_all(dsn)
            figures["first_signing_s"] = time.perf_counter() - started
            before = cpu_seconds(pid)
            await asyncio.sleep(10)
            figures["idle_cpu_percent"] = 100 * (cpu_seconds(pid) - before) / 10
            dashboard = token("Màn hình", ["*"], Role.DASHBOARD)
            reads = [
                {
                    "path": f"/clusters/{c}/graphql",
                    "token": dashboard,
                    "body": json.dumps({"query": QUERY, "variables": {"year": 2025}}),
                }
                for c in clusters
            ]
            plan_reads = [reads[i::READERS] or reads for i in range(READERS)]
            await once(url, plan_reads)  # every dashboard once: they refresh all day long
            got = await load({"url": url, "seconds": seconds, "warmup": 1.0, "clients": plan_reads})
            figures["reads"] = {k: got[k] for k in ("rate", "p50_ms", "p99_ms")}
            scorer = officer(["*"])
            writes = [
                {
                    "path": f"/clusters/{clusters[n % size]}/graphql",
                    "token": scorer,
                    "body": json.dumps(
                        {"query": SCORE, "variables": {"unit": "dv-3", "points": str(n % 20)}}
                    ),
                }
                for n in range(200)
            ]
            got = await load({"url": url, "seconds": seconds, "warmup": 0.5, "clients": [writes]})
            figures["writes"] = {k: got[k] for k in ("rate", "p50_ms", "p99_ms")}
            every = [{**writes[0], "path": f"/clusters/{c}/graphql"} for c in clusters]
            await load(
                {
                    "url": url,
                    "seconds": max(2.0, size / 40),
                    "warmup": 0.0,
                    "clients": [every[i::8] or every for i in range(8)],
                }
            )
            figures["memory_after_writes_mb"] = resident_mb(pid)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--clusters", type=int, nargs="+", default=[2, 2000])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path, default=Path("bench/results-scale.json"))
    args = parser.parse_args()
    assert SECRET  # the server signs and checks tokens with the benchmark's secret
    results = [asyncio.run(measure(size, args.seconds)) for size in args.clusters]
    for found in results:
        print(json.dumps(found, ensure_ascii=False))
    args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()


async def figures(sizes: Sequence[int], seconds: float) -> list[Figure]:
    """The scale case of `python -m bench`: each size's figures, named by its size."""
    found: list[Figure] = []
    for size in sizes:
        got = await measure(size, seconds)
        name = f"{size} clusters"
        reads, writes = got["reads"], got["writes"]
        found += [
            Figure(
                "scale",
                f"dashboards round robin, {name}",
                "req/s",
                [Run(reads["rate"], reads["p50_ms"], reads["p99_ms"])],
            ),
            Figure(
                "scale",
                f"score mutations one by one, {name}",
                "req/s",
                [Run(writes["rate"], writes["p50_ms"], writes["p99_ms"])],
            ),
            Figure("scale", f"idle CPU, {name}", "% of a core", [Run(got["idle_cpu_percent"])]),
            Figure(
                "scale", f"rebuild per cluster, {name}", "ms", [Run(got["rebuild_ms_per_cluster"])]
            ),
            Figure(
                "scale",
                f"memory after a write to each, {name}",
                "MB",
                [Run(got["memory_after_writes_mb"])],
            ),
        ]
    return found


def targets(small: int, large: int) -> list[Target]:
    """Each figure at the large size within 10% of the small size's; memory under 512 MB."""
    at = f"{large} clusters"
    of = f"{small} clusters"
    return [
        Target(
            "scale",
            f"dashboards round robin, {at}",
            "rate",
            at_least=0.9,
            of=f"dashboards round robin, {of}",
        ),
        Target(
            "scale",
            f"dashboards round robin, {at}",
            "p99_ms",
            below=1.1,
            of=f"dashboards round robin, {of}",
        ),
        Target(
            "scale",
            f"score mutations one by one, {at}",
            "p50_ms",
            below=1.1,
            of=f"score mutations one by one, {of}",
        ),
        Target(
            "scale",
            f"score mutations one by one, {at}",
            "p99_ms",
            below=1.1,
            of=f"score mutations one by one, {of}",
        ),
        Target("scale", f"idle CPU, {at}", "rate", below=1.0),
        Target(
            "scale",
            f"rebuild per cluster, {at}",
            "rate",
            below=1.1,
            of=f"rebuild per cluster, {of}",
        ),
        Target("scale", f"memory after a write to each, {at}", "rate", below=512),
    ]
