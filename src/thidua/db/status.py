"""What an operator asks of a database before serving from it: its server, who we are on
it, the application role, and the migrations applied or still pending."""

from dataclasses import dataclass

import asyncpg

from thidua.db.errors import DatabaseUnavailable
from thidua.db.migrate import Migration, applied_migrations, check_edited, load_migrations
from thidua.db.pool import APP_ROLE
from thidua.db.server import connect, redact
from thidua.errors import ThiduaError


@dataclass(frozen=True)
class DatabaseRole:
    name: str
    superuser: bool
    bypasses_rls: bool

    @property
    def safe(self) -> bool:
        """Row-level security applies to it."""
        return not (self.superuser or self.bypasses_rls)


@dataclass(frozen=True)
class DatabaseStatus:
    server_version: str
    user: DatabaseRole
    app_role: DatabaseRole | None
    applied: list[str]
    pending: list[Migration]

    @property
    def ok(self) -> bool:
        return not self.pending and self.app_role is not None and self.app_role.safe


_ROLE = "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1"


async def database_status(dsn: str) -> DatabaseStatus:
    """Read-only; raises MigrationError if an applied migration was edited since."""
    known = load_migrations()
    conn = await connect(dsn)
    try:
        version = await conn.fetchval("SHOW server_version")
        user = await conn.fetchrow(_ROLE, await conn.fetchval("SELECT session_user"))
        app = await conn.fetchrow(_ROLE, APP_ROLE)
        applied = await applied_migrations(conn)
        assert user is not None  # the session's own role
    except asyncpg.PostgresError as exc:  # e.g. a login that may not read schema_migrations
        raise DatabaseUnavailable(
            f"Không đọc được trạng thái cơ sở dữ liệu {redact(dsn)} ({exc.__class__.__name__}: "
            f"{exc})."
        ) from None
    finally:
        await conn.close()
    check_edited(known, applied)
    return DatabaseStatus(
        server_version=version,
        user=_role(user),
        app_role=None if app is None else _role(app),
        applied=[name for _, (name, _) in sorted(applied.items())],
        pending=[m for m in known if m.version not in applied],
    )


def _role(row: asyncpg.Record) -> DatabaseRole:
    return DatabaseRole(row["rolname"], row["rolsuper"], row["rolbypassrls"])


class UnsafeLogin(ThiduaError):
    code = "UNSAFE_DATABASE_ROLE"


async def refuse_unsafe_login(dsn: str) -> None:
    """Production serves only as a login row-level security binds (not the owner's or a
    superuser's: a bug would then read across clusters)."""
    conn = await connect(dsn)
    try:
        row = await conn.fetchrow(_ROLE, await conn.fetchval("SELECT session_user"))
        owns = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
            "WHERE rolname = session_user) AND relnamespace = 'public'::regnamespace"
        )
    finally:
        await conn.close()
    assert row is not None
    login = _role(row)
    if not login.safe or owns:
        raise UnsafeLogin(
            f"Chế độ production không phục vụ với người dùng cơ sở dữ liệu '{login.name}' "
            "(superuser, BYPASSRLS hoặc chủ sở hữu bảng): hãy kết nối bằng vai trò riêng của "
            "ứng dụng, thành viên của thidua_app (production serves only as the app's own role)."
        )
