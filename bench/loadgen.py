"""The load generator, in its own process: closed-loop clients (aiohttp) posting their
requests in turn for a while, then one JSON line on stdout: requests/s, latency
percentiles, failures, and the CPU this process used, so a saturated client shows.

    python -m bench.loadgen PLAN.json

PLAN: {"url": ..., "seconds": ..., "warmup": ..., "clients": [[{"path", "token", "body"}...]]}.
A request fails unless it is answered 200 without GraphQL errors.
"""

import asyncio
import time
from typing import Any

import aiohttp

from bench.figures import percentiles_ms, run_plan


async def client(
    http: aiohttp.ClientSession,
    requests: list[dict[str, str]],
    until: float,
    measure_from: float,
    taken: list[float],
    failures: list[str],
) -> None:
    turn = 0
    while (started := time.perf_counter()) < until:
        request = requests[turn % len(requests)]
        turn += 1
        headers = {
            "authorization": f"Bearer {request['token']}",
            "content-type": "application/json",
        }
        async with http.post(request["path"], data=request["body"], headers=headers) as response:
            body = await response.read()
        if response.status != 200 or b'"errors"' in body:
            failures.append(f"{response.status} {body[:300]!r}")
        elif started >= measure_from:
            taken.append(time.perf_counter() - started)


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    clients: list[list[dict[str, str]]] = plan["clients"]
    connector = aiohttp.TCPConnector(limit=len(clients))
    taken: list[float] = []
    failures: list[str] = []
    async with aiohttp.ClientSession(plan["url"], connector=connector) as http:
        start = time.perf_counter()
        measure_from = start + plan.get("warmup", 1.0)
        until = measure_from + plan["seconds"]
        cpu_start = 0.0

        async def mark() -> None:
            nonlocal cpu_start
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            cpu_start = time.process_time()

        await asyncio.gather(
            mark(), *(client(http, c, until, measure_from, taken, failures) for c in clients)
        )
        elapsed = time.perf_counter() - measure_from
        cpu = time.process_time() - cpu_start
    p50, p99 = percentiles_ms(taken)
    return {
        "requests": len(taken),
        "rate": len(taken) / elapsed,
        "p50_ms": p50,
        "p99_ms": p99,
        "client_cpu": cpu / elapsed,
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
    }


if __name__ == "__main__":
    run_plan(run)
