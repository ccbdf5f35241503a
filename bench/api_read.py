"""The dashboard's standings query over HTTP GraphQL against a running `thidua serve`:
requests/s and latency percentiles from this separate process, which reports its CPU.

    thidua serve --demo &
    TOKEN=$(thidua token --sub bench --cluster cum-xii --role dashboard)
    python bench/api_read.py --token "$TOKEN"
"""

import argparse
import asyncio
import statistics
import time

import httpx

QUERY = """{ cluster { year(year: 2025) {
  standings(layer: CITY) { unit rank total decidedBy first } } } }"""


async def client(http: httpx.AsyncClient, path: str, until: float, latencies: list[float]) -> None:
    while time.perf_counter() < until:
        started = time.perf_counter()
        response = await http.post(path, json={"query": QUERY})
        response.raise_for_status()
        latencies.append(time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--cluster", default="cum-xii")
    parser.add_argument("--token", required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    headers = {"authorization": f"Bearer {args.token}"}
    limits = httpx.Limits(max_connections=args.clients)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=args.url, headers=headers, limits=limits) as http:
        path = f"/clusters/{args.cluster}/graphql"
        (await http.post(path, json={"query": QUERY})).raise_for_status()
        cpu, started = time.process_time(), time.perf_counter()
        until = started + args.seconds
        await asyncio.gather(*(client(http, path, until, latencies) for _ in range(args.clients)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{len(latencies) / elapsed:,.0f} req/s over {elapsed:.1f} s, {args.clients} clients;"
        f" p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms;"
        f" load generator CPU {cpu / elapsed:.0%} of one core"
    )


if __name__ == "__main__":
    asyncio.run(main())
