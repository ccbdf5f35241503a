"""The Starlette application over an open runtime (database and event store)."""

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute, request_response

from thidua.api.context import Services
from thidua.api.downloads import Downloads
from thidua.api.endpoint import Endpoint, refused
from thidua.api.imports import Imports
from thidua.api.schema import build_schema
from thidua.api.sheets import Sheets, routes_of
from thidua.api.tokens import TokenVerifier
from thidua.bootstrap import Runtime, open_ledger
from thidua.errors import DatabaseUnavailable
from thidua.service.emulation import Emulation
from thidua.service.evidence import Evidence
from thidua.service.reads import Reads
from thidua.service.replicas import ReadRoutes
from thidua.web.health import healthz, readyz
from thidua.web.ledger import log_key
from thidua.web.observe import observe
from thidua.web.pages import Pages


def create_app(runtime: Runtime, emulation: Emulation | None = None) -> Starlette:
    settings = runtime.settings
    emulation = emulation or Emulation(runtime.store)
    ledger = open_ledger(runtime)
    emulation.committed.append(ledger.after_commit)
    reads = Reads(runtime.store)
    routes = ReadRoutes(reads, emulation, runtime.replicas)
    services = Services(reads, emulation, ledger, Evidence(ledger, reads), routes)
    verifier = TokenVerifier(settings)
    pages = Pages(settings)
    graphql = Endpoint(
        build_schema(introspection=settings.introspection),
        services,
        verifier,
        ide=None if settings.production else pages.graphiql,
    )
    downloads = Downloads(services, verifier)
    sheets = Sheets(services, verifier)
    imports = Imports(services, verifier)
    form = "/clusters/{code}/years/{year}/units/{unit}/self-assessment.xlsx"
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/.well-known/thidua-log-key", log_key),
            Route("/graphql", graphql),
            Route("/clusters/{code}/graphql", graphql),
            Route("/clusters/{code}/audit.xlsx", downloads.audit_workbook, methods=["GET"]),
            *(Route(path, handler, methods=["GET"]) for path, handler in routes_of(sheets)),
            Route(form, imports.self_assessment_form, methods=["GET"]),
            Route(form, imports.self_assessment_import, methods=["POST"]),
            Route("/city/criteria.xlsx", imports.criteria_template, methods=["GET"]),
            Route("/city/criteria.xlsx", imports.criteria_import, methods=["POST"]),
            # Evidence is JSON, about 1 kB an event: compressed for clients that accept it.
            Route(
                "/clusters/{code}/evidence",
                GZipMiddleware(request_response(downloads.evidence)),
                methods=["GET"],
            ),
            WebSocketRoute("/graphql", graphql),
            WebSocketRoute("/clusters/{code}/graphql", graphql),
            *pages.routes(),
        ],
        exception_handlers={DatabaseUnavailable: _database_unavailable},
    )
    observe(app, runtime)  # /metrics, request ids, access log, traces
    app.state.runtime = runtime
    app.state.ledger = ledger
    app.state.migrated = False  # known once /readyz saw it (migrations are only added)
    return app


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """Whatever route the database failed: 503, its code, Retry-After; never a 500."""
    assert isinstance(exc, DatabaseUnavailable)
    return refused(request, exc, 503, request.headers.get("x-request-id", "-"))
