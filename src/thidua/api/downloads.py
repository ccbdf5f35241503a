"""Files to download over plain HTTP, behind the same checks as GraphQL: the audit trail
as a workbook, `GET /clusters/{code}/audit.xlsx?year=2025`.

The bearer token is verified (else 401), the cluster must be one the token covers (else
403 CLUSTER_NOT_COVERED, counted for the deployment, never in the cluster's log), the
year must be a year (else 400), and the caller must have the audit-read right on the
cluster (else 403, the refusal recorded in the cluster's log as any refused read is).
Every refusal is the GraphQL errors list GraphQL callers get; nothing answers a 500 but
an unexpected failure, logged with its request id.
"""

import json
import logging
import tempfile
from collections.abc import Iterator
from typing import IO

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from thidua.api.access import allowed, covered
from thidua.api.context import Context, Services
from thidua.api.endpoint import bearer, refused
from thidua.api.errors import BadInput
from thidua.api.http import negotiate
from thidua.api.tokens import Principal, TokenVerifier, Unauthenticated
from thidua.api.workbooks import MEDIA_TYPE, export_audit_trail, file_name, role_label
from thidua.domain.errors import Forbidden, InvalidInput, NotFound
from thidua.domain.rights import Action, Actor
from thidua.errors import DatabaseUnavailable, ThiduaError, UnknownTenant
from thidua.ledger.evidence import streamed
from thidua.telemetry import metrics

log = logging.getLogger("thidua.api")

AUDIT_WORKBOOK = "auditWorkbook"  # the read, as refusals of it are recorded
SPOOL = 8 * 1024 * 1024  # bytes of a workbook kept in memory before it goes to disk
CHUNK = 64 * 1024


def year_of(request: Request) -> int | None:
    """The `year` query parameter: none, or one year from 2000 to 2100."""
    given = request.query_params.getlist("year")
    if not given:
        return None
    if len(given) > 1:
        raise InvalidInput("BAD_VALUE", "Chỉ nêu một năm thi đua (year) trong mỗi yêu cầu.")
    return year_text(given[0])


def year_text(text: str) -> int:
    """A year as a URL writes it: four digits, from 2000 to 2100."""
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        raise InvalidInput(
            "BAD_VALUE",
            "Năm thi đua (year) phải viết bằng 4 chữ số, ví dụ ?year=2025.",
        )
    if not 2000 <= int(text) <= 2100:
        raise InvalidInput("OUT_OF_RANGE", "Năm thi đua (year) phải trong các năm 2000-2100.")
    return int(text)


def status_of(refusal: ThiduaError) -> int:
    if isinstance(refusal, Unauthenticated):
        return 401
    if isinstance(refusal, Forbidden):
        return 403
    if isinstance(refusal, UnknownTenant | NotFound):
        return 404
    if isinstance(refusal, InvalidInput | BadInput):
        return 400
    if isinstance(refusal, DatabaseUnavailable):
        return 503
    return 409


def exporter(principal: Principal, actor: Actor) -> str:
    """Who exported, as the token says, and in which role."""
    who = principal.person
    if principal.name and principal.name != principal.person:
        who = f"{principal.name} ({principal.person})"
    return f"{who}, {role_label(actor.role.value)}"


def internal_error(request: Request, request_id: str) -> Response:
    """An unexpected failure, as GraphQL masks one: nothing internal, the request id."""
    metrics.refused("INTERNAL_ERROR")
    error = {
        "message": f"Lỗi nội bộ của máy chủ; mã yêu cầu {request_id}.",
        "extensions": {"code": "INTERNAL_ERROR", "requestId": request_id},
    }
    return Response(
        json.dumps({"errors": [error]}, ensure_ascii=False, separators=(",", ":")),
        status_code=500,
        media_type=f"{negotiate(request.headers.get('accept'))}; charset=utf-8",
    )


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := file.read(CHUNK):
            yield chunk
    finally:
        file.close()


class Downloads:
    def __init__(self, services: Services, verifier: TokenVerifier) -> None:
        self.services = services
        self.verifier = verifier

    async def audit_workbook(self, request: Request) -> Response:
        code = request.path_params["code"]
        ctx = Context(self.services, code)
        file = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - closed by _chunks
        try:
            ctx.principal = self.verifier.verify(bearer(request.headers.get("authorization")))
            await covered(ctx, code, AUDIT_WORKBOOK)
            year = year_of(request)
            actor = await allowed(
                ctx, code, Action.READ_AUDIT, None, what=AUDIT_WORKBOOK, year_number=year
            )
            by = exporter(ctx.principal, actor)
            await export_audit_trail(self.services.reads, code, year, by, file)
        except ThiduaError as refusal:
            file.close()
            return refused(request, refusal, status_of(refusal), ctx.request_id)
        except Exception:
            file.close()
            log.exception("audit workbook failed (request %s)", ctx.request_id)
            return internal_error(request, ctx.request_id)
        size = file.tell()
        file.seek(0)
        headers = {
            "content-disposition": f'attachment; filename="{file_name(code, year)}"',
            "content-length": str(size),
            "cache-control": "private, no-store",
        }
        return StreamingResponse(_chunks(file), media_type=MEDIA_TYPE, headers=headers)

    async def evidence(self, request: Request) -> Response:
        """`GET /clusters/{code}/evidence?year=2025` (or `?after=&upto=`, and `kept=SIZE`
        for each checkpoint the auditor kept): the evidence file `thidua-verify` checks."""
        code = request.path_params["code"]
        ctx = Context(self.services, code)
        try:
            ctx.principal = self.verifier.verify(bearer(request.headers.get("authorization")))
            await covered(ctx, code, EVIDENCE)
            year = year_of(request)
            actor = await allowed(
                ctx, code, Action.READ_AUDIT, None, what=EVIDENCE, year_number=year
            )
            header, events = await self.services.evidence.export(
                code,
                year=year,
                after=_number(request, "after") or 0,
                upto=_number(request, "upto"),
                kept=_numbers(request, "kept"),
                by=exporter(ctx.principal, actor),
            )
        except ThiduaError as refusal:
            return refused(request, refusal, status_of(refusal), ctx.request_id)
        name = f"bang-chung-{code}-{year}.jsonl" if year else f"bang-chung-{code}.jsonl"
        headers = {
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "private, no-store",
        }
        return StreamingResponse(
            streamed(header, events), media_type=EVIDENCE_TYPE, headers=headers
        )


EVIDENCE = "evidence"  # the read, as refusals of it are recorded
EVIDENCE_TYPE = "application/x-ndjson; charset=utf-8"


def _numbers(request: Request, name: str) -> list[int]:
    given = request.query_params.getlist(name)
    if len(given) > MAX_NUMBERS or not all(
        t.isascii() and t.isdigit() and len(t) < 16 for t in given
    ):
        raise InvalidInput(
            "BAD_VALUE", f"Tham số {name} phải là số nguyên không âm (tối đa {MAX_NUMBERS} lần)."
        )
    return [int(t) for t in given]


def _number(request: Request, name: str) -> int | None:
    found = _numbers(request, name)
    if len(found) > 1:
        raise InvalidInput("BAD_VALUE", f"Chỉ nêu tham số {name} một lần.")
    return found[0] if found else None


MAX_NUMBERS = 100
