"""The Starlette application over an open runtime (database and event store)."""

from starlette.applications import Starlette
from starlette.routing import Route

from thidua.bootstrap import Runtime
from thidua.web.health import healthz, readyz


def create_app(runtime: Runtime) -> Starlette:
    app = Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])
    app.state.runtime = runtime
    return app
