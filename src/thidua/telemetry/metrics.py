"""The process's Prometheus metrics.

Each instance (each `thidua serve` process) exposes its own at /metrics and Prometheus
adds them up across instances; there is no multiprocess mode because an instance is one
process. Every label takes values from a set the code bounds (methods, route templates,
statuses, refusal codes), never from what a client chose, so the series stay few.
"""

import re

from prometheus_client import Counter, Histogram

from thidua.telemetry.request import note_code

REQUESTS = Counter(
    "thidua_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "thidua_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
APPENDED = Counter("thidua_events_appended", "Events appended to the clusters' logs.")
CONFLICTS = Counter(
    "thidua_concurrency_conflicts",
    "Commands that met another's write first: retried on fresh state, or refused (CONFLICT) "
    "because the caller named the version it expected or the retries ran out.",
    ["outcome"],
)
REFUSALS = Counter(
    "thidua_refusals",
    "Answers with an error code, by code (INTERNAL_ERROR included).",
    ["code"],
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


def refused(code: object) -> None:
    """An answer carried this error code: counted, and noted on the request's log line."""
    label = code if isinstance(code, str) and _CODE.fullmatch(code) else "OTHER"
    REFUSALS.labels(label).inc()
    note_code(label)
