"""Workbooks people fill in and send back, over plain HTTP; each lands whole, as commands
through the one pipeline, or names every bad cell and writes nothing.

- `GET /clusters/{code}/years/{year}/units/{unit}/self-assessment.xlsx`: the unit's form,
  pre-filled (whoever may read the unit's scorecard); `POST` the same path: the unit's
  changed self scores as one `SelfScoreMany` (whoever may self-score the unit).
- `GET /city/criteria.xlsx`: the criteria template with an example (any signed-in
  caller); `POST /city/criteria.xlsx`: the city board publishes the criteria set in it
  (`PublishTemplate`, in the city's log).

The same checks as the downloads: 401, 403 CLUSTER_NOT_COVERED, 400 for a year that is
not one, 403 (recorded) for a right the caller lacks. A workbook refused for its content
is a 400 `WORKBOOK_INVALID` with one error per bad cell (`extensions.row`, `column`); like
any input that cannot make a command, it is not recorded. A body over 2 MB is a 413.
"""

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from starlette.requests import Request
from starlette.responses import Response

from thidua.api.access import allowed, caller_of, covered
from thidua.api.context import Context, Services
from thidua.api.criteria_book import read_criteria, template_workbook
from thidua.api.downloads import exporter, internal_error, status_of, year_text
from thidua.api.endpoint import bearer, refused
from thidua.api.errors import BadInput
from thidua.api.exports import Export
from thidua.api.forms import TooLarge, WorkbookRefused, open_workbook, upload
from thidua.api.http import negotiate
from thidua.api.self_assessment import FormFor, form_workbook, read_form
from thidua.api.sheets import CODE_FIELD, attachment, unit_of
from thidua.api.tokens import TokenVerifier
from thidua.demo import CITY_CRITERIA, TEMPLATE
from thidua.domain.checks import checked_text
from thidua.domain.cluster_year import ClusterYear
from thidua.domain.commands import PublishTemplate, SelfScoreMany
from thidua.domain.rights import Action, Actor, YearContext
from thidua.domain.scorecard import Layer
from thidua.errors import ThiduaError
from thidua.service.emulation import Emulation
from thidua.service.envelope import Envelope, Recorded
from thidua.service.handlers import CITY_LOG

log = logging.getLogger("thidua.api")

Run = Callable[[Context], Awaitable[Response]]


def _json(request: Request, body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str),
        status_code=status,
        media_type=f"{negotiate(request.headers.get('accept'))}; charset=utf-8",
    )


def workbook_refused(request: Request, refusal: WorkbookRefused) -> Response:
    errors = [
        {
            "message": p.text(),
            "extensions": {"code": refusal.code, "row": p.row, "column": p.column},
        }
        for p in refusal.problems
    ]
    return _json(request, {"errors": errors}, 400)


def book_bytes(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _envelope(ctx: Context, cluster: str, request: Request) -> Envelope:
    """The caller's envelope; an `Idempotency-Key` header makes a resent import a no-op."""
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= 200 and key.isascii() and key.isprintable()):
        raise BadInput("Tiêu đề Idempotency-Key phải có 1 đến 200 ký tự ASCII in được.")
    return Envelope(cluster, caller_of(ctx), idempotency_key=key, request_id=ctx.request_id)


@dataclass(frozen=True)
class Landed:
    """What an import wrote: the criteria it names, in words, and where it landed."""

    codes: list[str]
    message: str
    recorded: Recorded | None  # None: nothing to write

    def answer(self) -> dict[str, Any]:
        found: dict[str, Any] = {"criteria": self.codes, "message": self.message}
        if self.recorded is not None:
            found |= {"version": self.recorded.version, "positions": self.recorded.positions}
        return found


async def land_self_assessment(
    emulation: Emulation, envelope: Envelope, year_number: int, unit: str, data: bytes
) -> Landed:
    """The unit's form read back: its changed rows as one `SelfScoreMany` through the
    pipeline (which authorises the envelope's caller), or every bad cell refused."""
    cluster = envelope.cluster
    year = await emulation.year(cluster, year_number)
    form = FormFor(cluster, year_number, unit, year.criteria_on(emulation.today()))
    book = await asyncio.to_thread(open_workbook, data)
    card = await emulation.scorecard(cluster, year_number, unit)
    scores = read_form(book, form, card.entries.get(Layer.SELF, {}), year.rules.score_step)
    if not scores:
        message = "Biểu mẫu không có thay đổi nào so với điểm tự chấm hiện tại; không ghi gì."
        return Landed([], message, None)
    done = await emulation.handle(envelope, SelfScoreMany(year_number, unit, tuple(scores)))
    codes = [s.criterion for s in scores]
    message = f"Đã ghi điểm tự chấm của {len(codes)} tiêu chí: {', '.join(codes)}."
    return Landed(codes, message, done)


async def land_criteria(emulation: Emulation, envelope: Envelope, data: bytes) -> Landed:
    """The criteria workbook published as the city's template version (`PublishTemplate`,
    in the city's log), or every bad cell refused."""
    book = await asyncio.to_thread(open_workbook, data)
    name, criteria = read_criteria(book)
    done = await emulation.handle(envelope, PublishTemplate(name, criteria))
    message = (
        f"Đã ban hành bộ tiêu chí {name}, phiên bản {criteria.version}, "
        f"{len(criteria.criteria)} tiêu chí."
    )
    return Landed([c.code for c in criteria.criteria], message, done)


