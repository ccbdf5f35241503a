"""Rebuild: a cluster-year's whole log replayed into new generations of the standings and
the audit history (`Projector.rebuild`, as `thidua projections rebuild` runs it), against
reading the same log raw (the floor any projection pays) and the eventsourcing library
replaying the same events into its aggregates (the peer)."""

import asyncio
import time

from bench import peer
from bench.figures import Figure, Run
from bench.fill import fill_year
from bench.servers import log
from thidua.projections.runtime import PROJECTIONS, Projector
from thidua.store import EventStore
from thidua.store.eventstore import read_events

TENANT = "cum-lon"


async def raw_read(store: EventStore, tenant: str) -> float:
    started, position, count = time.perf_counter(), 0, 0
    while True:
        async with store.transaction(tenant) as conn:
            records = await read_events(conn, tenant, position, None, 2000)
        if not records:
            return count / (time.perf_counter() - started)
        count += len(records)
        position = records[-1].position


async def rebuild(store: EventStore, tenant: str, head: int) -> float:
    """Events/s through every projection: the whole log once per projection."""
    projector, took = Projector(store), 0.0
    for projection in PROJECTIONS:
        started = time.perf_counter()
        await projector.rebuild(tenant, projection)
        took += time.perf_counter() - started
    return head / took


async def measure(dsn: str, runs: int, events: int) -> list[Figure]:
    figures = [Figure("rebuild", s, "events/s") for s in ("thidua", "raw read", "eventsourcing")]
    store = await EventStore.open(dsn)
    try:
        started = time.perf_counter()
        head = await fill_year(store, TENANT, events)
        log(f"filled {TENANT} with {head:,} events in {time.perf_counter() - started:.0f} s")
        for run in range(runs):
            figures[0].runs.append(Run(await rebuild(store, TENANT, head)))
            figures[1].runs.append(Run(await raw_read(store, TENANT)))
            figures[2].runs.append(await asyncio.to_thread(peer.replay_rate, dsn, TENANT))
            log(f"rebuild run {run + 1}/{runs} done")
    finally:
        await store.close()
    return figures
