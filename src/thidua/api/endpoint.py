"""The GraphQL endpoint: the token is verified and the URL's cluster checked against it
before anything runs; GraphiQL's page (given by the web layer, from the package's own
assets) needs neither. WebSocket clients (browsers cannot
set headers there) send `{"authorization": "Bearer ..."}` as connection_init payload."""

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from graphql import DocumentNode, GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from thidua.api.access import covered
from thidua.api.answers import Answers, asks_a_query
from thidua.api.context import Context, Services
from thidua.api.errors import BadInput, extensions
from thidua.api.http import GraphQLView, Refused, negotiate
from thidua.api.limits import unstorable, value_refusal
from thidua.api.queries import BIGINT_MAX
from thidua.api.schema import MAX_TOKENS, parsed
from thidua.api.tokens import Principal, TokenVerifier, Unauthenticated
from thidua.domain.errors import DomainError
from thidua.errors import DatabaseUnavailable, ThiduaError
from thidua.telemetry import metrics

log = logging.getLogger("thidua.api")


# A cluster's answers say the log position they reflect (a query) or committed (a
# mutation); a caller sends one back to read at least that far.
POSITION = "x-thidua-position"
MIN_POSITION = "x-thidua-min-position"


def min_position(value: str | None) -> int:
    """The least log position the caller must see (0: any)."""
    if value is None:
        return 0
    found = value.strip()
    if not (found.isascii() and found.isdigit()) or int(found) > BIGINT_MAX:
        raise BadInput(
            "Tiêu đề X-Thidua-Min-Position phải là một vị trí của nhật ký: số nguyên không âm."
        )
    return int(found)


def positioned(response: Response, position: int | None) -> Response:
    if position is not None:
        response.headers[POSITION] = str(position)
    return response


def bearer(value: str | None) -> str:
    scheme, _, token = (value or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Cần đăng nhập: gửi token trong tiêu đề Authorization: Bearer.")
    return token.strip()


def refused(request: Request, refusal: ThiduaError, status: int, request_id: str) -> Response:
    """A request refused before it runs (no token, a cluster not covered...): the status,
    and the refusal as a GraphQL errors list in the media type the caller accepts."""
    # The line carries the request's ids, route and cluster (telemetry.logs), not its path.
    log.info("refused %s (request %s)", refusal.code, request_id)
    metrics.refused(refusal.code)
    body = {"errors": [{"message": refusal.message, "extensions": extensions(refusal)}]}
    response = Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type=f"{negotiate(request.headers.get('accept'))}; charset=utf-8",
    )
    if status == 401:
        response.headers["www-authenticate"] = "Bearer"
    if isinstance(refusal, DatabaseUnavailable):
        response.headers["retry-after"] = str(refusal.retry_after)
    return response


