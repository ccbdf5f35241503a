"""Row-level security and append-only enforcement, tried with raw SQL as the application role."""

import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from thidua.store import EventStore, Metadata, NewEvent, UnknownTenant

META = Metadata(actor="cán bộ thi đua", role="member_officer")
TENANT_TABLES = [
    "tenants",
    "event_log_heads",
    "events",
    "idempotency_keys",
    "projection_checkpoints",
]


async def seeded(store: EventStore, tenant: str) -> None:
    await store.append(
        tenant, str(uuid.uuid4()), 0, [NewEvent("tests:Seeded", b"{}")], META, f"seed-{tenant}"
    )
    async with store.transaction(tenant) as conn:
        await conn.execute(
            "INSERT INTO projection_checkpoints (tenant_id, projection) VALUES ($1, 'tests')",
            tenant,
        )


@pytest.fixture
async def two_tenants(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> tuple[str, str]:
    a, b = await new_tenant(), await new_tenant()
    await seeded(store, a)
    await seeded(store, b)
    return a, b


async def test_connections_run_as_the_application_role(store: EventStore) -> None:
    async with store.transaction("any") as conn:
        assert await conn.fetchval("SELECT current_user") == "thidua_app"


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_other_tenants_rows_are_invisible(
    store: EventStore, two_tenants: tuple[str, str], table: str
) -> None:
    a, b = two_tenants
    async with store.transaction(a) as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", b) == 0
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", a) == 1
        rows = await conn.fetch(f"SELECT DISTINCT tenant_id FROM {table}")
        assert [r["tenant_id"] for r in rows] == [a]


async def test_no_tenant_set_sees_nothing(store: EventStore, two_tenants: tuple[str, str]) -> None:
    async with store._pool.acquire() as conn:
        for table in TENANT_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_other_tenants_rows_are_not_writable(
    store: EventStore, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants
    async with store.transaction(a) as conn:
        assert (
            await conn.execute(
                "UPDATE projection_checkpoints SET position = 99 WHERE tenant_id = $1", b
            )
            == "UPDATE 0"
        )
    inserts = [
        ("INSERT INTO projection_checkpoints (tenant_id, projection) VALUES ($1, 'x')", (b,)),
        ("INSERT INTO tenants (tenant_id, name) VALUES ('cum-intruder', 'x')", ()),
    ]
    for sql, args in inserts:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            async with store.transaction(a) as conn:
                await conn.execute(sql, *args)
    assert (await store.head(b))[0] == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET payload = '' WHERE tenant_id = current_tenant()",
        "DELETE FROM events WHERE tenant_id = current_tenant()",
        "TRUNCATE events",
    ],
)
async def test_events_cannot_be_changed_by_the_application(
    store: EventStore, two_tenants: tuple[str, str], sql: str
) -> None:
    a, _ = two_tenants
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        async with store.transaction(a) as conn:
            await conn.execute(sql)
    assert len(await store.read_log(a)) == 1


@pytest.mark.parametrize(
    "sql", ["UPDATE events SET payload = ''", "DELETE FROM events", "TRUNCATE events"]
)
async def test_events_cannot_be_changed_even_by_the_owner(
    superuser: asyncpg.Connection, store: EventStore, two_tenants: tuple[str, str], sql: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await superuser.execute(sql)
    assert len(await store.read_log(two_tenants[0])) == 1


async def test_unknown_tenant_is_a_typed_refusal(store: EventStore) -> None:
    with pytest.raises(UnknownTenant) as refused:
        await store.append("cum-khong-co", "s", 0, [NewEvent("tests:X", b"{}")], META)
    assert refused.value.code == "UNKNOWN_CLUSTER"
    assert "cum-khong-co" in refused.value.message


async def test_every_table_with_tenant_rows_is_confined_to_its_tenant(
    superuser: asyncpg.Connection,
) -> None:
    """Event store and projections alike: a table with a tenant_id column has row-level
    security enabled and forced, and a policy that confines rows to the current tenant."""
    tables = await superuser.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname"
        "         AND p.policyname = 'tenant_isolation'"
        "         AND p.qual = '(tenant_id = current_tenant())') AS confined"
        " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r'"
    )
    names = {t["relname"] for t in tables}
    assert {"events", "standings", "audit_history", "score_entries", "year_days"} <= names
    for table in tables:
        assert table["relrowsecurity"], table["relname"]
        assert table["relforcerowsecurity"], table["relname"]
        assert table["confined"], table["relname"]


# Every way to write the log except append_events, tried on the caller's own cluster.
DIRECT_WRITES = [
    "INSERT INTO events VALUES (current_tenant(), 999, 's', 1, 't', 1, '', '{}', now(),"
    " '\\x0000000000000000000000000000000000000000000000000000000000000000')",
    "UPDATE events SET payload = '' WHERE tenant_id = current_tenant()",
    "DELETE FROM events WHERE tenant_id = current_tenant()",
    "TRUNCATE events",
    "UPDATE event_log_heads SET position = 0 WHERE tenant_id = current_tenant()",
    "DELETE FROM event_log_heads WHERE tenant_id = current_tenant()",
    "INSERT INTO event_log_heads (tenant_id) VALUES (current_tenant())",
    "INSERT INTO idempotency_keys VALUES (current_tenant(), 'k', 's', 1, '{1}')",
    "INSERT INTO log_tree VALUES (current_tenant(), 0, 999, sha256(''))",
    "UPDATE log_tree SET hash = sha256('') WHERE tenant_id = current_tenant()",
    "DELETE FROM log_tree WHERE tenant_id = current_tenant()",
    "UPDATE log_checkpoints SET size = 0 WHERE tenant_id = current_tenant()",
    "DELETE FROM log_checkpoints WHERE tenant_id = current_tenant()",
    "SELECT log_tree_add(current_tenant(), 1, '{}', ARRAY[sha256('')])",
]


@pytest.mark.parametrize("sql", DIRECT_WRITES)
async def test_the_log_is_written_only_through_append_events(
    store: EventStore, two_tenants: tuple[str, str], sql: str
) -> None:
    a, _ = two_tenants
    before = await store.head(a)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        async with store.transaction(a) as conn:
            await conn.execute(sql)
    assert await store.head(a) == before
    assert len(await store.read_log(a)) == 1
