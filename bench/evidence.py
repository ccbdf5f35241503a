"""The auditor's evidence at scale: a cluster-year of about N events exported (with a
signed checkpoint) and verified offline by `thidua-verify`; the file's size and each time.

    python -m bench.evidence [--events 100000]
"""

import argparse
import asyncio
import gzip
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.fill import YEAR, fill_year
from bench.scratch import scratch_database
from bench.servers import log
from thidua.ledger import evidence, note
from thidua.projections.runtime import Projector
from thidua.service.evidence import Evidence
from thidua.service.ledger import Ledger
from thidua.service.reads import Reads
from thidua.store import EventStore

TENANT = "cum-bang-chung"


def verify_offline(evidence_file: Path, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thidua.ledger.cli", str(evidence_file), "--key", key],
        capture_output=True,
        text=True,
        check=False,
    )


async def measure(events: int, folder: Path) -> None:
    signer, public = note.generate_key("thidua.bench")
    async with scratch_database() as dsn:
        store = await EventStore.open(dsn)
        Projector(store).attach()  # the standings the server publishes, as it serves
        try:
            head = await fill_year(store, TENANT, events)
            log(f"filled {TENANT} with {head:,} events")
            out = folder / "evidence.jsonl"
            started = time.perf_counter()
            service = Evidence(Ledger(store, signer, "thidua.bench"), Reads(store))
            header, found = await service.export(TENANT, year=YEAR)
            with out.open("w", encoding="utf-8") as file:
                file.write(next(iter(evidence.lines(header, ()))))
                async for event in found:
                    file.write(evidence.event_line(event))
            exported = time.perf_counter() - started
        finally:
            await store.close()
    started = time.perf_counter()
    checked = verify_offline(out, public)
    verified = time.perf_counter() - started
    print(checked.stdout[-400:])
    size = out.stat().st_size
    packed = folder / "evidence.jsonl.gz"
    with out.open("rb") as plain, gzip.open(packed, "wb") as file:
        shutil.copyfileobj(plain, file)
    print(f"gzip: {packed.stat().st_size / 1e6:.1f} MB")
    print(
        f"events {head - header.after:,}; file {size / 1e6:.1f} MB; "
        f"export {exported:.1f} s; verify {verified:.1f} s; exit {checked.returncode}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.evidence")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(measure(args.events, Path(folder)))


if __name__ == "__main__":
    main()