class Endpoint(GraphQLView[Context, None]):
    def __init__(
        self,
        schema: Schema,
        services: Services,
        verifier: TokenVerifier,
        *,
        ide: Callable[[Request], Awaitable[Response]] | None,
    ) -> None:
        """`ide`: what answers a browser asking for GraphiQL's page, or None for no page."""
        super().__init__(
            schema,
            graphql_ide="graphiql" if ide else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),  # not the legacy graphql-ws
        )
        self.services = services
        self.verifier = verifier
        self.answers = Answers()
        self.ide = ide

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's own page loads GraphiQL from a CDN; the web layer's, the package's copy.
        assert self.ide is not None  # Strawberry asks only when graphql_ide is set
        return await self.ide(request)

    def _context(self, request: Request | WebSocket) -> Context:
        return Context(self.services, request.path_params.get("code"))

    async def _admit(self, ctx: Context, token: str | None) -> Principal:
        """Verify the token and the URL's cluster; a refused cluster is recorded there."""
        ctx.principal = self.verifier.verify(bearer(token))
        if ctx.cluster is not None:
            await covered(ctx, ctx.cluster, "connect")
        return ctx.principal

    async def run(
        self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> Any:
        if isinstance(request, WebSocket) or (
            self.graphql_ide and self.should_render_graphql_ide(self.request_adapter_class(request))
        ):
            return await super().run(request, context, root_value)
        ctx = self._context(request)
        try:
            await self._admit(ctx, request.headers.get("authorization"))
        except (Unauthenticated, DomainError) as refusal:
            return self._refused(request, refusal, ctx.request_id)
        except DatabaseUnavailable as outage:  # recording a refusal needs the database
            return refused(request, outage, 503, ctx.request_id)
        if ctx.cluster is None or request.method not in ("GET", "POST"):
            return await super().run(request, ctx, root_value)
        return await self._answer(request, ctx, ctx.cluster)

    async def _answer(self, request: Request, ctx: Context, cluster: str) -> Response:
        """The kept answer while the cluster stands still; otherwise run, and keep it. A
        query may be read from a replica that has reached the position the caller needs
        (`service/replicas.py`); the answer says the position it reflects."""
        try:
            at_least = min_position(request.headers.get(MIN_POSITION))
        except BadInput as refusal:
            return refused(request, refusal, 400, ctx.request_id)
        body = await request.body()
        routes = self.services.routes

        def key(version: tuple[int, ...]) -> tuple[Any, ...]:
            return (
                cluster,
                ctx.caller(),
                self.services.emulation.today(),
                request.method,
                request.scope.get("query_string", b""),  # not request.url: built per call
                body,
                request.headers.get("accept"),
                request.headers.get("content-type"),
                version,
            )

        known = routes.known(cluster, at_least)  # the primary's version, without a query
        kept = self.answers.get(key(known.version)) if known is not None else None
        if known is not None and kept is not None:
            return positioned(kept.response(request), known.position)
        query = asks_a_query(body, request.query_params)
        try:
            route = await routes.route(cluster, at_least, replica=query)
        except Exception:  # no such cluster, no database: running the query says so, coded
            return await super().run(request, ctx)
        kept = self.answers.get(key(route.version))
        if kept is not None:
            return positioned(kept.response(request), route.position)
        if query:
            ctx.position = route.position
        if route.replica:
            ctx.services = replace(ctx.services, reads=route.reads, emulation=route.emulation)
        request.state.context = ctx  # process_result reads the position from it
        response = await super().run(request, ctx)
        self.answers.keep(key(route.version), request, body, response)
        return positioned(response, ctx.position)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """The answer, with the log position it reflects or committed as
        `extensions.position` (X-Thidua-Position says the same)."""
        response = await super().process_result(request, result)
        ctx = getattr(request.state, "context", None)
        if isinstance(ctx, Context) and ctx.position is not None and "data" in response:
            response["extensions"] = {
                **(response.get("extensions") or {}),
                "position": ctx.position,
            }
        return response

    def input_refusal(self, request_data: GraphQLRequestData) -> Refused | None:
        """The request's text must be storable and its variables within the limits
        (api/limits.py), else BAD_INPUT naming the limit."""
        given = request_data
        texts = [t for t in (given.query, given.operation_name) if isinstance(t, str)]
        found = next(filter(None, map(unstorable, texts)), None)
        found = found or value_refusal(given.variables) or value_refusal(given.extensions)
        return None if found is None else Refused(400, found, "BAD_INPUT")

    def document(self, query: str) -> DocumentNode | None:
        # The schema's own parse cache: the document is parsed once for both.
        try:
            return parsed(query, MAX_TOKENS)
        except (GraphQLError, RecursionError):
            return None

    def _refused(self, request: Request, refusal: Exception, request_id: str) -> Response:
        assert isinstance(refusal, Unauthenticated | DomainError)
        status = 401 if isinstance(refusal, Unauthenticated) else 403
        return refused(request, refusal, status, request_id)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return self._context(request)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        token = params.get("authorization") or params.get("Authorization")
        try:
            await self._admit(context, token if isinstance(token, str) else None)
        except (Unauthenticated, DomainError, DatabaseUnavailable) as refusal:
            log.info("refused a subscription connection: %s", refusal.code)
            raise ConnectionRejectionError({"code": refusal.code}) from refusal
        unset: UnsetType = UNSET
        return unset
