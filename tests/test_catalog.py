"""The schema as the catalog of a migrated database shows it, held to the rules that keep
tenants apart and keep sharding by tenant on Citus open (deploy/citus.md): every table
holding a cluster's data has the tenant column leading its primary key, its unique keys
and its foreign keys, row-level security on and forced, and no sequence to share."""

import asyncpg
import pytest

# Tables that are not a cluster's data, and why.
NOT_TENANT_TABLES = {
    # The migrator's own ledger of applied files.
    "schema_migrations": "the migrator's ledger: one deployment, no cluster",
    # Refusals of clusters a token does not cover are counted for the deployment: they are
    # not the refused cluster's data (no cluster reads them; auditors and the city do).
    "access_refusals": "deployment-wide counts of refused access, read across clusters",
}

TENANT = "tenant_id"


async def tables(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        """
        SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped)
                   AS has_tenant
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        """,
        TENANT,
    )
    return {r["name"]: r for r in rows}


async def keys(conn: asyncpg.Connection, kinds: str) -> list[asyncpg.Record]:
    """Constraints of the given kinds (p, u, f, x), each with its columns in key order."""
    return await conn.fetch(
        """
        SELECT con.conrelid::regclass::text AS table_name, con.conname AS name,
               con.contype::text AS kind,
               array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                     ORDER BY k.i) AS columns,
               array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                     ORDER BY k.i) AS referenced
        FROM pg_constraint con
        WHERE con.connamespace = 'public'::regnamespace
          AND con.contype::text = ANY($1::text[])
        """,
        list(kinds),
    )


@pytest.fixture
async def catalog(superuser: asyncpg.Connection) -> asyncpg.Connection:
    return superuser


async def test_every_table_is_a_tenant_table_or_a_named_exception(
    catalog: asyncpg.Connection,
) -> None:
    found = await tables(catalog)
    assert set(NOT_TENANT_TABLES) <= set(found), "an exception names a table that is gone"
    for name, table in found.items():
        if name in NOT_TENANT_TABLES:
            assert not table["has_tenant"], f"{name} has {TENANT}: it is a tenant table now"
        else:
            assert table["has_tenant"], f"{name} holds no {TENANT} and is no named exception"
    # The read models are among them (created by `thidua db migrate` from projections/).
    assert {"standings", "audit_history", "events", "tenants"} <= set(found)


async def test_the_tenant_leads_every_primary_key(catalog: asyncpg.Connection) -> None:
    found = await tables(catalog)
    primary = {k["table_name"]: list(k["columns"]) for k in await keys(catalog, "p")}
    for name in set(found) - set(NOT_TENANT_TABLES):
        assert name in primary, f"{name} has no primary key"
        assert primary[name][0] == TENANT, f"{name}: primary key {primary[name]}"


async def test_the_tenant_leads_every_unique_and_foreign_key(catalog: asyncpg.Connection) -> None:
    """Citus enforces a unique key or a foreign key between distributed tables only when it
    holds the distribution column; leading with it also serves the per-tenant lookups."""
    tenant_tables = set(await tables(catalog)) - set(NOT_TENANT_TABLES)
    checked = 0
    for key in await keys(catalog, "ufx"):
        if key["table_name"] not in tenant_tables:
            continue
        checked += 1
        assert key["columns"][0] == TENANT, f"{key['table_name']}.{key['name']}: {key['columns']}"
        if key["kind"] == "f":
            assert key["referenced"][0] == TENANT, f"{key['name']} → {key['referenced']}"
    assert checked > 0
    unique_indexes = await catalog.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, c.relname AS table_name,
               (SELECT a.attname FROM pg_attribute a
                WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) AS first
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relnamespace = 'public'::regnamespace AND i.indisunique
        """
    )
    for index in unique_indexes:
        if index["table_name"] in tenant_tables:
            assert index["first"] == TENANT, f"unique index {index['name']}"


async def test_row_level_security_binds_every_tenant_table(catalog: asyncpg.Connection) -> None:
    for name, table in (await tables(catalog)).items():
        if name not in NOT_TENANT_TABLES:
            assert table["rls"], f"{name}: row-level security is off"
            assert table["forced"], f"{name}: row-level security binds its owner too"


async def test_no_sequence_to_share_between_shards(catalog: asyncpg.Connection) -> None:
    """Positions and generations are counted per tenant under the tenant's own lock."""
    sequences = await catalog.fetch(
        "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'"
    )
    assert [s["sequence_name"] for s in sequences] == []
