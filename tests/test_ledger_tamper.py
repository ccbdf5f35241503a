"""The tamper matrix: the log changed behind the application's back, by a superuser with
the append-only triggers off, each way the issue names. An auditor who kept a checkpoint
signed earlier catches every one with the offline verifier alone, which names what and
where."""

import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace

import asyncpg
import pytest

from thidua.ledger import evidence, note, verify
from thidua.ledger.merkle import perfect_nodes
from thidua.service.evidence import Evidence
from thidua.service.ledger import Ledger
from thidua.service.reads import Reads
from thidua.store import EventStore, Metadata, NewEvent
from thidua.store.audit import verify_chain

SIGNER, LOG_KEY = note.generate_key("thidua.test")
EVENTS = 20


@pytest.fixture(scope="module")
def ledger_of() -> Callable[[EventStore], Ledger]:
    return lambda store: Ledger(store, SIGNER, "thidua.test")


async def _append(store: EventStore, tenant: str, n: int, points: int = 80) -> None:
    meta = Metadata(actor="Lê Văn C", role="cross_inspector", reason=f"lần {n}")
    body = json.dumps({"n": n, "điểm": points}, ensure_ascii=False).encode()
    await store.append(tenant, f"s{n % 3}", (n - 1) // 3, [NewEvent("tests:Scored", body)], meta)


@pytest.fixture
async def kept(
    store: EventStore,
    new_tenant: Callable[[], Awaitable[str]],
    ledger_of: Callable[[EventStore], Ledger],
) -> tuple[str, verify.Kept]:
    """A cluster of 20 events, and the checkpoint an auditor kept of it."""
    tenant = await new_tenant()
    for n in range(1, EVENTS + 1):
        await _append(store, tenant, n)
    signed = await ledger_of(store).checkpoint(tenant)
    assert signed.size == EVENTS
    return tenant, verify.Kept("kept-20.txt", signed.cosigned)


async def _verify(
    store: EventStore,
    tenant: str,
    kept: list[verify.Kept],
    key: str = LOG_KEY,
    edit: Callable[[evidence.Header], evidence.Header] = lambda h: h,
) -> verify.Report:
    """Export as the server would now, then check the file alone."""
    header, events = await Evidence(Ledger(store, SIGNER, "thidua.test"), Reads(store)).export(
        tenant
    )
    text = "".join(evidence.lines(edit(header), [e async for e in events]))
    read_header, read_events = evidence.read(io.StringIO(text))
    return verify.verify(read_header, read_events, key, kept)


def _said(report: verify.Report) -> str:
    return "\n".join(f"[{p.where}] {p.what}" for p in report.problems)


async def _off(superuser: asyncpg.Connection, tenant: str, *statements: str) -> None:
    """Statements run as a superuser with every trigger off, as the issue found possible."""
    async with superuser.transaction():
        await superuser.execute("SET LOCAL session_replication_role = replica")
        for sql in statements:
            await superuser.execute(sql.replace("$T", f"'{tenant}'"))


async def _cut_back(
    superuser: asyncpg.Connection, tenant: str, size: int, *, checkpoints: bool = True
) -> None:
    """Events after `size` removed, the tree and head moved back to match, the later
    checkpoints removed (unless told not to): what someone hiding the tail would do."""
    frontier = perfect_nodes(0, size)
    rows = await superuser.fetch(
        "SELECT level, index, hash FROM log_tree WHERE tenant_id = $1", tenant
    )
    hashes = {(r["level"], r["index"]): r["hash"] for r in rows}
    kept = [hashes[(n.level, n.index)] for n in frontier]
    top = await superuser.fetchval(
        "SELECT hash FROM events WHERE tenant_id = $1 AND position = $2", tenant, size
    )
    async with superuser.transaction():
        await superuser.execute("SET LOCAL session_replication_role = replica")
        await superuser.execute(
            "DELETE FROM events WHERE tenant_id = $1 AND position > $2", tenant, size
        )
        await superuser.execute(
            "DELETE FROM log_tree WHERE tenant_id = $1 AND (index + 1) * (1::bigint << level) > $2",
            tenant,
            size,
        )
        await superuser.execute(
            "UPDATE event_log_heads SET position = $2, hash = $3, frontier = $4"
            " WHERE tenant_id = $1",
            tenant,
            size,
            top or bytes(32),
            kept,
        )
        if checkpoints:
            await superuser.execute("DELETE FROM log_cosignatures WHERE tenant_id = $1", tenant)
            await superuser.execute("DELETE FROM log_checkpoints WHERE tenant_id = $1", tenant)


async def _rewrite_from(
    superuser: asyncpg.Connection, store: EventStore, tenant: str, position: int, forged: bool
) -> None:
    """The log cut back before `position` and its tail appended again through the append
    function, so every later hash and the tree are recomputed: with an event inserted
    first (`forged`) or with a score changed."""
    await _cut_back(superuser, tenant, position - 1)
    if forged:
        await store.append(
            tenant,
            "forged",
            0,
            [NewEvent("tests:Scored", b'{"n":0}')],
            Metadata(actor="ai đó", role="secretariat"),
        )
    for n in range(position, EVENTS + 1):
        await _append(store, tenant, n, 80 if forged or n != position else 95)


async def test_an_untouched_log_verifies_against_the_kept_checkpoint(
    store: EventStore, kept: tuple[str, verify.Kept]
) -> None:
    tenant, checkpoint = kept
    await _append(store, tenant, EVENTS + 1)  # the log goes on after the auditor's visit
    report = await _verify(store, tenant, [checkpoint])
    assert report.ok, _said(report)
    assert any("kept-20.txt" in line for line in report.checked)


async def test_an_edited_payload_is_named_at_its_position(
    store: EventStore, superuser: asyncpg.Connection, kept: tuple[str, verify.Kept]
) -> None:
    tenant, checkpoint = kept
    await _off(
        superuser,
        tenant,
        "UPDATE events SET payload = '{\"n\":99}' WHERE tenant_id = $T AND position = 7",
    )
    report = await _verify(store, tenant, [checkpoint])
    assert [p.where for p in report.problems] == ["vị trí 7"]
    assert "bị sửa" in _said(report)


async def test_edited_metadata_is_named(
    store: EventStore, superuser: asyncpg.Connection, kept: tuple[str, verify.Kept]
) -> None:
    tenant, checkpoint = kept
    await _off(
        superuser,
        tenant,
        "UPDATE events SET metadata = jsonb_set(metadata, '{actor}', '\"ai đó\"')"
        " WHERE tenant_id = $T AND position = 12",
    )
    report = await _verify(store, tenant, [checkpoint])
    assert [p.where for p in report.problems] == ["vị trí 12"]


async def test_a_deleted_event_is_named(
    store: EventStore, superuser: asyncpg.Connection, kept: tuple[str, verify.Kept]
) -> None:
    tenant, checkpoint = kept
    await _off(superuser, tenant, "DELETE FROM events WHERE tenant_id = $T AND position = 9")
    report = await _verify(store, tenant, [checkpoint])
    assert "thiếu sự kiện" in _said(report)
    assert report.problems[0].where == "vị trí 9"


async def test_reordered_events_are_named(
    store: EventStore, superuser: asyncpg.Connection, kept: tuple[str, verify.Kept]
) -> None:
    tenant, checkpoint = kept
    swap = "UPDATE events SET position = {1} WHERE tenant_id = $T AND position = {0}"
    await _off(superuser, tenant, *(swap.format(a, b) for a, b in [(4, 1000), (5, 4), (1000, 5)]))
    report = await _verify(store, tenant, [checkpoint])
    assert report.problems[0].where == "vị trí 4"


@pytest.mark.parametrize("size", [15, 0], ids=["truncated", "reset"])
async def test_a_log_cut_back_with_its_head_moved_back_is_caught(
    store: EventStore, superuser: asyncpg.Connection, kept: tuple[str, verify.Kept], size: int
) -> None:
    tenant, checkpoint = kept
    await _cut_back(superuser, tenant, size)
    report = await _verify(store, tenant, [checkpoint])
    assert [p.where for p in report.problems] == ["kept-20.txt"]
    assert "lùi" in _said(report)


@pytest.mark.parametrize("forged", [False, True], ids=["tail-rewritten", "event-inserted"])
async def test_history_rewritten_with_every_hash_recomputed_is_caught(
    store: EventStore, superuser: asyncpg.Connection, kept: tuple[str, verify.Kept], forged: bool
) -> None:
    tenant, checkpoint = kept
    await _rewrite_from(superuser, store, tenant, 14, forged)
    report = await _verify(store, tenant, [checkpoint])
    assert [p.where for p in report.problems] == ["kept-20.txt"], _said(report)
    assert "viết lại" in _said(report)


async def test_a_forged_checkpoint_is_refused(
    store: EventStore, kept: tuple[str, verify.Kept]
) -> None:
    tenant, checkpoint = kept
    forged = replace(checkpoint, text=checkpoint.text.replace("\n20\n", "\n19\n", 1))
    report = await _verify(store, tenant, [forged])
    assert [p.where for p in report.problems] == ["kept-20.txt"]

    def bigger(header: evidence.Header) -> evidence.Header:
        return replace(header, checkpoint=header.checkpoint.replace("\n20\n", "\n21\n", 1))

    report = await _verify(store, tenant, [checkpoint], edit=bigger)
    assert [p.where for p in report.problems] == ["checkpoint"]


async def test_a_wrong_key_is_refused(store: EventStore, kept: tuple[str, verify.Kept]) -> None:
    tenant, checkpoint = kept
    _, other = note.generate_key("thidua.test")
    report = await _verify(store, tenant, [checkpoint], key=other)
    assert report.problems[0].where == "checkpoint"
    assert not report.ok


async def test_another_clusters_checkpoint_proves_nothing_here(
    store: EventStore, kept: tuple[str, verify.Kept], new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant, _ = kept
    other = await new_tenant()
    await _append(store, other, 1)
    foreign = await Ledger(store, SIGNER, "thidua.test").checkpoint(other)
    report = await _verify(store, tenant, [verify.Kept("other.txt", foreign.cosigned)])
    assert [p.where for p in report.problems] == ["other.txt"]


async def test_the_server_side_audit_names_a_log_that_went_back(
    store: EventStore, superuser: asyncpg.Connection, kept: tuple[str, verify.Kept]
) -> None:
    """`thidua audit verify` too, while the checkpoints table is left alone."""
    tenant, _ = kept
    assert (await verify_chain(store, tenant, log_key=LOG_KEY)).checkpoint == EVENTS
    await _cut_back(superuser, tenant, 16, checkpoints=False)
    report = await verify_chain(store, tenant, log_key=LOG_KEY)
    assert not report.ok
    assert "lùi" in (report.problem or "")
