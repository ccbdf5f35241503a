"""thidua projections rebuild | status: the read models, per cluster."""

import argparse
import asyncio
import contextlib
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from thidua.bootstrap import open_runtime
from thidua.cli import arguments
from thidua.config import Settings
from thidua.errors import DatabaseUnavailable, ThiduaError
from thidua.projections.runtime import PROJECTIONS, Leftover, RebuildRunning

console = Console()


class UnknownProjection(ThiduaError):
    code = "UNKNOWN_PROJECTION"

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"Không có projection '{name}' (có: {', '.join(known)}).")


def _selected(name: str | None) -> set[str]:
    """The projections asked for, checked before anything starts."""
    known = [p.name for p in PROJECTIONS]
    if name is not None and name not in known:
        raise UnknownProjection(name, known)
    return {name} if name else set(known)


class RebuildInterrupted(ThiduaError):
    """The database went away mid-rebuild: nothing half-built is served; run it again."""

    code = "REBUILD_INTERRUPTED"

    def __init__(self, cause: DatabaseUnavailable) -> None:
        super().__init__(
            f"Dựng lại bị ngắt giữa chừng vì mất kết nối cơ sở dữ liệu ({cause.code}); các bảng "
            "đang phục vụ không đổi, phần dựng dở sẽ được dọn: hãy chạy lại lệnh khi cơ sở "
            "dữ liệu hoạt động trở lại."
        )


async def rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Every chosen (cluster, projection) rebuilt by a few workers at once; one progress
    line whatever the number of clusters; Ctrl-C stops at once (what an unfinished rebuild
    wrote is never served, and goes at the next run or a server's start; a database lost
    midway is REBUILD_INTERRUPTED, one line, exit 2); with --stale, only what another
    version built, so a run that was stopped resumes where it stopped."""
    names = _selected(args.projection)
    async with open_runtime(settings) as runtime:
        projector = runtime.projector
        if args.cluster is not None:
            await runtime.store.head(args.cluster)  # UnknownTenant: nothing to rebuild
        await projector.clean_leftovers()
        work = [
            (p.tenant, p.projection)
            for p in await projector.progress()
            if p.projection in names
            and (args.cluster is None or p.tenant == args.cluster)
            and (p.needs_rebuild or not args.stale)
        ]
        columns = (
            TextColumn("dựng lại"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>10,.0f} sự kiện/s"),
            TimeElapsedColumn(),
        )
        started, events = time.perf_counter(), 0
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for item in work:
            queue.put_nowait(item)
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("", total=len(work), rate=0.0)

            async def worker() -> None:
                nonlocal events
                while not queue.empty():
                    cluster, name = queue.get_nowait()
                    with contextlib.suppress(RebuildRunning):  # another process has it
                        rebuilt = await projector.rebuild(cluster, projector.projection(name))
                        events += rebuilt  # added after the await: workers interleave
                    rate = events / max(time.perf_counter() - started, 1e-9)
                    bar.update(task, advance=1, rate=rate)

            try:
                await asyncio.gather(*(worker() for _ in range(min(args.jobs, len(work) or 1))))
            except DatabaseUnavailable as exc:  # begun: say so (before, it is plainly that)
                raise RebuildInterrupted(exc) from exc
    console.print(f"{len(work)} projection(s) dựng lại, {events:,} sự kiện.")
    return 0


async def status(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as runtime:
        if args.cluster is not None:
            await runtime.store.head(args.cluster)  # UnknownTenant, not an empty table
        progress = await runtime.projector.progress()
        leftovers = await runtime.projector.leftovers()
    table = Table("cụm", "projection", "phiên bản", "thế hệ", "checkpoint", "đầu log", "trễ")
    for p in progress:
        if args.cluster and p.tenant != args.cluster:
            continue
        version = "—" if p.version is None else str(p.version)
        if p.needs_rebuild:
            version += f" (cần dựng lại: mã nguồn {p.current_version})"
        generation = "—" if p.generation is None else str(p.generation)
        table.add_row(
            p.tenant, p.projection, version, generation, str(p.position), str(p.head), str(p.lag)
        )
    console.print(table)
    for leftover in leftovers:
        if args.cluster is None or leftover.tenant == args.cluster:
            console.print(_leftover(leftover))
    return 0


def _leftover(found: Leftover) -> str:
    where = f"{found.tenant}, {found.projection}: thế hệ {found.generation}"
    if found.running:
        return f"{where} đang được dựng lại (thế hệ đang phục vụ: {found.serving})."
    return (
        f"{where} còn sót lại từ một lần dựng lại bị ngắt (không được phục vụ); sẽ được dọn "
        "khi máy chủ khởi động hoặc ở lần 'thidua projections rebuild' tới."
    )


def add_commands(commands: "argparse._SubParsersAction[arguments.Parser]") -> None:
    group = commands.add_parser("projections", help="the read models").add_subparsers(
        dest="projections_command", required=True
    )
    rebuild_cmd = group.add_parser(
        "rebuild", help="replay the log into fresh rows, then swap them in atomically"
    )
    rebuild_cmd.add_argument("--cluster", help="one cluster's code (default: every cluster)")
    rebuild_cmd.add_argument("--projection", help="standings or audit_history (default: both)")
    rebuild_cmd.add_argument(
        "--stale", action="store_true", help="only those another code version built (resumes)"
    )
    rebuild_cmd.add_argument(
        "--jobs", type=arguments.positive, default=4, help="clusters rebuilt at once (default 4)"
    )
    rebuild_cmd.set_defaults(run=rebuild)
    status_cmd = group.add_parser("status", help="each projection's checkpoint and lag")
    status_cmd.add_argument("--cluster", help="one cluster's code (default: every cluster)")
    status_cmd.set_defaults(run=status)
