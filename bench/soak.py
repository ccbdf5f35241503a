"""A soak: `thidua serve` under a steady mix of dashboard reads and score writes for a long
while (30 minutes by default), its resident memory sampled all along; memory must stay
flat once warm (every cache the server keeps has a bound).

    python -m bench --only soak [--minutes 30]
    python -m bench.soak [--minutes 30] [--clusters 20]

The load runs in rounds of about a minute (a load generator process each); the server's
RSS is read every few seconds. The first fifth of the run is warm-up (caches filling, the
allocator settling); the figure is the growth from the end of warm-up to the end, which
the target bounds.
"""

import argparse
import asyncio
import json
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.figures import Figure, Run, Target
from bench.scale import resident_mb
from bench.scratch import scratch_database
from bench.servers import PIDS, SECRET, load, log, thidua, token
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, ensure_template
from thidua.domain.commands import AdoptCriteria, MemberGiven, OpenYear
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import Emulation
from thidua.service.envelope import Envelope
from thidua.store import EventStore

GROWTH_MB = 32.0  # the bound on growth after warm-up, whatever the length of the run
SAMPLE = 5.0  # seconds between RSS samples
ROUND = 60.0  # seconds of load per load-generator process
READERS, WRITERS = 8, 2
UNITS = ("dv-1", "dv-2", "dv-3")
QUERY = """query ($year: Int!) { cluster { year(year: $year) {
  standings(layer: SELF) { unit rank total } } } }"""
SCORE = """mutation ($year: Int!, $code: String!, $points: Decimal!) { selfScore(input:
  {year: $year, unit: "dv-3", criterion: $code, points: $points, explanation: "Đo lâu",
  evidence: ["BC"]}) { version } }"""


async def open_clusters(dsn: str, count: int) -> tuple[list[str], int]:
    """Clusters with this year open and the city's criteria adopted; and the year."""
    store = await EventStore.open(dsn)
    try:
        service = Emulation(store)
        year = service.today().year
        await ensure_template(service)
        clusters = [f"cum-lau-{n:03d}" for n in range(count)]
        members = tuple(MemberGiven(u, f"Đơn vị {u}", date(year, 1, 1)) for u in UNITS)
        for cluster in clusters:
            await store.create_tenant(cluster, f"Cụm đo lâu {cluster}")
            board = Envelope(cluster, CITY_BOARD.caller())
            await service.handle(board, OpenYear(year, members, UNITS[0]))
            secretariat = Envelope(cluster, Actor("Văn phòng", Role.SECRETARIAT, UNITS[0]).caller())
            adopted = AdoptCriteria(year, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
            await service.handle(secretariat, adopted)
    finally:
        await store.close()
    return clusters, year


def plan(clusters: list[str], year: int) -> list[list[dict[str, str]]]:
    """Readers round robin over every cluster's standings; writers scoring every cluster."""
    dashboard = token("Màn hình", ["*"], Role.DASHBOARD)
    officer = token("Cán bộ đo lâu", ["*"], Role.MEMBER_OFFICER, "dv-3")
    reads = [
        {
            "path": f"/clusters/{c}/graphql",
            "token": dashboard,
            "body": json.dumps({"query": QUERY, "variables": {"year": year}}),
        }
        for c in clusters
    ]
    codes = ("A1", "A2", "A3", "B1", "B2")
    writes = [
        {
            "path": f"/clusters/{clusters[n % len(clusters)]}/graphql",
            "token": officer,
            "body": json.dumps(
                {
                    "query": SCORE,
                    "variables": {
                        "year": year,
                        "code": codes[n % len(codes)],
                        "points": str(n % 5),
                    },
                }
            ),
        }
        for n in range(len(clusters) * len(codes))
    ]
    readers = [reads[i::READERS] or reads for i in range(READERS)]
    writers = [writes[i::WRITERS] or writes for i in range(WRITERS)]
    return readers + writers


async def sample(pid: int, samples: list[tuple[float, float]], started: float) -> None:
    while True:
        samples.append((time.perf_counter() - started, resident_mb(pid)))
        await asyncio.sleep(SAMPLE)


async def measure(minutes: float, clusters: int = 20) -> dict[str, Any]:
    """The soak's figures: RSS samples (seconds, MB), requests served, and the growth."""
    assert SECRET
    seconds = minutes * 60
    async with scratch_database() as dsn:
        names, year = await open_clusters(dsn, clusters)
        clients = plan(names, year)
        async with thidua(dsn) as url:
            pid = PIDS[url]
            samples: list[tuple[float, float]] = []
            started = time.perf_counter()
            sampler = asyncio.create_task(sample(pid, samples, started))
            served, rounds = 0, 0
            try:
                while (left := seconds - (time.perf_counter() - started)) > 1:
                    got = await load(
                        {"url": url, "seconds": min(ROUND, left), "warmup": 0.0, "clients": clients}
                    )
                    served += got["requests"]
                    rounds += 1
                    log(
                        f"soak: {time.perf_counter() - started:5.0f} s, {got['rate']:,.0f} req/s,"
                        f" RSS {resident_mb(pid):.0f} MB"
                    )
            finally:
                sampler.cancel()
            samples.append((time.perf_counter() - started, resident_mb(pid)))
    return {"minutes": minutes, "requests": served, "samples": samples, **growth(samples)}


def growth(samples: list[tuple[float, float]]) -> dict[str, float]:
    """RSS at the end of warm-up (the first fifth) and at the end, each the median of the
    samples around it, and the difference."""
    end = samples[-1][0]
    warm = [mb for at, mb in samples if 0.15 * end <= at <= 0.25 * end] or [samples[0][1]]
    last = [mb for at, mb in samples if at >= 0.9 * end] or [samples[-1][1]]
    after_warmup, final = statistics.median(warm), statistics.median(last)
    return {"warm_mb": after_warmup, "final_mb": final, "growth_mb": final - after_warmup}


async def figures(minutes: float) -> list[Figure]:
    """The soak case of `python -m bench`."""
    got = await measure(minutes)
    rate = got["requests"] / (minutes * 60)
    return [
        Figure("soak", f"mixed load, {minutes:g} min", "req/s", [Run(rate)]),
        Figure("soak", "RSS when warm", "MB", [Run(got["warm_mb"])]),
        Figure("soak", "RSS growth after warm-up", "MB", [Run(got["growth_mb"])]),
    ]


TARGETS = [Target("soak", "RSS growth after warm-up", "rate", below=GROWTH_MB)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--json", type=Path, default=Path("bench/results-soak.json"))
    args = parser.parse_args()
    got = asyncio.run(measure(args.minutes, args.clusters))
    met = got["growth_mb"] < GROWTH_MB
    said = "met   " if met else "MISSED"
    print(
        f"{said} soak: RSS growth after warm-up = {got['growth_mb']:.1f} MB"
        f" (target < {GROWTH_MB:g}); {got['warm_mb']:.0f} -> {got['final_mb']:.0f} MB,"
        f" {got['requests']:,} requests in {args.minutes:g} min"
    )
    args.json.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n")
    raise SystemExit(0 if met else 1)


if __name__ == "__main__":
    main()
