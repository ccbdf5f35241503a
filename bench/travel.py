"""Time travel: a cluster-year's standings as of random positions of its log, as a
dashboard's `standings(atPosition:)` reads them (rebuilt read models, no cache)."""

import random
import time

from bench.figures import Figure, Run, percentiles_ms
from bench.fill import YEAR, fill_year
from bench.servers import log
from thidua.projections import reads
from thidua.projections.runtime import PROJECTIONS, Projector
from thidua.store import EventStore

TENANT = "cum-vua"


async def measure(dsn: str, runs: int, events: int, samples: int) -> list[Figure]:
    figure = Figure("travel", f"standings at a position ({samples} per run)", "reads/s")
    store = await EventStore.open(dsn)
    try:
        head = await fill_year(store, TENANT, events)
        projector = Projector(store)
        for projection in PROJECTIONS:
            await projector.rebuild(TENANT, projection)
        log(f"filled {TENANT} with {head:,} events")
        rng = random.Random(11)
        for _ in range(runs):
            took = []
            for _ in range(samples):
                position = rng.randint(1, head)
                started = time.perf_counter()
                async with store.transaction(TENANT) as conn:
                    await reads.standings_at(conn, TENANT, YEAR, position)
                took.append(time.perf_counter() - started)
            figure.runs.append(Run(samples / sum(took), *percentiles_ms(took)))
    finally:
        await store.close()
    return [figure]
