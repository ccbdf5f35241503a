"""Strawberry's ASGI view, made to follow GraphQL over HTTP (the graphql-http audits pass).

What it adds to `strawberry.asgi.GraphQL`:

- `application/graphql-response+json` when the client accepts it (else `application/json`);
- a request error (unparseable document, failed validation, bad variables) has no `data`
  entry, and with graphql-response+json it is a 400;
- a mutation over GET is a 405 with `Allow: POST`;
- requests refused before execution get a JSON `{"errors": [...]}` body, not plain text,
  with a Vietnamese message and a code (`BAD_REQUEST` unless the refusal names another);
- a body over `max_body_bytes` is a 413, whatever its Content-Length said;
- a body that is not UTF-8, not JSON, nested past the interpreter's stack, or not an
  object is a 400, never a 500;
- a document with several operations and no `operationName` is refused (the GraphQL spec:
  the operation to run must be named), and so is a subscription: over HTTP only queries
  and mutations run (subscriptions speak graphql-transport-ws);
- over graphql-transport-ws, a message that is not JSON or not an object closes the socket
  with 4400 (the protocol's answer to an invalid message), and a subscribe message whose
  payload would be refused over HTTP gets an `error` message with the same codes;
- an answer whose errors include one worth a retry (the database away or full,
  `extensions.retryable`) is a 503 with `Retry-After`, whatever the media type;
- UTF-8 JSON with non-ASCII written as itself.
"""

import contextlib
import json
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.typevars import Context, RootValue
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.types import ExecutionResult

from thidua.api.errors import retry_after
from thidua.api.limits import MAX_BODY_BYTES, number
from thidua.telemetry import metrics
from thidua.telemetry.request import note_operation

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

# Strawberry's own refusals, as our callers read them.
VIETNAMESE = {
    "Unable to parse request body as JSON": "Nội dung yêu cầu không phải JSON hợp lệ.",
    "Unsupported content type": (
        "Kiểu nội dung không được hỗ trợ: gửi application/json (hoặc dùng GET)."
    ),
    "No GraphQL query found in the request": "Yêu cầu không có câu truy vấn GraphQL (query).",
    "Batching is not enabled": "Mỗi yêu cầu chỉ chứa một thao tác GraphQL, không gửi theo lô.",
    "GraphQL only supports GET and POST requests.": "GraphQL chỉ nhận yêu cầu GET và POST.",
    "Can't get GraphQL operation type": "Tài liệu không có thao tác nào để chạy.",
    "The GraphQL operation's `query` must be a string or null, if provided.": (
        "Trường query phải là một chuỗi văn bản."
    ),
    "The GraphQL operation's `variables` must be an object or null, if provided.": (
        "Trường variables phải là một đối tượng JSON."
    ),
    "The GraphQL operation's `extensions` must be an object or null, if provided.": (
        "Trường extensions phải là một đối tượng JSON."
    ),
    "mutations are not allowed when using GET": (
        "Thao tác thay đổi dữ liệu (mutation) phải gửi bằng POST."
    ),
    "Not Found": "Không tìm thấy trang này.",
}


UNKNOWN_OPERATION = "Tài liệu không có thao tác nào mang tên operationName đã nêu."


def vietnamese(reason: str) -> str:
    if reason.startswith("Unknown operation named"):
        return UNKNOWN_OPERATION
    return VIETNAMESE.get(reason, reason)


