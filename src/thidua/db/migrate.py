"""Numbered SQL migrations, applied once each, in order, under an advisory lock; then the
read models' tables (projections/), whose scripts are idempotent and run every time."""

import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from thidua.db.errors import MigrationError
from thidua.db.pool import APP_ROLE
from thidua.db.server import connect

_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any fixed 64-bit number: every migrator of this product takes the same lock.
_LOCK_KEY = 0x7468_6964_7561_0001

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def sql_folder(name: str) -> Path:
    """migrations/ or projections/ of the source tree, or the copy inside an installed wheel."""
    source_tree = Path(__file__).resolve().parents[3] / name
    if source_tree.is_dir():
        return source_tree
    return Path(str(importlib.resources.files("thidua") / "sql" / name))


def migrations_folder() -> Path:
    return sql_folder("migrations")


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or migrations_folder()
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"Tên tệp migration không hợp lệ: {path.name} (cần dạng 0001_ten.sql)."
            )
        found.append(Migration(int(match.group(1)), path.name, path.read_text("utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"Các migration phải đánh số liên tục từ 0001: {versions}.")
    return found


async def applied_migrations(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of what this database has applied; empty if none."""
    if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        return {}
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


def check_edited(known: list[Migration], applied: dict[int, tuple[str, str]]) -> None:
    """Refuse when a file that was applied has changed since."""
    for migration in known:
        if migration.version in applied and applied[migration.version][1] != migration.checksum:
            raise MigrationError(
                f"Migration {migration.name} đã được áp dụng rồi bị sửa (checksum khác). "
                "Không sửa migration đã áp dụng; hãy thêm một migration mới. "
                f"(applied migration {migration.name} was edited)"
            )


async def pending_migrations(conn: asyncpg.Connection, known: list[Migration]) -> list[Migration]:
    applied = await applied_migrations(conn)
    check_edited(known, applied)
    return [m for m in known if m.version not in applied]


async def migrate(dsn: str, folder: Path | None = None) -> list[Migration]:
    """Apply the pending migrations, each in its own transaction; return those applied."""
    known = load_migrations(folder)
    conn = await connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_LEDGER)
            pending = await pending_migrations(conn, known)
            for migration in pending:
                await _apply(conn, migration)
            # Readiness and `db status` read it as the app's own login role (a member of it).
            await conn.execute(f"GRANT SELECT ON schema_migrations TO {APP_ROLE}")
            await _create_projection_tables(conn)
            return pending
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(
            f"Migration {migration.name} thất bại, không có gì được ghi: {exc}"
        ) from exc


async def _create_projection_tables(conn: asyncpg.Connection) -> None:
    for path in sorted(sql_folder("projections").glob("*.sql")):
        try:
            async with conn.transaction():
                await conn.execute(path.read_text("utf-8"))
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"Không tạo được bảng của projection {path.name}: {exc}") from exc


async def pending_on(dsn: str) -> list[Migration]:
    """The migrations this database still lacks; raises if it cannot tell or one was edited."""
    conn = await connect(dsn)
    try:
        return await pending_migrations(conn, load_migrations())
    finally:
        await conn.close()
