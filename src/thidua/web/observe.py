"""What an operator sees of each request: its ids, an access log line, its metrics, and
(when tracing is on) a server span named by its route template.

Requests are known by their route template (`/clusters/{code}/graphql`), never by their
raw path: the path is bounded to the app's few routes (cardinality) and a path or query
string, which a client writes, never reaches a log line, a label or a span name.
"""

import logging
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import Span
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thidua.bootstrap import Runtime
from thidua.domain.checks import CLUSTER_CODE
from thidua.telemetry import metrics, traces
from thidua.telemetry.request import RequestNote, correlation_of, new_request_id, noting
from thidua.web.metrics import Scrape

access = logging.getLogger("thidua.access")

UNMATCHED = "(unmatched)"  # the route of a path no route serves
# Asked every few seconds by probes and scrapers: their lines only at DEBUG, unless failing.
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})


def route_of(routes: Sequence[BaseRoute], scope: Scope) -> tuple[str, dict[str, Any]]:
    """The template of the route serving this request, and its path parameters."""
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.NONE:
            return getattr(route, "path", UNMATCHED), child.get("path_params", {})
    return UNMATCHED, {}


class Observed:
    """Each HTTP or WebSocket request gets a request id (answered in X-Request-ID) and a
    correlation id (the caller's X-Request-ID or traceparent, else the request id), bound
    for every log line it causes; each HTTP request is counted, timed and logged once."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        route, params = route_of(self.routes, scope)
        headers = Headers(scope=scope)
        request_id = new_request_id()
        code = params.get("code")
        note = RequestNote(
            request_id=request_id,
            correlation_id=correlation_of(headers.get("x-request-id"), headers.get("traceparent"))
            or request_id,
            route=route,
            cluster=code if isinstance(code, str) and CLUSTER_CODE.fullmatch(code) else None,
        )
        with noting(note):
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, note)

    async def _http(self, scope: Scope, receive: Receive, send: Send, note: RequestNote) -> None:
        status = 500  # unless an answer starts
        started = time.perf_counter()

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                header = (b"x-request-id", note.request_id.encode())
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            elapsed = time.perf_counter() - started
            method = metrics.method_label(scope["method"])
            metrics.REQUESTS.labels(method, note.route, str(status)).inc()
            metrics.LATENCY.labels(method, note.route).observe(elapsed)
            quiet = note.route in QUIET and status < 500
            access.log(
                logging.DEBUG if quiet else logging.INFO,
                "request",
                extra={
                    "method": method,
                    "route": note.route,
                    "status": status,
                    "outcome": ",".join(note.codes) or ("ok" if status < 400 else "error"),
                    "latency_ms": round(elapsed * 1000, 1),
                },
            )


def _span_details(routes: Sequence[BaseRoute]) -> Any:
    def details(scope: Scope) -> tuple[str, dict[str, Any]]:
        route, _ = route_of(routes, scope)
        method = scope.get("method")
        return (f"{method} {route}" if method else route), {"http.route": route}

    return details


_QUERY_ATTRIBUTES = ("http.target", "http.url", "url.query", "url.full")


def _without_query(span: Span, scope: Scope) -> None:
    """The span keeps the path, not the query string a client wrote (it may carry what
    should stay out of any record)."""
    if not span.is_recording() or not scope.get("query_string"):
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in _QUERY_ATTRIBUTES:
        if key in attributes:
            kept = str(attributes[key]).split("?", 1)[0]
            span.set_attribute(key, "[redacted]" if key == "url.query" else kept)


def observe(app: Starlette, runtime: Runtime) -> None:
    """/metrics (unless THIDUA_METRICS=off), ids, metrics and the access log for every
    request, and, when tracing is on, the server span outermost (so the access line
    carries its trace id)."""
    settings = runtime.settings.telemetry
    routes = app.router.routes
    if settings.metrics:
        scrape = Scrape(runtime, settings.metrics_token)
        routes.append(Route("/metrics", scrape.answer, methods=["GET"]))
    app.add_middleware(Observed, routes=routes)
    tracing = traces.provider()
    if tracing is not None:
        app.add_middleware(
            OpenTelemetryMiddleware,
            tracer_provider=tracing,
            default_span_details=_span_details(routes),
            server_request_hook=_without_query,
            exclude_spans=["receive", "send"],
        )
