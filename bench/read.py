"""Reads: the dashboard's standings query over HTTP GraphQL from 64 concurrent clients,
against a plain Starlette endpoint returning the same rows from asyncpg as JSON."""

import json
from collections.abc import Mapping

from bench.figures import Figure, Run
from bench.servers import load, plain, thidua, token
from thidua.demo import YEAR, load_demo
from thidua.domain.rights import Role
from thidua.projections.runtime import Projector
from thidua.store import EventStore

CLIENTS = 64
CLUSTER = "cum-xii"
QUERY = """query ($year: Int!) { cluster { year(year: $year) {
  standings(layer: CITY) { unit rank total decidedBy first } } } }"""


def plan(
    url: str, path: str, bearer: str, body: Mapping[str, object], seconds: float
) -> dict[str, object]:
    request = {"path": path, "token": bearer, "body": json.dumps(body, ensure_ascii=False)}
    return {"url": url, "seconds": seconds, "warmup": 1.0, "clients": [[request]] * CLIENTS}


async def measure(dsn: str, runs: int, seconds: float) -> list[Figure]:
    mine = Figure("read", f"standings query, {CLIENTS} clients", "req/s")
    base = Figure("read", "plain Starlette + asyncpg", "req/s")
    store = await EventStore.open(dsn)
    Projector(store).attach()  # the read models as the server would have them
    try:
        await load_demo(store)
    finally:
        await store.close()
    dashboard = token("Màn hình cụm", [CLUSTER], Role.DASHBOARD)
    query = {"query": QUERY, "variables": {"year": YEAR}}
    rows = {"cluster": CLUSTER, "year": YEAR, "layer": "city"}
    for _ in range(runs):
        async with thidua(dsn) as url:
            got = await load(plan(url, f"/clusters/{CLUSTER}/graphql", dashboard, query, seconds))
        mine.runs.append(Run(got["rate"], got["p50_ms"], got["p99_ms"], got["client_cpu"]))
        async with plain(dsn) as url:
            got = await load(plan(url, "/standings", dashboard, rows, seconds))
        base.runs.append(Run(got["rate"], got["p50_ms"], got["p99_ms"], got["client_cpu"]))
    return [mine, base]
