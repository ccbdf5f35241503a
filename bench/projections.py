"""Projections: rebuild rate on a large log, and time-travel latency on a cluster-year.

    python bench/projections.py [--events 1000000] [--travel-events 100000] [--samples 200]

Uses DATABASE_URL, or the embedded server, in a fresh database dropped afterwards. Each
cluster-year (30 units, the city's criteria) is filled with real domain events: every
unit's scorecard scored and corrected in all three layers through the aggregate's own
`score`, appended in chunks as a busy year would leave them. Then:

- rebuild: `Projector.rebuild` of each projection, events/s, against reading the same
  log raw (the floor any projection pays);
- time travel: standings as of random positions of the smaller year, p50 and p99.
"""

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from scratch import scratch_database

from thidua.demo import CITY_BOARD, CITY_CRITERIA, ensure_template
from thidua.domain.errors import RuleViolation
from thidua.domain.membership import Membership
from thidua.domain.rights import Actor, Role
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import Layer, Scorecard
from thidua.projections import reads
from thidua.projections.runtime import PROJECTIONS, Projector
from thidua.service.command import Calendar, Command
from thidua.service.emulation import Emulation
from thidua.store import EventStore, Metadata
from thidua.store.codec import EventCodec
from thidua.store.eventstore import read_events

YEAR = 2025
UNITS = [f"dv-{i:02d}" for i in range(1, 31)]
CHUNK = 500  # events per append: a scorecard's burst of corrections
META = Metadata(actor="Cán bộ đo tải", role="member_officer", reason="đo tốc độ")


async def fill_year(store: EventStore, tenant: str, events: int) -> int:
    """A cluster-year with about `events` events; returns the log's head."""
    clock = Calendar(datetime(YEAR, 1, 10, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    await ensure_template(store, service)
    await service.register_cluster(CITY_BOARD, tenant, "Cụm thi đua đo tải")
    members = [Membership(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in UNITS]
    await service.open_year(Command(tenant, CITY_BOARD), YEAR, members, UNITS[0], [UNITS[1]])
    secretariat = Command(tenant, Actor("Văn phòng cụm", Role.SECRETARIAT, UNITS[0]))
    clock.on(date(YEAR, 2, 20))
    template = "tieu-chi-cum-khoi"
    await service.adopt_criteria(secretariat, YEAR, template, "2025.1", CITY_CRITERIA)
    codec, rng, rules = EventCodec(), random.Random(7), YearRules()
    scorable = sorted(CITY_CRITERIA.scorable().items())
    cards = {u: Scorecard(year=YEAR, unit=u) for u in UNITS}
    versions = dict.fromkeys(UNITS, 0)
    written, at = (await store.head(tenant))[0], datetime(YEAR, 3, 1, 2, tzinfo=UTC)
    while written < events:
        unit = rng.choice(UNITS)
        card = cards[unit]
        while len(card.pending_events) < CHUNK:
            code, criterion = rng.choice(scorable)
            top = criterion.max_points or Decimal(5)
            points = Decimal(rng.randint(0, int(top * 4))) / 4
            layer = rng.choices(list(Layer), weights=(6, 3, 1))[0]
            at += timedelta(seconds=20)
            try:
                card.score(layer, CITY_CRITERIA, code, points, "Đạt", ["Báo cáo"], at, rules)
            except RuleViolation:
                continue
        pending = card.collect_events()
        await store.append(
            tenant, card.id, versions[unit], [codec.encode(e) for e in pending], META
        )
        versions[unit] += len(pending)
        written += len(pending)
    return (await store.head(tenant))[0]


async def raw_read_rate(store: EventStore, tenant: str) -> float:
    started, position, count = time.perf_counter(), 0, 0
    while True:
        async with store.transaction(tenant) as conn:
            records = await read_events(conn, tenant, position, None, 2000)
        if not records:
            return count / (time.perf_counter() - started)
        count += len(records)
        position = records[-1].position


async def rebuild_rates(store: EventStore, tenant: str, head: int) -> dict[str, float]:
    projector, rates = Projector(store), {}
    for projection in PROJECTIONS:
        started = time.perf_counter()
        await projector.rebuild(tenant, projection)
        rates[projection.name] = head / (time.perf_counter() - started)
    return rates


async def travel_latencies(store: EventStore, tenant: str, head: int, samples: int) -> list[float]:
    rng, took = random.Random(11), []
    for _ in range(samples):
        position = rng.randint(1, head)
        started = time.perf_counter()
        async with store.transaction(tenant) as conn:
            await reads.standings_at(conn, tenant, YEAR, position)
        took.append((time.perf_counter() - started) * 1000)
    return sorted(took)


async def main(events: int, travel_events: int, samples: int) -> None:
    async with scratch_database() as dsn:
        store = await EventStore.open(dsn)
        try:
            await run(store, events, travel_events, samples)
        finally:
            await store.close()


async def run(store: EventStore, events: int, travel_events: int, samples: int) -> None:
    started = time.perf_counter()
    big = await fill_year(store, "cum-lon", events)
    print(f"filled cum-lon with {big:,} events in {time.perf_counter() - started:.0f} s")
    raw = await raw_read_rate(store, "cum-lon")
    print(f"read raw (baseline)        {raw:10,.0f} events/s")
    rates = await rebuild_rates(store, "cum-lon", big)
    for name, rate in rates.items():
        print(f"rebuild {name:18} {rate:10,.0f} events/s  ({rate / raw:.2f} of raw read)")
    both = 1 / sum(1 / r for r in rates.values())
    print(f"rebuild both              {both:10,.0f} events/s  ({both / raw:.2f} of raw read)")

    small = await fill_year(store, "cum-vua", travel_events)
    await rebuild_rates(store, "cum-vua", small)
    took = await travel_latencies(store, "cum-vua", small, samples)
    p50, p99 = statistics.median(took), took[int(len(took) * 0.99) - 1]
    print(
        f"time travel on {small:,} events: p50 {p50:.1f} ms, p99 {p99:.1f} ms,"
        f" max {took[-1]:.1f} ms ({samples} random positions)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--travel-events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.travel_events, args.samples))
