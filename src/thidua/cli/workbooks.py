"""thidua export standings|scorecard|scorecards|results and thidua import
criteria|self-assessment: the workbooks of the HTTP API, from the server's command line.

Exports read the database directly, as `thidua audit workbook` does: the server's
operator reads everything (drafts included) and the file says so. Imports act for the
holder of a token (`--token` or `THIDUA_TOKEN`), verified with the server's own keys:
the token's cluster and rights are checked as over HTTP, and the import runs through
the same pipeline, whole or not at all.
"""

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from thidua.api import exports
from thidua.api.auth import caller, check_cluster
from thidua.api.exports import Export, layer_named
from thidua.api.forms import WorkbookRefused
from thidua.api.imports import Landed, land_criteria, land_self_assessment
from thidua.api.sheets import render
from thidua.api.tables import Table
from thidua.api.tokens import TokenVerifier
from thidua.bootstrap import open_runtime
from thidua.cli import arguments
from thidua.cli.files import user, write_whole
from thidua.config import Settings
from thidua.domain.results import RANKING_LAYER
from thidua.domain.scorecard import Layer
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Envelope
from thidua.service.reads import Reads

KINDS = ("standings", "scorecard", "scorecards", "results")


async def export(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(args.out)
    csv = out.suffix.lower() == ".csv"
    if out.suffix.lower() not in (".csv", ".xlsx"):
        print("thidua: tệp xuất phải có đuôi .xlsx hoặc .csv", file=sys.stderr)
        return 2
    if args.kind == "scorecard" and not args.unit:
        print("thidua: xuất phiếu chấm của một đơn vị cần --unit", file=sys.stderr)
        return 2
    async with open_runtime(settings) as runtime:
        emulation = Emulation(runtime.store)
        by = f"{user()} (dòng lệnh thidua, đọc trực tiếp cơ sở dữ liệu)"
        made = Export(
            Reads(runtime.store), emulation, args.cluster, args.year, None, by, datetime.now(UTC)
        )
        tables = await _tables(made, args, csv)
        data = await render(tables, csv)
    try:
        write_whole(out, data)
    except OSError as exc:
        print(f"thidua: không ghi được tệp {out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"{args.cluster}, năm {args.year}: {args.kind} đã ghi vào {out}.")
    return 0


async def _tables(made: Export, args: argparse.Namespace, csv: bool) -> list[Table]:
    if args.kind == "standings":
        layers = [args.layer] if args.layer else [RANKING_LAYER] if csv else list(Layer)
        return await exports.standings(made, layers)
    if args.kind == "scorecard":
        return await exports.scorecards(made, [args.unit], history=not csv)
    if args.kind == "scorecards":
        year = await made.emulation.year(made.cluster, made.year)
        return await exports.scorecards(made, sorted(year.members), history=False)
    return await exports.results(made)


async def import_workbook(args: argparse.Namespace, settings: Settings) -> int:
    token = args.token or os.environ.get("THIDUA_TOKEN")
    if not token:
        print("thidua: cần token (--token hoặc biến THIDUA_TOKEN)", file=sys.stderr)
        return 2
    cluster = CITY_LOG if args.kind == "criteria" else args.cluster
    if cluster is None or (args.kind != "criteria" and not (args.year and args.unit)):
        print("thidua: nhập biểu mẫu tự chấm cần --cluster, --year và --unit", file=sys.stderr)
        return 2
    principal = TokenVerifier(settings).verify(token)
    check_cluster(principal, cluster)
    try:
        data = await asyncio.to_thread(Path(args.file).read_bytes)
    except OSError as exc:
        print(f"thidua: không đọc được tệp {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    envelope = Envelope(cluster, caller(principal))
    async with open_runtime(settings) as runtime:
        emulation = Emulation(runtime.store)
        try:
            landed: Landed
            if args.kind == "criteria":
                landed = await land_criteria(emulation, envelope, data)
            else:
                landed = await land_self_assessment(emulation, envelope, args.year, args.unit, data)
        except WorkbookRefused as refusal:
            for problem in refusal.problems:
                print(problem.text(), file=sys.stderr)
            print(f"thidua: {len(refusal.problems)} lỗi; chưa ghi gì.", file=sys.stderr)
            return 1
    print(landed.message)
    return 0


def _layer(text: str) -> Layer:
    try:
        return layer_named(text)
    except ValueError:
        raise argparse.ArgumentTypeError("lớp điểm là self, verified hoặc city") from None


def add_commands(commands: "argparse._SubParsersAction[arguments.Parser]") -> None:
    out = commands.add_parser(
        "export", help="write standings, scorecards or results as .xlsx or .csv"
    )
    out.add_argument("kind", choices=KINDS)
    out.add_argument("--cluster", required=True, help="cluster code, e.g. cum-xii")
    out.add_argument("--year", required=True, type=arguments.year)
    out.add_argument("--unit", help="the unit, for a scorecard")
    out.add_argument(
        "--layer", type=_layer, help="self, verified or city (standings; default every layer)"
    )
    out.add_argument("--out", required=True, help="the file: .xlsx or .csv")
    out.set_defaults(run=export)

    into = commands.add_parser(
        "import", help="land a criteria or self-assessment workbook, whole or not at all"
    )
    into.add_argument("kind", choices=("criteria", "self-assessment"))
    into.add_argument("--file", required=True, help="the .xlsx to import")
    into.add_argument("--token", help="whose act it is (default: $THIDUA_TOKEN)")
    into.add_argument("--cluster", help="cluster code (self-assessment)")
    into.add_argument("--year", type=arguments.year, help="the year (self-assessment)")
    into.add_argument("--unit", help="the unit (self-assessment)")
    into.set_defaults(run=import_workbook)
