"""Append rate of the event store: one tenant vs 16 tenants, 16 concurrent writers each time.

    python bench/append_rate.py [--seconds 5] [--runs 3]

Uses DATABASE_URL, or the embedded server, in a fresh database dropped afterwards.
Each append is one event on the writer's own stream, as a score change would be.
Prints the median, min and max events/s over the runs.
"""

import argparse
import asyncio
import statistics
import time
import uuid

from scratch import scratch_database

from thidua.store import EventStore, Metadata, NewEvent

WRITERS = 16
META = Metadata(actor="bench", role="member_officer", reason="đo tốc độ ghi")
EVENT = NewEvent(
    "bench:Scored", b'{"criterion":"A1","points":{"_type_":"decimal_str","_data_":"27.25"}}'
)


async def run_case(store: EventStore, tenants: list[str], seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    counts = [0] * WRITERS

    async def writer(i: int) -> None:
        tenant, stream, version = tenants[i % len(tenants)], str(uuid.uuid4()), 0
        while time.perf_counter() < deadline:
            await store.append(tenant, stream, version, [EVENT], META)
            version += 1
        counts[i] = version

    started = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    return sum(counts) / (time.perf_counter() - started)


def report(label: str, rates: list[float], runs: int, seconds: float) -> None:
    print(
        f"{label:28} median {statistics.median(rates):8.0f} events/s"
        f"  (min {min(rates):.0f}, max {max(rates):.0f}, {runs} runs of {seconds} s)"
    )


async def main(seconds: float, runs: int) -> None:
    async with scratch_database() as dsn:
        store = await EventStore.open(dsn, max_size=WRITERS)
        try:
            for label, count in [
                ("1 tenant, 16 writers", 1),
                ("16 tenants, 1 writer each", 16),
            ]:
                rates = []
                for _ in range(runs):
                    tenants = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(count)]
                    for tenant in tenants:
                        await store.create_tenant(tenant, "Cụm đo tốc độ")
                    rates.append(await run_case(store, tenants, seconds))
                report(label, rates, runs, seconds)
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.runs))
