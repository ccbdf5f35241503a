"""The log's public key at a well-known address, for auditors and witnesses: the signed-note
verifier key every checkpoint of every cluster is signed with."""

from starlette.requests import Request
from starlette.responses import PlainTextResponse


async def log_key(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.app.state.ledger.public_key + "\n")
