"""thidua projections rebuild | status: the read models, per cluster."""

import argparse
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from thidua.bootstrap import open_runtime
from thidua.config import Settings
from thidua.projections.runtime import Projector

console = Console()


def _selected(projector: Projector, name: str | None) -> list[str]:
    return [projector.projection(name).name] if name else list(projector.projections)


async def rebuild(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as runtime:
        projector = runtime.projector
        names = _selected(projector, args.projection)
        clusters = [args.cluster] if args.cluster else await _clusters(projector)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>10,.0f} sự kiện/s"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            for cluster in clusters:
                for name in names:
                    task = bar.add_task(f"{cluster} · {name}", total=None, rate=0.0)
                    started = time.perf_counter()

                    def report(
                        position: int, head: int, task: TaskID = task, t0: float = started
                    ) -> None:
                        rate = position / max(time.perf_counter() - t0, 1e-9)
                        bar.update(task, completed=position, total=head, rate=rate)

                    events = await projector.rebuild(cluster, projector.projection(name), report)
                    report(events, events)
    return 0


async def _clusters(projector: Projector) -> list[str]:
    return sorted({p.tenant for p in await projector.progress()})


async def status(args: argparse.Namespace, settings: Settings) -> int:
    async with open_runtime(settings) as runtime:
        progress = await runtime.projector.progress()
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
    return 0


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    group = commands.add_parser("projections", help="the read models").add_subparsers(
        dest="projections_command", required=True
    )
    rebuild_cmd = group.add_parser(
        "rebuild", help="replay the log into fresh rows, then swap them in atomically"
    )
    rebuild_cmd.add_argument("--cluster", help="one cluster's code (default: every cluster)")
    rebuild_cmd.add_argument("--projection", help="standings or audit_history (default: both)")
    rebuild_cmd.set_defaults(run=rebuild)
    status_cmd = group.add_parser("status", help="each projection's checkpoint and lag")
    status_cmd.add_argument("--cluster", help="one cluster's code (default: every cluster)")
    status_cmd.set_defaults(run=status)
