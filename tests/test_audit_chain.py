"""The hash chain proves the log: any altered, removed or reordered event is named."""

import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from thidua.store import EventStore, Metadata, NewEvent
from thidua.store.audit import verify_chain


@pytest.fixture
async def tenant_with_log(store: EventStore, new_tenant: Callable[[], Awaitable[str]]) -> str:
    tenant = await new_tenant()
    for n in range(1, 7):
        meta = Metadata(actor="Lê Văn C", role="cross_inspector", reason=f"lần {n}")
        await store.append(
            tenant,
            f"s{n % 2}",
            (n - 1) // 2,
            [NewEvent("tests:Scored", f'{{"n":{n}}}'.encode())],
            meta,
        )
    return tenant


def audit_verify(dsn: str, tenant: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": dsn}
    return subprocess.run(
        [sys.executable, "-m", "thidua", "audit", "verify", "--cluster", tenant],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def tamper(superuser: asyncpg.Connection, sql: str, *args: object) -> None:
    """Change the log behind the application's back, as a superuser with the trigger off."""
    async with superuser.transaction():
        await superuser.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        await superuser.execute(sql, *args)
        await superuser.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")


async def test_an_untouched_chain_verifies(
    store: EventStore, dsn: str, tenant_with_log: str
) -> None:
    report = await verify_chain(store, tenant_with_log)
    assert report.ok
    assert report.events_checked == 6
    result = audit_verify(dsn, tenant_with_log)
    assert result.returncode == 0, result.stderr
    assert "6 events verified" in result.stdout


async def test_a_changed_payload_fails_at_its_position(
    store: EventStore, dsn: str, superuser: asyncpg.Connection, tenant_with_log: str
) -> None:
    await tamper(
        superuser,
        "UPDATE events SET payload = '{\"n\":99}' WHERE tenant_id = $1 AND position = 3",
        tenant_with_log,
    )
    report = await verify_chain(store, tenant_with_log)
    assert (report.first_bad_position, report.events_checked) == (3, 2)

    result = audit_verify(dsn, tenant_with_log)
    assert result.returncode == 1
    assert "position 3" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_changed_actor_fails(
    store: EventStore, superuser: asyncpg.Connection, tenant_with_log: str
) -> None:
    await tamper(
        superuser,
        "UPDATE events SET metadata = jsonb_set(metadata, '{actor}', '\"ai đó\"')"
        " WHERE tenant_id = $1 AND position = 5",
        tenant_with_log,
    )
    assert (await verify_chain(store, tenant_with_log)).first_bad_position == 5


async def test_a_removed_event_fails_at_its_position(
    store: EventStore, superuser: asyncpg.Connection, tenant_with_log: str
) -> None:
    await tamper(
        superuser, "DELETE FROM events WHERE tenant_id = $1 AND position = 2", tenant_with_log
    )
    assert (await verify_chain(store, tenant_with_log)).first_bad_position == 2


async def test_a_removed_last_event_fails(
    store: EventStore, superuser: asyncpg.Connection, tenant_with_log: str
) -> None:
    await tamper(
        superuser, "DELETE FROM events WHERE tenant_id = $1 AND position = 6", tenant_with_log
    )
    assert (await verify_chain(store, tenant_with_log)).first_bad_position == 6


async def test_reordered_events_fail(
    store: EventStore, superuser: asyncpg.Connection, tenant_with_log: str
) -> None:
    swap = "UPDATE events SET position = $3 WHERE tenant_id = $1 AND position = $2"
    for old, new in [(4, 1000), (5, 4), (1000, 5)]:
        await tamper(superuser, swap, tenant_with_log, old, new)
    assert (await verify_chain(store, tenant_with_log)).first_bad_position == 4


async def test_audit_of_an_unknown_cluster_is_a_clear_error(dsn: str) -> None:
    result = audit_verify(dsn, f"cum-{uuid.uuid4().hex[:6]}")
    assert result.returncode == 2
    assert "Không tìm thấy cụm thi đua" in result.stderr
    assert "Traceback" not in result.stderr
