"""thidua serve | demo | db migrate|status | audit verify|workbook | projections rebuild|status; a
failure is one clear line, non-zero exit."""

import argparse
import asyncio
import contextlib
import getpass
import gzip
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from thidua.bootstrap import open_ledger, open_runtime
from thidua.cli import arguments, projections, workbooks
from thidua.cli.files import umask, user
from thidua.cli.serve import configure_logging, serve, workers
from thidua.config import ConfigurationError, Settings
from thidua.db.migrate import migrate
from thidua.db.pool import APP_ROLE
from thidua.db.server import database_url, redact
from thidua.db.status import DatabaseRole, database_status
from thidua.demo import DEMO_CLUSTERS, load_demo
from thidua.domain.rights import Role
from thidua.errors import ThiduaError
from thidua.ledger import note
from thidua.ledger.cli import read_kept
from thidua.ledger.evidence import streamed
from thidua.service.evidence import Evidence
from thidua.service.reads import Reads
from thidua.store.audit import verify_chain

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


async def demo(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as runtime:
        registered = await load_demo(runtime.store)
    print(f"demo clusters: {', '.join(DEMO_CLUSTERS)} ({len(registered)} newly registered)")
    return 0


async def db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    async with database_url(settings) as dsn:
        applied = await migrate(dsn)
    for migration in applied:
        print(f"applied {migration.name}")
    print(f"{len(applied)} migration(s) applied; the database is up to date.")
    return 0


async def db_status(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the app can serve from this database, 1 when not (pending migrations,
    no application role or one row-level security does not bind)."""
    async with database_url(settings) as dsn:
        status = await database_status(dsn)
    print(f"máy chủ: PostgreSQL {status.server_version} ({redact(dsn)})")
    print(f"người dùng kết nối: {status.user.name} ({_role_words(status.user)})")
    app = status.app_role
    print(f"vai trò ứng dụng {APP_ROLE}: {'chưa có' if app is None else _role_words(app)}")
    print(f"migration: {len(status.applied)} đã áp dụng, {len(status.pending)} chờ áp dụng")
    for migration in status.pending:
        print(f"  chờ: {migration.name}")
    if not status.ok:
        print("thidua: cơ sở dữ liệu chưa sẵn sàng cho ứng dụng.", file=sys.stderr)
    return 0 if status.ok else 1


def _role_words(role: DatabaseRole) -> str:
    if role.superuser:
        return "SUPERUSER: bỏ qua row-level security"
    if role.bypasses_rls:
        return "BYPASSRLS: bỏ qua row-level security"
    return "không phải superuser, chịu row-level security"


async def audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as runtime:
        key = note.parse_signer(settings.log_key()).verifier().text()
        report = await verify_chain(runtime.store, args.cluster, log_key=key)
    if report.ok:
        against = "" if report.checkpoint is None else f", checkpoint {report.checkpoint} matches"
        print(
            f"{args.cluster}: hash chain and tree intact, {report.events_checked} events "
            f"verified{against}."
        )
        return 0
    print(
        f"{args.cluster}: hash chain BROKEN at position {report.first_bad_position}: "
        f"{report.problem} ({report.events_checked} events verified before it).",
        file=sys.stderr,
    )
    return 1


async def audit_key(args: argparse.Namespace, settings: Settings) -> int:
    print(note.parse_signer(settings.log_key()).verifier().text())
    return 0


async def audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as runtime:
        await runtime.store.head(args.cluster)  # UnknownTenant, not a foreign key's error
        signed = await open_ledger(runtime).checkpoint(args.cluster)
    sys.stdout.write(signed.cosigned)
    return 0


async def audit_export(args: argparse.Namespace, settings: Settings) -> int:
    kept = [_size_of(path) for path in args.checkpoint]
    async with open_runtime(settings) as runtime:
        await runtime.store.head(args.cluster)  # UnknownTenant, not a foreign key's error
        ledger = open_ledger(runtime)
        evidence = Evidence(ledger, Reads(runtime.store))
        header, events = await evidence.export(
            args.cluster,
            year=args.year,
            after=args.after,
            upto=args.upto,
            kept=kept,
            by=f"thidua audit export ({getpass.getuser()})",
        )
        # A name ending in .gz is written compressed (a tenth of the size); the verifier
        # reads either.
        opened = gzip.open if args.out.suffix == ".gz" else open
        with opened(args.out, "wt", encoding="utf-8") as out:
            async for line in streamed(header, events):
                out.write(line)
    count = header.upto - header.after
    print(f"{args.out}: {count} events, positions {header.after + 1}–{header.upto}.")
    return 0


def _size_of(path: Path) -> int:
    """The size of a kept checkpoint (its signature is the verifier's business)."""
    try:
        return note.Checkpoint.parse(note.parse_note(read_kept(path))[0]).size
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise arguments.BadArgument(
            f"--checkpoint {path}: không đọc được checkpoint đã lưu ({exc})."
        ) from None


async def audit_workbook(args: argparse.Namespace, settings: Settings) -> int:
    from thidua.api.workbooks import export_audit_trail
    from thidua.projections.audit import AuditProjection
    from thidua.service.reads import Reads

    out = Path(args.out)
    async with open_runtime(settings) as runtime:
        reads = Reads(runtime.store)
        await reads.head(args.cluster)  # UnknownTenant before anything is written
        # The audit history brought to the log's head first, so the file holds it all.
        projector = runtime.projector
        await projector.catch_up(args.cluster, projector.projection(AuditProjection.name))
        by = f"{user()} (dòng lệnh thidua, đọc trực tiếp cơ sở dữ liệu)"
        try:
            # Written beside the target and moved over it: never half a file under its name.
            handle, partial = tempfile.mkstemp(prefix=".nhat-ky-", suffix=".xlsx", dir=out.parent)
        except OSError as exc:
            print(f"thidua: không ghi được tệp {out}: {exc.strerror}", file=sys.stderr)
            return 2
        try:
            with os.fdopen(handle, "wb") as file:
                exported = await export_audit_trail(reads, args.cluster, args.year, by, file)
            os.chmod(partial, 0o666 & ~umask())  # as a file the user makes (mkstemp: 0600)
            os.replace(partial, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    year = f"năm {args.year}" if args.year is not None else "mọi năm"
    print(
        f"{args.cluster}, {year}: {exported.rows} dòng nhật ký (đến vị trí {exported.through}, "
        f"nhật ký ở vị trí {exported.head}) đã ghi vào {out}."
    )
    return 0


async def token(args: argparse.Namespace, settings: Settings) -> int:
    from thidua.api.tokens import development_token

    if settings.production:
        raise ConfigurationError(
            "Chế độ production không ký token phát triển; token do nhà cung cấp định danh "
            "cấp (production issues no development tokens)."
        )
    roles = [Role(r) for r in args.role]
    signed = development_token(
        settings, args.sub, args.cluster, roles, args.unit, args.ttl, args.name
    )
    # In the fragment: browsers never send it, so no server or proxy log ever holds it.
    print(f"{args.link.rstrip('/')}/#token={signed}" if args.link else signed)
    return 0


def parser() -> argparse.ArgumentParser:
    root = arguments.Parser(prog="thidua", description=__doc__)
    root.add_argument("--version", action="version", version=f"thidua {version('thidua')}")
    commands = root.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the HTTP server")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=arguments.port, default=8000)
    serve_cmd.add_argument("--demo", action="store_true", help="load the demo clusters first")
    serve_cmd.add_argument(
        "--workers",
        type=workers,
        default=1,
        metavar="N",
        help="worker processes serving the same port (0 or auto: one per usable core)",
    )
    serve_cmd.set_defaults(run=serve)

    commands.add_parser("demo", help="load the demo clusters").set_defaults(run=demo)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("migrate", help="apply pending migrations").set_defaults(run=db_migrate)
    db.add_parser(
        "status", help="the server, the roles, the migrations applied and pending"
    ).set_defaults(run=db_status)

    audit = commands.add_parser("audit", help="audit the event log").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser("verify", help="recompute a cluster's hash chain")
    verify.add_argument("--cluster", required=True, help="cluster code, e.g. cum-xii")
    verify.set_defaults(run=audit_verify)
    audit.add_parser("key", help="print the log's public key").set_defaults(run=audit_key)
    checkpoint = audit.add_parser("checkpoint", help="sign and print a cluster's checkpoint")
    checkpoint.add_argument("--cluster", required=True)
    checkpoint.set_defaults(run=audit_checkpoint)
    export = audit.add_parser("export", help="write a cluster's evidence for thidua-verify")
    export.add_argument("--cluster", required=True)
    export.add_argument("--year", type=arguments.year, help="the cluster-year's events")
    export.add_argument(
        "--after", type=arguments.position, default=0, help="or the positions after this"
    )
    export.add_argument(
        "--upto", type=arguments.position, help="... up to this one (default: the head)"
    )
    export.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        type=Path,
        help="a checkpoint kept earlier, to include a proof from its size (repeatable)",
    )
    export.add_argument("--out", required=True, type=Path)
    export.set_defaults(run=audit_export)

    workbook = audit.add_parser(
        "workbook", help="write a cluster's audit trail as an Excel workbook"
    )
    workbook.add_argument("--cluster", required=True, help="cluster code, e.g. cum-xii")
    workbook.add_argument("--year", type=arguments.year, help="one year (default: every year)")
    workbook.add_argument("--out", required=True, help="the .xlsx file to write")
    workbook.set_defaults(run=audit_workbook)

    token_cmd = commands.add_parser(
        "token", help="print a development token (HS256, signed with the development secret)"
    )
    token_cmd.add_argument("--sub", required=True, help="the person, e.g. nguyen.van.an")
    token_cmd.add_argument(
        "--cluster", required=True, action="append", help="cluster code (repeatable; * for all)"
    )
    token_cmd.add_argument(
        "--role", required=True, action="append", choices=[r.value for r in Role]
    )
    token_cmd.add_argument("--unit", help="the person's unit, for unit roles")
    token_cmd.add_argument("--name", help="the person's name as people write it")
    token_cmd.add_argument(
        "--ttl", type=arguments.positive, default=8 * 3600, help="seconds (default 8 h)"
    )
    token_cmd.add_argument(
        "--link",
        nargs="?",
        const="http://127.0.0.1:8000",
        metavar="BASE_URL",
        help="print a sign-in link for the pages instead (default http://127.0.0.1:8000); "
        "the token rides in the URL fragment, which never reaches the server",
    )
    token_cmd.set_defaults(run=token)

    projections.add_commands(commands)
    workbooks.add_commands(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging()
    run: Command = args.run
    try:
        return asyncio.run(run(args, Settings.from_env()))
    except ThiduaError as exc:
        print(f"thidua: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
