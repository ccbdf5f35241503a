"""Workbooks and CSV over plain HTTP, behind the same checks as GraphQL.

Exports (`GET …/standings.xlsx|csv`, `…/units/{unit}/scorecard.xlsx|csv`,
`…/scorecards.xlsx|csv`, `…/results.xlsx|csv` under `/clusters/{code}/years/{year}`):
the token verified (else 401), the cluster covered (else 403 CLUSTER_NOT_COVERED, counted
for the deployment), the year a year (else 400) that the cluster opened (else 404), the
read allowed as the matching GraphQL field allows it (else 403, recorded in the cluster's
log), and the figures shaped by the caller's right to drafts exactly as GraphQL shapes
them. Imports (the self-assessment form, the city's criteria) live in `api/imports.py`.
Every refusal is the GraphQL errors list of `api/downloads.py`, with its statuses.
"""

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from thidua.api import exports
from thidua.api.access import allowed, covered
from thidua.api.auth import permits
from thidua.api.context import Context, Services
from thidua.api.downloads import exporter, internal_error, status_of, year_text
from thidua.api.endpoint import bearer, refused
from thidua.api.exports import Export, layer_named
from thidua.api.queries import reader
from thidua.api.tables import CSV_TYPE, Table, csv_text, save_xlsx
from thidua.api.tokens import TokenVerifier
from thidua.api.workbooks import MEDIA_TYPE
from thidua.domain.checks import Field, checked_text
from thidua.domain.cluster_year import ClusterYear
from thidua.domain.errors import InvalidInput, NotFound
from thidua.domain.results import RANKING_LAYER
from thidua.domain.rights import Action, YearContext
from thidua.domain.scorecard import Layer
from thidua.errors import ThiduaError

log = logging.getLogger("thidua.api")
CODE_FIELD = Field("code", 64)


def unit_of(request: Request) -> str:
    """The unit in the URL: a code (else 400 BAD_CODE, before anything is read or recorded)."""
    return checked_text(request.path_params["unit"], CODE_FIELD, "unit")


def layers_of(request: Request, csv: bool) -> list[Layer]:
    """`?layer=self|verified|city`; without it every layer, or for CSV (one table) the
    ranking layer."""
    given = request.query_params.getlist("layer")
    if len(given) > 1:
        raise InvalidInput("BAD_VALUE", "Chỉ nêu một lớp điểm (layer) trong mỗi yêu cầu.")
    if not given:
        return [RANKING_LAYER] if csv else list(Layer)
    try:
        return [layer_named(given[0])]
    except ValueError:
        raise InvalidInput(
            "BAD_VALUE", "Lớp điểm (layer) phải là self, verified hoặc city, ví dụ ?layer=city."
        ) from None


async def render(tables: list[Table], csv: bool) -> bytes:
    if csv:
        return csv_text(tables).encode("utf-8")
    buffer = io.BytesIO()
    await asyncio.to_thread(save_xlsx, tables, buffer)
    return buffer.getvalue()


def attachment(body: bytes, name: str, csv: bool) -> Response:
    headers = {
        "content-disposition": f'attachment; filename="{name}.{"csv" if csv else "xlsx"}"',
        "cache-control": "private, no-store",
    }
    return Response(body, media_type=CSV_TYPE if csv else MEDIA_TYPE, headers=headers)


Build = Callable[[Context, str, int, bool], Awaitable[tuple[list[Table], str]]]