class Imports:
    def __init__(self, services: Services, verifier: TokenVerifier) -> None:
        self.services = services
        self.verifier = verifier

    async def _answer(self, request: Request, cluster: str, what: str, run: Run) -> Response:
        ctx = Context(self.services, cluster)
        try:
            ctx.principal = self.verifier.verify(bearer(request.headers.get("authorization")))
            await covered(ctx, cluster, what)
            return await run(ctx)
        except WorkbookRefused as refusal:
            return workbook_refused(request, refusal)
        except TooLarge as refusal:
            return refused(request, refusal, 413, ctx.request_id)
        except ThiduaError as refusal:
            return refused(request, refusal, status_of(refusal), ctx.request_id)
        except Exception:
            log.exception("%s failed (request %s)", what, ctx.request_id)
            return internal_error(request, ctx.request_id)

    async def _form(
        self, ctx: Context, request: Request, action: Action, what: str
    ) -> tuple[FormFor, Actor, ClusterYear]:
        """The unit's form, once the caller may `action` on the unit (else recorded)."""
        code, unit = request.path_params["code"], unit_of(request)
        year = year_text(request.path_params["year"])
        emulation = self.services.emulation
        found = await emulation.year(code, year)
        actor = await allowed(ctx, code, action, found.context(emulation.today()), unit, what, year)
        return FormFor(code, year, unit, found.criteria_on(emulation.today())), actor, found

    async def _current(self, form: FormFor) -> dict[str, Any]:
        card = await self.services.emulation.scorecard(form.cluster, form.year, form.unit)
        return dict(card.entries.get(Layer.SELF, {}))

    async def self_assessment_form(self, request: Request) -> Response:
        what = "selfAssessmentForm"

        async def run(ctx: Context) -> Response:
            form, actor, year = await self._form(ctx, request, Action.READ_OWN_UNIT, what)
            name = year.members[form.unit].name if form.unit in year.members else form.unit
            export = Export(
                self.services.reads,
                self.services.emulation,
                form.cluster,
                form.year,
                None,
                exporter(ctx.caller(), actor),
                datetime.now(UTC),
            )
            title = await export.title(
                await self.services.reads.moment(form.cluster),
                unit=("Đơn vị", f"{name} ({form.unit})"),
                criteria=("Phiên bản bộ tiêu chí", form.criteria.version),
            )
            book = form_workbook(form, title, await self._current(form))
            body = await asyncio.to_thread(book_bytes, book)
            return attachment(body, f"tu-cham-{form.cluster}-{form.year}-{form.unit}", False)

        return await self._answer(request, request.path_params["code"], what, run)

    async def self_assessment_import(self, request: Request) -> Response:
        what = "selfAssessmentImport"

        async def run(ctx: Context) -> Response:
            form, _, _ = await self._form(ctx, request, Action.SELF_SCORE, what)
            data = await upload(request)
            envelope = _envelope(ctx, form.cluster, request)
            landed = await land_self_assessment(
                self.services.emulation, envelope, form.year, form.unit, data
            )
            return _json(request, {"data": landed.answer()})

        return await self._answer(request, request.path_params["code"], what, run)

    async def criteria_template(self, request: Request) -> Response:
        """The template to fill: with `?template=NAME&version=V`, that published version
        (to start the next one from); without, the domain's reference criteria as an
        example. Any signed-in caller: the city's criteria are every cluster's draft."""
        ctx = Context(self.services, None)
        try:
            ctx.principal = self.verifier.verify(bearer(request.headers.get("authorization")))
            book = await self._template(request)
            body = await asyncio.to_thread(book_bytes, book)
        except ThiduaError as refusal:
            return refused(request, refusal, status_of(refusal), ctx.request_id)
        except Exception:
            log.exception("criteria template failed (request %s)", ctx.request_id)
            return internal_error(request, ctx.request_id)
        return attachment(body, "bo-tieu-chi", False)

    async def _template(self, request: Request) -> Workbook:
        name = request.query_params.get("template")
        version = request.query_params.get("version")
        if name is None and version is None:
            return template_workbook(TEMPLATE, CITY_CRITERIA)
        name = checked_text(name or "", CODE_FIELD, "template")
        version = checked_text(version or "", CODE_FIELD, "version")
        found = (await self.services.emulation.template(name)).published(version)
        return template_workbook(name, found)

    async def criteria_import(self, request: Request) -> Response:
        what = "criteriaImport"

        async def run(ctx: Context) -> Response:
            city = YearContext(leader=None)
            await allowed(ctx, CITY_LOG, Action.PUBLISH_CRITERIA, city, None, what)
            data = await upload(request)
            landed = await land_criteria(
                self.services.emulation, _envelope(ctx, CITY_LOG, request), data
            )
            return _json(request, {"data": landed.answer()})

        return await self._answer(request, CITY_LOG, what, run)
