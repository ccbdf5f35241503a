"""The Starlette application over an open runtime (database and event store)."""

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute, request_response

from thidua.api.context import Services
from thidua.api.downloads import Downloads
from thidua.api.endpoint import Endpoint, refused
from thidua.api.schema import build_schema
from thidua.api.tokens import TokenVerifier
from thidua.bootstrap import Runtime, open_ledger
from thidua.errors import DatabaseUnavailable
from thidua.service.emulation import Emulation
from thidua.service.evidence import Evidence
from thidua.service.reads import Reads
from thidua.web.health import healthz, readyz
from thidua.web.ledger import log_key


def create_app(runtime: Runtime, emulation: Emulation | None = None) -> Starlette:
    settings = runtime.settings
    emulation = emulation or Emulation(runtime.store)
    ledger = open_ledger(runtime)
    emulation.committed.append(ledger.after_commit)
    reads = Reads(runtime.store)
    services = Services(reads, emulation, ledger, Evidence(ledger, reads))
    verifier = TokenVerifier(settings)
    graphql = Endpoint(
        build_schema(introspection=settings.introspection),
        services,
        verifier,
        ide=not settings.production,
    )
    downloads = Downloads(services, verifier)
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/.well-known/thidua-log-key", log_key),
            Route("/graphql", graphql),
            Route("/clusters/{code}/graphql", graphql),
            Route("/clusters/{code}/audit.xlsx", downloads.audit_workbook, methods=["GET"]),
            # Evidence is JSON, about 1 kB an event: compressed for clients that accept it.
            Route(
                "/clusters/{code}/evidence",
                GZipMiddleware(request_response(downloads.evidence)),
                methods=["GET"],
            ),
            WebSocketRoute("/graphql", graphql),
            WebSocketRoute("/clusters/{code}/graphql", graphql),
        ],
        exception_handlers={DatabaseUnavailable: _database_unavailable},
    )
    app.state.runtime = runtime
    app.state.ledger = ledger
    app.state.migrated = False  # known once /readyz saw it (migrations are only added)
    return app


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """Whatever route the database failed: 503, its code, Retry-After; never a 500."""
    assert isinstance(exc, DatabaseUnavailable)
    return refused(request, exc, 503, request.headers.get("x-request-id", "-"))