class Sheets:
    def __init__(self, services: Services, verifier: TokenVerifier) -> None:
        self.services = services
        self.verifier = verifier

    async def _answer(self, request: Request, what: str, build: Build) -> Response:
        """The checks every export shares, then the tables `build` makes, as a file."""
        code = request.path_params["code"]
        csv = request.url.path.endswith(".csv")
        ctx = Context(self.services, code)
        try:
            ctx.principal = self.verifier.verify(bearer(request.headers.get("authorization")))
            await covered(ctx, code, what)
            year = year_text(request.path_params["year"])
            tables, name = await build(ctx, code, year, csv)
            body = await render(tables, csv)
        except ThiduaError as refusal:
            return refused(request, refusal, status_of(refusal), ctx.request_id)
        except Exception:
            log.exception("%s failed (request %s)", what, ctx.request_id)
            return internal_error(request, ctx.request_id)
        return attachment(body, name, csv)

    async def _year(self, code: str, year: int) -> tuple[ClusterYear, YearContext]:
        found = await self.services.emulation.year(code, year)
        return found, found.context(self.services.emulation.today())

    def _export(self, ctx: Context, code: str, year: int, context: YearContext, by: str) -> Export:
        return Export(
            self.services.reads,
            self.services.emulation,
            code,
            year,
            reader(ctx, context),
            by,
            datetime.now(UTC),
        )

    async def standings(self, request: Request) -> Response:
        what = "standingsWorkbook"

        async def build(ctx: Context, code: str, year: int, csv: bool) -> tuple[list[Table], str]:
            layers = layers_of(request, csv)
            _, context = await self._year(code, year)
            actor = await allowed(ctx, code, Action.READ_PUBLISHED, context, None, what, year)
            export = self._export(ctx, code, year, context, exporter(ctx.caller(), actor))
            suffix = f"-{layers[0].value}" if len(layers) == 1 else ""
            return await exports.standings(export, layers), f"xep-hang-{code}-{year}{suffix}"

        return await self._answer(request, what, build)

    async def scorecard(self, request: Request) -> Response:
        what = "scorecardWorkbook"

        async def build(ctx: Context, code: str, year: int, csv: bool) -> tuple[list[Table], str]:
            unit = unit_of(request)
            _, context = await self._year(code, year)
            actor = await allowed(ctx, code, Action.READ_OWN_UNIT, context, unit, what, year)
            export = self._export(ctx, code, year, context, exporter(ctx.caller(), actor))
            # The CSV is the card alone (one table); the workbook adds the history sheet.
            tables = await exports.scorecards(export, [unit], history=not csv)
            return tables, f"phieu-cham-{code}-{year}-{unit}"

        return await self._answer(request, what, build)

    async def every_scorecard(self, request: Request) -> Response:
        what = "scorecardsWorkbook"

        async def build(ctx: Context, code: str, year: int, csv: bool) -> tuple[list[Table], str]:
            found, context = await self._year(code, year)
            actor = await allowed(ctx, code, Action.READ_PUBLISHED, context, None, what, year)
            units = sorted(found.members)
            if not units:
                raise NotFound("NO_MEMBERS", f"Năm thi đua {year} của cụm chưa có thành viên.")
            readable = [u for u in units if permits(ctx.caller(), Action.READ_OWN_UNIT, context, u)]
            if not readable:  # refused, and recorded, as the scorecard field refuses
                await allowed(ctx, code, Action.READ_OWN_UNIT, context, units[0], what, year)
            export = self._export(ctx, code, year, context, exporter(ctx.caller(), actor))
            tables = await exports.scorecards(export, readable, history=False)
            return tables, f"phieu-cham-{code}-{year}"

        return await self._answer(request, what, build)

    async def results(self, request: Request) -> Response:
        what = "resultsWorkbook"

        async def build(ctx: Context, code: str, year: int, csv: bool) -> tuple[list[Table], str]:
            _, context = await self._year(code, year)
            actor = await allowed(ctx, code, Action.READ_PUBLISHED, context, None, what, year)
            export = self._export(ctx, code, year, context, exporter(ctx.caller(), actor))
            return await exports.results(export), f"ket-qua-{code}-{year}"

        return await self._answer(request, what, build)


def routes_of(sheets: Sheets) -> list[tuple[str, Callable[[Request], Awaitable[Any]]]]:
    """Each export's path under /clusters/{code}/years/{year}, for .xlsx and .csv."""
    found: list[tuple[str, Callable[[Request], Awaitable[Any]]]] = []
    for path, handler in (
        ("standings", sheets.standings),
        ("units/{unit}/scorecard", sheets.scorecard),
        ("scorecards", sheets.every_scorecard),
        ("results", sheets.results),
    ):
        for suffix in ("xlsx", "csv"):
            found.append((f"/clusters/{{code}}/years/{{year}}/{path}.{suffix}", handler))
    return found
