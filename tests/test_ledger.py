"""Checkpoints as the service signs them: on a schedule that visits only the clusters whose
log grew, at every finalisation, on demand; cosigned by a witness the operator does not run;
never over a log that went back."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import uvicorn

from api_client import free_port
from thidua.demo import DEMO, ensure_template, play_year
from thidua.ledger import note
from thidua.ledger.merkle import leaf_hash, root_of
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar
from thidua.service.ledger import Ledger, LogWentBack, Witness
from thidua.store import EventStore, Metadata, NewEvent, checkpoints
from thidua.witness.app import create_app
from thidua.witness.core import LogKey
from thidua.witness.core import Witness as WitnessServer
from thidua.witness.state import StateFile

SIGNER, LOG_KEY = note.generate_key("thidua.test")
META = Metadata(actor="Lê Văn C", role="cross_inspector")


async def _grow(store: EventStore, tenant: str, n: int) -> None:
    events = [NewEvent("tests:Noted", f'{{"n":{i}}}'.encode()) for i in range(n)]
    await store.append(tenant, f"s-{datetime.now(UTC).timestamp()}", 0, events, META)


async def test_the_schedule_signs_only_clusters_that_grew(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    ledger = Ledger(store, SIGNER, "thidua.test")
    grown, idle = await new_tenant(), await new_tenant()
    await _grow(store, grown, 5)
    assert grown in await checkpoints.due(store, 10_000)
    assert idle not in await checkpoints.due(store, 10_000)
    while await ledger.sign_due():  # other tests' clusters may be due too
        pass
    signed = await ledger.latest(grown)
    assert signed is not None
    assert signed.size == 5
    assert await ledger.latest(idle) is None
    assert grown not in await checkpoints.due(store, 10_000)
    opened = note.open_note(signed.note, [note.parse_verifier(LOG_KEY)])
    checkpoint = note.Checkpoint.parse(opened.text)
    leaves = [leaf_hash(e.hash) for e in await store.read_log(grown)]
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        f"thidua.test/{grown}",
        5,
        root_of(leaves),
    )
    await _grow(store, grown, 2)
    assert grown in await checkpoints.due(store, 10_000)


async def test_a_finalisation_is_signed_before_its_command_returns(store: EventStore) -> None:
    clock = Calendar(datetime(2025, 1, 5, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    ledger = Ledger(store, SIGNER, "thidua.test")
    service.committed.append(ledger.after_commit)
    await ensure_template(service)
    cluster = DEMO[2]
    code = f"{cluster.code}-{int(datetime.now(UTC).timestamp() * 1000) % 10**8}"
    cluster = replace(cluster, code=code)
    await store.create_tenant(code, "Cụm ký khi chốt")
    await play_year(service, clock, cluster)
    finalised = [
        e for e in await store.read_log(code, 0, 100_000) if e.event_type.endswith("Finalised")
    ]
    assert finalised
    signed = await ledger.latest(code)
    assert signed is not None
    assert signed.size >= finalised[-1].position


async def test_a_log_that_went_back_is_not_signed_again(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]], superuser: asyncpg.Connection
) -> None:
    tenant = await new_tenant()
    await _grow(store, tenant, 4)
    ledger = Ledger(store, SIGNER, "thidua.test")
    await ledger.checkpoint(tenant)
    async with superuser.transaction():
        await superuser.execute("SET LOCAL session_replication_role = replica")
        await superuser.execute("DELETE FROM events WHERE tenant_id = $1 AND position > 2", tenant)
        await superuser.execute(
            "UPDATE event_log_heads SET position = 2 WHERE tenant_id = $1", tenant
        )
    with pytest.raises(LogWentBack):
        await ledger.checkpoint(tenant)


@asynccontextmanager
async def witness_at(tmp: Path) -> AsyncIterator[tuple[str, str]]:
    """A witness the city board runs: its URL and public key."""
    key, public = note.generate_key("witness.ban-tdkt.example.vn", note.COSIGNATURE_V1)
    logs = [LogKey("thidua.test", note.parse_verifier(LOG_KEY))]
    server_app = create_app(WitnessServer(note.parse_signer(key), logs, StateFile(tmp / "w.json")))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(server_app, port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", public
    finally:
        server.should_exit = True
        await task


async def test_a_witness_cosigns_each_checkpoint_that_extends_the_last(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    tenant = await new_tenant()
    async with witness_at(tmp_path) as (url, public):
        witness = Witness(url, note.parse_verifier(public))
        ledger = Ledger(store, SIGNER, "thidua.test", (witness,))
        for grow in (3, 4, 9):
            await _grow(store, tenant, grow)
            signed = await ledger.checkpoint(tenant)
            assert len(signed.cosignatures) == 1, "the witness cosigned"
            checkpoint = note.Checkpoint.parse(
                note.open_note(signed.note, [note.parse_verifier(LOG_KEY)]).text
            )
            note.verify_cosignature(checkpoint, signed.cosignatures[0], witness.key)
        assert signed.size == 16