class Refused(HTTPException):
    """A request refused before it runs: its status, a Vietnamese reason, a stable code."""

    def __init__(self, status_code: int, reason: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(status_code, reason)
        self.code = code


def request_error(message: str, code: str) -> ExecutionResult:
    """A GraphQL request error (no data, one coded error): 400 with graphql-response+json,
    200 with application/json, as for a document that does not validate."""
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


NOT_AN_OBJECT = 'Nội dung yêu cầu phải là một đối tượng JSON, ví dụ {"query": "{ me { person } }"}.'


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


def counted(result: ExecutionResult) -> ExecutionResult:
    """A request error refused here, its codes counted (the schema counts its own)."""
    for error in result.errors or ():
        metrics.refused((error.extensions or {}).get("code"))
    return result


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


class TransportWS(BaseGraphQLTransportWSHandler[Context, RootValue]):
    """graphql-transport-ws, with a subscribe message checked as an HTTP request is."""

    async def handle_message(self, message: Message) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("Invalid message")
            return
        if message["type"] == "subscribe" and self.connection_acknowledged:
            if not isinstance(message.get("id"), str):
                await self.handle_invalid_message("Invalid message id")
                return
            assert isinstance(self.view, GraphQLView)
            refused = self.view.subscribe_refusal(message.get("payload"))
            if refused is not None:
                counted(refused)
                errors = [e.formatted for e in refused.errors or ()]
                await self.send_message({"id": message["id"], "type": "error", "payload": errors})
                return
        await super().handle_message(message)


class GraphQLView(GraphQL[Context, RootValue]):
    """`strawberry.asgi.GraphQL` that passes the GraphQL-over-HTTP audits; same constructor."""

    max_body_bytes = MAX_BODY_BYTES
    graphql_transport_ws_handler_class: type[BaseGraphQLTransportWSHandler[Context, RootValue]] = (
        TransportWS
    )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Strawberry answers requests it refuses (HTTPException) in plain text; GraphQL
        # clients expect a JSON errors list in the negotiated media type, and 405 needs Allow.
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            await self.read_body(request)
            response = await self.run(request)
        except HTTPException as e:
            media = negotiate(request.headers.get("accept"))
            code = e.code if isinstance(e, Refused) else "BAD_REQUEST"
            metrics.refused(code)
            error = {"message": vietnamese(e.reason), "extensions": {"code": code}}
            response = Response(
                self.encode_json({"errors": [error]}),
                status_code=e.status_code,
                media_type=f"{media}; charset=utf-8",
            )
            if e.status_code == 405:
                response.headers["allow"] = "POST" if request.method == "GET" else "GET, POST"
        await response(scope, receive, send)

    async def read_body(self, request: Request) -> None:
        """Reads the body, refusing it (413) once it outgrows the limit: a Content-Length
        over it is refused unread, a chunked body as soon as it passes it."""
        too_large = Refused(
            413,
            f"Nội dung yêu cầu dài tối đa {number(self.max_body_bytes)} byte.",
            "REQUEST_TOO_LARGE",
        )
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise too_large
            chunks.append(chunk)
        request._body = b"".join(chunks)  # what request.body() returns from now on

    def parse_json(self, data: str | bytes) -> Any:
        """The body (or a GET parameter) as JSON: an object, an array or null."""
        try:
            found = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
        except UnicodeDecodeError as e:
            raise Refused(400, "Nội dung yêu cầu không phải văn bản UTF-8 hợp lệ.") from e
        except json.JSONDecodeError as e:
            raise Refused(400, VIETNAMESE["Unable to parse request body as JSON"]) from e
        except RecursionError as e:
            raise Refused(400, "Nội dung yêu cầu lồng nhau quá sâu.") from e
        except ValueError as e:  # an integer of more digits than Python converts (4,300)
            raise Refused(400, "Nội dung yêu cầu có một con số quá dài.") from e
        if not isinstance(found, dict | list | None):
            raise Refused(400, NOT_AN_OBJECT)
        return found

    def decode_json(self, data: str | bytes) -> object:
        """A WebSocket message (HTTP bodies are parse_json's): one Python cannot read is
        not JSON, so the socket closes with 4400 rather than the handler failing."""
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as e:
            raise json.JSONDecodeError("unreadable JSON", "", 0) from e

    def input_refusal(self, request_data: GraphQLRequestData) -> Refused | None:
        """Why a request's input may not come in (limits, unstorable text), or None; checked
        before anything is parsed or run. For subclasses: this view takes any."""
        return None

    def subscribe_refusal(self, payload: Any) -> ExecutionResult | None:
        """A graphql-transport-ws subscribe payload that may not run, as a request error."""
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("query"), str)
            or not isinstance(payload.get("variables") or {}, dict)
            or not isinstance(payload.get("extensions") or {}, dict)
            or not isinstance(payload.get("operationName"), str | None)
        ):
            return request_error(
                "Tin nhắn subscribe cần payload là một đối tượng: query là chuỗi, variables "
                "và extensions là đối tượng, operationName là chuỗi.",
                "BAD_REQUEST",
            )
        request_data = GraphQLRequestData(
            query=payload["query"],
            variables=payload.get("variables"),
            operation_name=payload.get("operationName"),
            extensions=payload.get("extensions"),
            protocol="http",
        )
        refused = self.input_refusal(request_data)
        if refused is not None:
            return request_error(refused.reason, refused.code)
        return self.refusal(request_data, over_http=False)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> Any:
        # A JSON `null` body parses, but is no request (Strawberry would fail on it).
        if request.method == "POST" and (await request.get_body()).strip(b" \t\r\n") == b"null":
            raise Refused(400, NOT_AN_OBJECT)
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            refused = self.input_refusal(item)
            if refused is not None:
                raise refused
        return data

    def document(self, query: str) -> DocumentNode | None:
        """The parsed document, or None when it does not parse (execution reports why)."""
        with contextlib.suppress(GraphQLError, RecursionError):
            return parse(query)
        return None

    def refusal(
        self, request_data: GraphQLRequestData, *, over_http: bool = True
    ) -> ExecutionResult | None:
        """A document that may not run as it stands (over HTTP, or over a WebSocket), as a
        request error."""
        if not isinstance(request_data.query, str):
            return None
        document = self.document(request_data.query)
        if document is None:
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = request_data.operation_name
        if name is None and len(operations) > 1:
            return request_error(
                "Tài liệu có nhiều thao tác: hãy nêu tên thao tác cần chạy (operationName).",
                "OPERATION_NAME_REQUIRED",
            )
        chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
        if not chosen and not over_http:  # over HTTP, Strawberry says so (400)
            return request_error(UNKNOWN_OPERATION, "BAD_REQUEST")
        if over_http and chosen and chosen[0].operation == OperationType.SUBSCRIPTION:
            return request_error(
                "Đăng ký theo dõi (subscription) chỉ chạy qua WebSocket, giao thức "
                "graphql-transport-ws; qua HTTP chỉ có truy vấn và thao tác thay đổi dữ liệu.",
                "SUBSCRIPTION_OVER_HTTP",
            )
        return None

    def operation_name(self, request_data: GraphQLRequestData) -> object:
        """The operation a request runs, by name: the one it names (as sent: maybe not a
        string), else its only one."""
        if request_data.operation_name or not isinstance(request_data.query, str):
            return request_data.operation_name
        document = self.document(request_data.query)
        operations = [
            d
            for d in (document.definitions if document else ())
            if isinstance(d, OperationDefinitionNode)
        ]
        only = operations[0] if len(operations) == 1 else None
        return only.name.value if only is not None and only.name is not None else None

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
        refused = self.refusal(request_data)
        note_operation(self.operation_name(request_data))
        if refused is not None:
            return counted(refused)
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
        if isinstance(response_data, dict) and (wait := retry_after(response_data.get("errors"))):
            response.status_code = 503
            response.headers["retry-after"] = str(wait)
        return response

    def encode_json(self, data: object) -> str:
        # UTF-8 JSON with Vietnamese written as itself, not \u escapes (Starlette encodes str
        # as UTF-8). A str, not bytes: the WebSocket protocols must send text frames.
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


__all__ = [
    "GRAPHQL_RESPONSE_JSON",
    "GraphQLSubResponse",
    "GraphQLView",
    "Refused",
    "negotiate",
]
