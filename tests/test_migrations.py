"""Migrations apply once, in order, under a lock; an applied file that changed is refused."""

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from thidua.db.errors import MigrationError
from thidua.db.migrate import load_migrations, migrate, migrations_folder

NewDatabase = Callable[[], Awaitable[str]]


async def ledger(dsn: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(r["version"], r["name"]) for r in rows]
    finally:
        await conn.close()


async def test_second_run_changes_nothing(new_database: NewDatabase) -> None:
    dsn = await new_database()
    first = await migrate(dsn)
    assert [m.name for m in first] == [m.name for m in load_migrations()]
    before = await ledger(dsn)

    assert await migrate(dsn) == []
    assert await ledger(dsn) == before


async def test_two_migrators_at_once_apply_each_migration_once(new_database: NewDatabase) -> None:
    dsn = await new_database()
    results = await asyncio.gather(migrate(dsn), migrate(dsn), migrate(dsn))
    applied = sorted(m.version for result in results for m in result)
    assert applied == [m.version for m in load_migrations()]


async def test_an_edited_applied_migration_is_refused(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    dsn = await new_database()
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_folder(), folder)
    await migrate(dsn, folder)
    edited = folder / "0002_event_log.sql"
    edited.write_text(edited.read_text() + "\n-- a quiet change\n")
    (folder / f"{len(load_migrations()) + 1:04d}_later.sql").write_text(
        "CREATE TABLE later (x int);"
    )

    with pytest.raises(MigrationError, match=r"0002_event_log\.sql"):
        await migrate(dsn, folder)

    conn = await asyncpg.connect(dsn)
    try:  # refused before anything ran: the later migration was not applied either
        assert await conn.fetchval("SELECT to_regclass('later')") is None
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_written(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    dsn = await new_database()
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_folder(), folder)
    number = len(load_migrations()) + 1
    (folder / f"{number:04d}_broken.sql").write_text(
        "CREATE TABLE half (x int); SELECT no_such_function();"
    )
    with pytest.raises(MigrationError, match="thất bại"):
        await migrate(dsn, folder)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == number - 1
    finally:
        await conn.close()


def thidua(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thidua", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


async def test_cli_migrate_twice(new_database: NewDatabase) -> None:
    dsn = await new_database()
    first = thidua("db", "migrate", env={"DATABASE_URL": dsn})
    assert first.returncode == 0, first.stderr
    assert "applied 0001_tenants.sql" in first.stdout
    second = thidua("db", "migrate", env={"DATABASE_URL": dsn})
    assert second.returncode == 0
    assert "0 migration(s) applied" in second.stdout


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://postgres@127.0.0.1:1/nowhere", "Không kết nối được cơ sở dữ liệu"),
        ("mysql://root@localhost/x", "DATABASE_URL"),
    ],
)
def test_cli_expected_failures_are_one_clear_line(url: str, says: str) -> None:
    result = thidua("db", "migrate", env={"DATABASE_URL": url})
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_never_prints_the_password() -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/nowhere"
    result = thidua("db", "migrate", env={"DATABASE_URL": url})
    assert result.returncode == 2
    assert "s3cret-pw" not in result.stderr + result.stdout


async def test_logs_written_before_the_tree_get_it_when_migrated(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    """A deployment that already holds events: 0009 builds each cluster's tree from them."""
    from thidua.ledger.merkle import leaf_hash, root_of
    from thidua.store import EventStore, Metadata, NewEvent, tree

    dsn = await new_database()
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_folder(), folder)
    later = sorted(folder.glob("*.sql"))[8:]  # 0009 onwards: not yet written
    for path in later:
        path.unlink()
    await migrate(dsn, folder)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO tenants VALUES ('cum-cu', 'Cụm cũ')")
        await conn.execute("INSERT INTO event_log_heads (tenant_id) VALUES ('cum-cu')")
    finally:
        await conn.close()
    store = await EventStore.open(dsn)
    try:
        meta = Metadata(actor="Lê Văn C", role="secretariat")
        for n in range(11):
            await store.append("cum-cu", f"s{n}", 0, [NewEvent("tests:Old", b"{}")], meta)
    finally:
        await store.close()
    await migrate(dsn)
    store = await EventStore.open(dsn)  # as servers restart on a migrated schema
    try:
        leaves = [leaf_hash(e.hash) for e in await store.read_log("cum-cu")]
        async with store.transaction("cum-cu") as tx:
            assert await tree.root(tx, "cum-cu", 11) == root_of(leaves)
            assert await tree.root(tx, "cum-cu", 6) == root_of(leaves[:6])
        await store.append("cum-cu", "after", 0, [NewEvent("tests:New", b"{}")], meta)
        leaves = [leaf_hash(e.hash) for e in await store.read_log("cum-cu")]
        async with store.transaction("cum-cu") as tx:
            assert await tree.root(tx, "cum-cu", 12) == root_of(leaves)
    finally:
        await store.close()
