"""The pages people read: one HTML shell for every page (its script picks the view from the
path), the package's own assets under /static, and GraphiQL from those assets. Nothing is
loaded from elsewhere: an intranet has no internet.

Tokens never come to these routes: a sign-in link carries the token in the URL's fragment,
which browsers do not send, and the page keeps it in sessionStorage."""

import json
from importlib.resources import files
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from thidua.config import Settings

HERE = files("thidua.web")
STATIC = HERE / "static"


def policy(token_url: str | None) -> str:
    """Scripts only from this server; the page talks only to it (GraphQL over HTTP and
    WebSocket) and, when configured, to the OIDC provider's token endpoint."""
    connect = " ".join(filter(None, ["'self'", token_url]))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self' data:; connect-src {connect}; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


# The pages' paths, below a cluster's year (the workbooks sit beside them: *.xlsx, *.csv).
PAGES = [
    "/",
    "/clusters/{code}/years/{year:int}",
    "/clusters/{code}/years/{year:int}/units/{unit}",
    "/clusters/{code}/years/{year:int}/units/{unit}/work",
    "/clusters/{code}/years/{year:int}/audit",
]


def _template(name: str) -> str:
    return (HERE / "templates" / name).read_text(encoding="utf-8")


def _json_in_html(value: Any) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class Pages:
    def __init__(self, settings: Settings) -> None:
        sign_in = settings.sign_in
        config = {
            "oidc": None
            if sign_in.authorize_url is None
            else {
                "authorizeUrl": sign_in.authorize_url,
                "tokenUrl": sign_in.token_url,
                "clientId": sign_in.client_id,
                "scope": sign_in.scope,
            }
        }
        self.shell = _template("page.html").replace("{{config}}", _json_in_html(config))
        self.graphiql_page = _template("graphiql.html")
        self.policy = policy(sign_in.token_url)

    def _html(self, text: str) -> Response:
        return HTMLResponse(
            text,
            headers={
                "content-security-policy": self.policy,
                "referrer-policy": "no-referrer",
                "x-content-type-options": "nosniff",
                "cache-control": "no-cache",
            },
        )

    async def page(self, request: Request) -> Response:
        return self._html(self.shell)

    async def graphiql(self, request: Request) -> Response:
        """GraphiQL's page, which the GraphQL endpoint serves to browsers."""
        return self._html(self.graphiql_page)

    def routes(self) -> list[BaseRoute]:
        pages: list[BaseRoute] = [Route(path, self.page, methods=["GET"]) for path in PAGES]
        static = StaticFiles(directory=str(STATIC))
        return [*pages, Mount("/static", app=static, name="static")]
