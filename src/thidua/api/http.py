"""Strawberry's ASGI view, made to follow GraphQL over HTTP (the graphql-http audits pass).

What it adds to `strawberry.asgi.GraphQL`:

- `application/graphql-response+json` when the client accepts it (else `application/json`);
- a request error (unparseable document, failed validation, bad variables) has no `data`
  entry, and with graphql-response+json it is a 400;
- a mutation over GET is a 405 with `Allow: POST`;
- requests refused before execution get a JSON `{"errors": [...]}` body, not plain text;
- UTF-8 JSON with non-ASCII written as itself.
"""

import json

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.typevars import Context, RootValue
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
BAD_REQUEST = {"code": "BAD_REQUEST"}


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header.

    graphql-response+json when the client accepts it at least as much as application/json;
    otherwise application/json, which is also the answer for a missing header, `*/*` and
    anything we cannot serve (legacy clients, as the spec allows during its watershed).
    """
    best, best_rank = JSON, (0.0, 0)
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        rank = {GRAPHQL_RESPONSE_JSON: 2, JSON: 1}.get(media.lower())
        if rank is None:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (q, rank) > best_rank:
            best, best_rank = media.lower(), (q, rank)
    return best


def is_request_error(result: ExecutionResult) -> bool:
    """Refused before execution: parse, validation or variable coercion errors.

    graphql-core returns `data=None` both for these and for a field error that nulls a
    non-null root field; only field errors carry a `path`, so that tells them apart.
    """
    return (
        result.data is None
        and bool(result.errors)
        and all(e.path is None for e in result.errors or ())
    )


class GraphQLSubResponse(Response):
    """Strawberry's sub-response (status and headers a resolver may set), plus the media type
    negotiated from the request's Accept header, which `create_response` cannot see."""

    def __init__(self, media_type: str) -> None:
        super().__init__()
        self.status_code = None  # type: ignore[assignment]  # unset: the view decides
        del self.headers["content-length"]
        self.negotiated = media_type


class GraphQLView(GraphQL[Context, RootValue]):
    """`strawberry.asgi.GraphQL` that passes the GraphQL-over-HTTP audits; same constructor."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Strawberry answers requests it refuses (HTTPException) in plain text; GraphQL
        # clients expect a JSON errors list in the negotiated media type, and 405 needs Allow.
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as e:
            media = negotiate(request.headers.get("accept"))
            response = Response(
                self.encode_json(
                    {"errors": [{"message": e.reason, "extensions": {"code": "BAD_REQUEST"}}]}
                ),
                status_code=e.status_code,
                media_type=f"{media}; charset=utf-8",
            )
            if e.status_code == 405:
                response.headers["allow"] = "POST" if request.method == "GET" else "GET, POST"
        await response(scope, receive, send)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        # Carries the negotiated media type to `create_response`.
        return GraphQLSubResponse(negotiate(request.headers.get("accept")))

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: RootValue | None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # Strawberry refuses a mutation over GET with 400; the spec says 405 Method Not Allowed.
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as e:
            if request_adapter.method == "GET" and isinstance(
                e.__cause__, InvalidOperationTypeError
            ):
                raise HTTPException(405, e.reason) from e.__cause__
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # Strawberry always writes `"data": null`; a request error must have no data entry.
        response = await super().process_result(request, result)
        if is_request_error(result):
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        # Strawberry always answers 200 application/json. With graphql-response+json the
        # status tells a request error (no data entry): 400, unless a resolver chose one.
        response = super().create_response(response_data, sub_response)
        media = sub_response.negotiated if isinstance(sub_response, GraphQLSubResponse) else JSON
        response.headers["content-type"] = f"{media}; charset=utf-8"
        if (
            media == GRAPHQL_RESPONSE_JSON
            and isinstance(response_data, dict)
            and "data" not in response_data
            and not sub_response.status_code
        ):
            response.status_code = 400
        return response

    def encode_json(self, data: object) -> str:
        # UTF-8 JSON with Vietnamese written as itself, not \u escapes (Starlette encodes str
        # as UTF-8). A str, not bytes: the WebSocket protocols must send text frames.
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


__all__ = ["GRAPHQL_RESPONSE_JSON", "GraphQLSubResponse", "GraphQLView", "negotiate"]
