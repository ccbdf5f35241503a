"""GET /metrics: this instance's Prometheus metrics, plus what is read when scraped: the
connection pool's use and the clusters whose projections are behind.

The lag is asked of the database (`projections_behind`: one scan of the log heads, a
row per cluster) at most once every LAG_EVERY seconds, however often and by however many
scrapers the instance is asked; only the LAG_CLUSTERS furthest behind get a series of
their own, so the label set stays bounded when many fall behind (after a new projection
version, say); the count of clusters behind is always whole.

With THIDUA_METRICS_TOKEN set, a scrape must send it as a bearer token.
"""

import hmac
import logging
import time
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from thidua.bootstrap import Runtime
from thidua.projections.runtime import Progress

log = logging.getLogger(__name__)

LAG_EVERY = 10.0  # seconds a lag reading is served before the database is asked again
LAG_CLUSTERS = 20  # clusters with a lag series of their own: the furthest behind


class Readings(Collector):
    """The pool and lag gauges, from readings taken for one scrape."""

    def __init__(self, pool: tuple[int, int, int], behind: Sequence[Progress] | None) -> None:
        self.pool = pool
        self.behind = behind

    def collect(self) -> Iterator[Metric]:
        size, idle, most = self.pool
        for name, value, text in (
            ("size", size, "Open connections in the instance's pool."),
            ("idle", idle, "Open connections waiting for work."),
            ("in_use", size - idle, "Connections lent out to a request or a task."),
            ("max", most, "The most connections the pool opens."),
        ):
            yield GaugeMetricFamily(f"thidua_db_pool_{name}", text, value=value)
        if self.behind is None:  # the database did not answer: no reading, not a zero
            return
        clusters = GaugeMetricFamily(
            "thidua_projection_clusters_behind",
            "Clusters whose projection is behind their log or built by another version.",
            labels=["projection"],
        )
        counts: dict[str, int] = {}
        for found in self.behind:
            counts[found.projection] = counts.get(found.projection, 0) + 1
        for projection, count in sorted(counts.items()):
            clusters.add_metric([projection], count)
        yield clusters
        lag = GaugeMetricFamily(
            "thidua_projection_lag_events",
            f"Events a cluster's projection has yet to apply; the {LAG_CLUSTERS} furthest "
            "behind only (clusters up to date have no series).",
            labels=["cluster", "projection"],
        )
        furthest = sorted(self.behind, key=lambda p: (-p.lag, p.tenant, p.projection))
        for found in furthest[:LAG_CLUSTERS]:
            lag.add_metric([found.tenant, found.projection], found.lag)
        yield lag


class Scrape:
    def __init__(self, runtime: Runtime, token: str | None) -> None:
        self.runtime = runtime
        self.token = token
        self._behind: list[Progress] | None = None
        self._read_at = float("-inf")

    async def answer(self, request: Request) -> Response:
        if self.token is not None and not self._allowed(request.headers.get("authorization")):
            return JSONResponse(
                {"code": "UNAUTHENTICATED", "reason": "Cần token để đọc số đo (metrics)."},
                401,
                headers={"www-authenticate": "Bearer"},
            )
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Readings(self.runtime.store.pool_use(), await self._lag()))
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def _allowed(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    async def _lag(self) -> list[Progress] | None:
        now = time.monotonic()
        if now - self._read_at >= LAG_EVERY:
            self._read_at = now
            try:
                self._behind = await self.runtime.projector.behind()
            except Exception:
                log.warning("projection lag unreadable: the database did not answer")
                self._behind = None
        return self._behind
