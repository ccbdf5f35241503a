"""The standings' own cost after a score: the CPU the inline projection spends computing a
cluster-year's standings again (`YearInputs.standings`), apart from HTTP and SQL.

    python -m bench.recompute

Plays the demo clusters into a fresh database, folds cum-xii's 2025 events in log order and,
after each score event, computes the standings as the projection does; prints the CPU per
recompute and a digest of every recompute's rows (equal digests: equal standings, so two
versions of the code can be compared on both cost and result).
"""

import asyncio
import hashlib
import json
import time

from bench.scratch import scratch_database
from thidua.demo import load_demo
from thidua.domain.standings import YearInputs, standing_json, standings_year
from thidua.ledger.codec import EventCodec
from thidua.store import EventStore
from thidua.store.eventstore import read_events

CLUSTER, YEAR = "cum-xii", 2025


async def measure() -> None:
    async with scratch_database() as dsn:
        store = await EventStore.open(dsn)
        try:
            await load_demo(store)
            async with store.transaction(CLUSTER) as conn:
                records = await read_events(conn, CLUSTER, 0, None, 100_000)
        finally:
            await store.close()
    codec = EventCodec()
    inputs, cpu, count, digest = YearInputs(), 0.0, 0, hashlib.sha256()
    for record in records:
        if standings_year(record.stream_id) != YEAR:
            continue
        event = codec.decode(record)
        inputs.apply(record.stream_id, event, record.occurred_at)
        if record.stream_id.startswith("scorecard/") and type(event).__name__ == "Scored":
            started = time.process_time()
            rows = inputs.standings()
            cpu += time.process_time() - started
            count += 1
            digest.update(json.dumps([standing_json(r) for r in rows], sort_keys=True).encode())
    print(
        f"{count} recomputes of {CLUSTER} {YEAR}: {cpu / count * 1000:.2f} ms of CPU each, "
        f"rows {digest.hexdigest()[:16]}"
    )


if __name__ == "__main__":
    asyncio.run(measure())
