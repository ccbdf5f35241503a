"""The witness over HTTP: `POST /add-checkpoint` as c2sp.org/tlog-witness defines it."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from thidua.witness.core import Refused, Witness

MAX_BODY = 64 * 1024  # 63 proof lines and 100 signature lines fit many times over
SIZE_TYPE = "text/x.tlog.size"


class _TooLarge(Exception):
    pass


async def _body(request: Request) -> bytes:
    """The request body, refusing one larger than any valid request before reading it all."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _TooLarge
    return body


def _refusal(refused: Refused) -> Response:
    if refused.status == 409:  # exactly the size and a newline, as clients parse it
        return Response(f"{refused.size}\n", 409, headers={"content-type": SIZE_TYPE})
    return PlainTextResponse(refused.message + "\n", refused.status)


def create_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _body(request)
        except _TooLarge:
            return PlainTextResponse("Yêu cầu quá lớn.\n", 413)
        try:
            cosignature = await witness.add_checkpoint(body)
        except Refused as refused:
            return _refusal(refused)
        return PlainTextResponse(cosignature)

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])
