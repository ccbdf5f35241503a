"""What an operator sees of a running server: Prometheus metrics over real HTTP, JSON log
lines with the request's ids (and never a token), and OpenTelemetry traces from the HTTP
request down to each SQL statement, whose trace id the appended event carries."""

import asyncio
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id
from prometheus_client.parser import text_string_to_metric_families

from api_client import SECRET, Api, free_port, serving, token
from test_server import wait_ready
from thidua.config import ConfigurationError, Settings, TelemetrySettings
from thidua.db.migrate import migrate
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, YEAR, ensure_template
from thidua.domain.commands import AdoptCriteria, MemberGiven, OpenYear
from thidua.domain.rights import Actor, Role
from thidua.ledger.note import generate_key
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore
from thidua.telemetry import logs, traces
from thidua.telemetry.request import RequestNote, noting

SCORE = (
    "mutation SelfScore($points: Decimal!, $v: Int) {"
    ' selfScore(input: {year: 2025, unit: "dv-2", criterion: "A1", points: $points,'
    ' explanation: "Đã làm", evidence: ["Báo cáo"]}, options: {expectedVersion: $v})'
    " { version } }"
)
ROUTE = "/clusters/{code}/graphql"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def clock() -> Calendar:
    return Calendar(datetime(YEAR, 11, 25, 2, tzinfo=UTC))


async def prepared(store: EventStore, name: str) -> str:
    """A cluster whose year is open and criteria adopted: dv-2's officer may self-score."""
    service = Emulation(store, clock())
    await ensure_template(service)
    cluster = f"cum-{name}-{os.urandom(3).hex()}"
    await store.create_tenant(cluster, "Cụm theo dõi vận hành")
    members = tuple(MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in ("dv-1", "dv-2"))
    await service.handle(Envelope(cluster, CITY_BOARD.caller()), OpenYear(YEAR, members, "dv-1"))
    secretariat = Envelope(cluster, Actor("Văn phòng", Role.SECRETARIAT, "dv-1").caller())
    await service.handle(
        secretariat, AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
    )
    return cluster


def officer(dsn: str, cluster: str) -> str:
    return token(dsn, "Cán bộ theo dõi", [cluster], Role.MEMBER_OFFICER, "dv-2")


# Metrics.


async def scrape(api: Api, **headers: str) -> Samples:
    response = await api.http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_writes_refusals_conflicts_lag_and_pool(
    new_database: Callable[[], Awaitable[str]],
) -> None:
    dsn = await new_database()
    await migrate(dsn)
    # A cluster written without inline projections (as an instance whose runner is down
    # would leave it): its projections are behind by its whole log.
    bare = await EventStore.open(dsn)
    try:
        behind = await prepared(bare, "sau")
        head = (await bare.head(behind))[0]
    finally:
        await bare.close()
    async with serving(dsn, clock()) as api:
        cluster = await prepared(api.store, "do")
        before = await scrape(api)
        status, body = await api.post(
            SCORE, {"points": "4"}, token=officer(dsn, cluster), cluster=cluster
        )
        assert status == 200
        assert "errors" not in body, body
        assert await api.refused(SCORE, {"points": "4"}, token=None, cluster=cluster) == (
            "UNAUTHENTICATED"
        )
        stale = {"points": "3", "v": 99}
        assert await api.refused(SCORE, stale, token=officer(dsn, cluster), cluster=cluster) == (
            "CONCURRENCY_CONFLICT"
        )
        after = await scrape(api)
        written = await api.store.read_log(cluster)
    assert not [e for e in written if "trace_id" in e.metadata_json]  # tracing is off

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    post = {"method": "POST", "route": ROUTE}
    assert moved("thidua_http_requests_total", **post, status="200") == 2
    assert moved("thidua_http_requests_total", **post, status="401") == 1
    assert moved("thidua_http_request_duration_seconds_count", **post) == 3
    assert moved("thidua_events_appended_total") == 2  # the card opened, then scored
    assert moved("thidua_concurrency_conflicts_total", outcome="refused") == 1
    assert moved("thidua_refusals_total", code="UNAUTHENTICATED") == 1
    assert moved("thidua_refusals_total", code="CONCURRENCY_CONFLICT") == 1
    # No series names a raw path: the cluster's code appears only as a lag label.
    assert not [key for key in after if cluster in str(key)]
    assert value(after, "thidua_projection_lag_events", cluster=behind, projection="standings") == (
        head
    )
    # The bare store also made the city's log (the criteria template): behind too.
    lagging = {dict(labels)["cluster"] for name, labels in after if name.endswith("lag_events")}
    assert lagging == {behind, CITY_LOG}
    assert value(after, "thidua_projection_clusters_behind", projection="standings") == 2
    assert value(after, "thidua_db_pool_max") == 20
    size, idle = value(after, "thidua_db_pool_size"), value(after, "thidua_db_pool_idle")
    assert size >= 1
    assert value(after, "thidua_db_pool_in_use") == size - idle


async def test_metrics_can_be_switched_off_or_asked_for_a_token(dsn: str) -> None:
    async with serving(dsn, telemetry=TelemetrySettings(metrics=False)) as api:
        assert (await api.http.get("/metrics")).status_code == 404
    secret = "scrape-" + os.urandom(8).hex()
    async with serving(dsn, telemetry=TelemetrySettings(metrics_token=secret)) as api:
        refused = await api.http.get("/metrics", headers={"authorization": "Bearer wrong"})
        assert refused.status_code == 401
        assert refused.json()["code"] == "UNAUTHENTICATED"
        assert value(await scrape(api, authorization=f"Bearer {secret}"), "thidua_db_pool_max")


def test_telemetry_settings_are_checked() -> None:
    assert Settings.from_env({}).telemetry == TelemetrySettings()
    production = {  # what production requires (see test_cli_failures)
        "THIDUA_ENV": "production",
        "DATABASE_URL": "postgresql://thidua_web@db/thidua",
        "THIDUA_JWT_SECRET": "s" * 32,
        "THIDUA_LOG_KEY": generate_key("o")[0],
        "THIDUA_LOG_ORIGIN": "o",
    }
    assert Settings.from_env(production).telemetry.log_format == "json"
    found = Settings.from_env(
        {"THIDUA_LOG_FORMAT": "JSON", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    ).telemetry
    assert (found.log_format, found.traces) == ("json", "otlp")
    assert Settings.from_env({"OTEL_TRACES_EXPORTER": "console"}).telemetry.traces == "console"
    assert (
        Settings.from_env(
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}
        ).telemetry.traces
        == "none"
    )
    for wrong in (
        {"THIDUA_LOG_FORMAT": "xml"},
        {"THIDUA_METRICS": "maybe"},
        {"OTEL_TRACES_EXPORTER": "jaeger"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ):
        with pytest.raises(ConfigurationError):
            Settings.from_env(wrong)


# Logs: the real `thidua serve`, its stderr read as an operator's collector would, with
# traces switched on as an operator would (the console exporter: no network), to stdout.


@asynccontextmanager
async def served(dsn: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    """`thidua serve` with JSON logs on a free port; the lines it wrote, once it stopped.
    Its spans go to tmp_path/spans.json."""
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": dsn,
        "THIDUA_DATA_DIR": str(tmp_path),
        "THIDUA_JWT_SECRET": SECRET,
        "THIDUA_LOG_FORMAT": "json",
        "OTEL_TRACES_EXPORTER": "console",
    }
    # Its log goes to a file, not a pipe: on a database many tests wrote to, the lines a
    # server writes as it starts (catching up, signing) would fill a pipe and stop it.
    log = tmp_path / "server.log"
    with (tmp_path / "spans.json").open("w") as spans, log.open("w") as errors:
        server = subprocess.Popen(  # noqa: ASYNC220 - started once; waited on in a thread
            [sys.executable, "-m", "thidua", "serve", "--port", str(port)],
            env=env,
            stdout=spans,
            stderr=errors,
            text=True,
        )
    lines: list[str] = []
    try:
        url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_ready, f"{url}/healthz", server)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield http, lines
    finally:
        server.send_signal(signal.SIGINT)
        await asyncio.to_thread(server.wait, timeout=60)
        lines.extend(line for line in log.read_text().splitlines() if line.strip())


def exported(path: Path) -> list[dict[str, Any]]:
    """The console exporter's spans: JSON objects one after another."""
    text, found, at = path.read_text(), [], 0
    decoder = json.JSONDecoder()
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        span, at = decoder.raw_decode(text, at)
        found.append(span)
    return found


def raw_get(port: int, target: str, tok: str) -> bytes:
    """A request whose target a careless client wrote with the token in it."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {tok}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        return conn.recv(65536)


async def test_log_lines_are_json_with_the_ids_and_no_token(dsn: str, tmp_path: Path) -> None:
    store = await EventStore.open(dsn)
    try:
        cluster = await prepared(store, "nhat-ky")
    finally:
        await store.close()
    secret = officer(dsn, cluster)
    headers = {"authorization": f"Bearer {secret}", "accept": "application/json"}
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with served(dsn, tmp_path) as (http, lines):
        path = f"/clusters/{cluster}/graphql"
        body = {"query": SCORE, "variables": {"points": "2"}}
        # The server runs on today's clock: the 2025 year's self-scoring closed long ago.
        wrote = await http.post(path, json=body, headers=headers | {"x-request-id": "phieu-42"})
        assert wrote.json()["errors"][0]["extensions"]["code"] == "SELF_SCORE_DEADLINE_PASSED"
        traced = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
        read = await http.get(
            path, params={"query": "{ me { person } }", "token": secret}, headers=headers | traced
        )
        assert read.status_code == 200
        tampered = {"authorization": f"Bearer {secret[:-4]}AAAA"}
        assert (await http.post(path, json=body, headers=tampered)).status_code == 401
        port = int(str(http.base_url).rsplit(":", 1)[1].strip("/"))
        await asyncio.to_thread(raw_get, port, f"{path}#token={secret}", secret)
    assert lines, "the server wrote no log line"
    signature = secret.rsplit(".", 1)[1]
    assert not [line for line in lines if secret in line or signature in line]
    assert signature not in (tmp_path / "spans.json").read_text()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"timestamp", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines too
    # but not its access line, which carries the raw path and query string: ours instead
    assert not any(r["logger"] == "uvicorn.access" for r in records)
    requests = [r for r in records if r["logger"] == "thidua.access"]
    mutation = next(r for r in requests if r["correlation_id"] == "phieu-42")
    assert mutation == mutation | {
        "request_id": wrote.headers["x-request-id"],
        "cluster": cluster,
        "operation": "SelfScore",
        "method": "POST",
        "route": ROUTE,
        "status": 200,
        "outcome": "SELF_SCORE_DEADLINE_PASSED",
    }
    assert isinstance(mutation["latency_ms"], float)
    # Traced: the line names its trace; the exported server span and the refused attempt
    # the log recorded name the same one.
    servers = {
        s["context"]["trace_id"][2:]: s["name"]
        for s in exported(tmp_path / "spans.json")
        if s["kind"] == "SpanKind.SERVER"
    }
    assert servers[mutation["trace_id"]] == f"POST {ROUTE}"
    store = await EventStore.open(dsn)
    try:
        attempt = (await store.read_log(cluster))[-1]
    finally:
        await store.close()
    assert attempt.metadata_json["command"] == "selfScore"
    assert attempt.metadata_json["request_id"] == mutation["request_id"]
    assert attempt.metadata_json["trace_id"] == mutation["trace_id"]
    query = next(r for r in requests if r["request_id"] == read.headers["x-request-id"])
    assert query["correlation_id"] == query["trace_id"] == trace  # the caller's trace, joined
    assert servers[trace] == f"GET {ROUTE}"
    assert (query["route"], query["outcome"]) == (ROUTE, "ok")
    assert "token" not in json.dumps(query)
    unauthenticated = [r for r in requests if r["outcome"] == "UNAUTHENTICATED"]
    assert [r["status"] for r in unauthenticated] == [401]
    refusal = next(r for r in records if r["logger"] == "thidua.api")
    assert refusal["request_id"] == unauthenticated[0]["request_id"]
    assert refusal["correlation_id"] == refusal["request_id"]  # none given: its own id


def test_a_token_in_a_message_or_a_traceback_is_blanked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last guard: a token some code put in a message or an exception is not written."""
    secret = token("postgresql://unused", "Ai đó", ["cum-a"], Role.AUDITOR)
    written = io.StringIO()
    monkeypatch.setattr(sys, "stderr", written)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("json", "INFO")
        note = RequestNote("r-1", "c-1", ROUTE, cluster="cum-a", operation="Doc")
        with noting(note):
            log = logging.getLogger("thidua.test")
            log.warning("header was Bearer %s", secret, extra={"authorization": secret})
            try:
                raise ValueError(f"cannot read {secret}")
            except ValueError:
                log.exception("failed")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["header was [redacted]", "failed"]
    assert lines[0]["authorization"] == "[redacted]"
    assert "ValueError: cannot read [redacted]" in lines[1]["exception"]
    assert lines[1] == lines[1] | {"request_id": "r-1", "correlation_id": "c-1", "cluster": "cum-a"}
    assert secret.rsplit(".", 1)[1] not in written.getvalue()


# Traces.


@pytest.fixture
def spans() -> Any:
    """Tracing on, into memory, for one test (asyncpg's patch removed afterwards)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traces.start(provider)
    try:
        yield exporter
    finally:
        traces.stop()


def lineage(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """The span's ancestors within its trace, nearest first."""
    found = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        found.append(span)
    return found


async def test_a_mutation_is_traced_to_its_sql_and_its_event_names_the_trace(
    dsn: str, spans: InMemorySpanExporter
) -> None:
    async with serving(dsn, clock()) as api:
        cluster = await prepared(api.store, "vet")
        setup = await api.store.read_log(cluster)
        spans.clear()
        secret = officer(dsn, cluster)
        await api.ok(SCORE, {"points": "5"}, token=secret, cluster=cluster)
        await api.http.get(
            f"/clusters/{cluster}/graphql", params={"query": "{ me { person } }", "token": secret}
        )
        events = await api.store.read_log(cluster, setup[-1].position)
    finished = spans.get_finished_spans()
    servers = [s for s in finished if s.kind is SpanKind.SERVER]
    assert [s.name for s in servers] == [f"POST {ROUTE}", f"GET {ROUTE}"]
    server = servers[0]
    assert (server.attributes or {}).get("http.route") == ROUTE
    assert server.context is not None
    trace_id = server.context.trace_id
    by_id = {s.context.span_id: s for s in finished if s.context is not None}
    statements = [
        s
        for s in finished
        if s.kind is SpanKind.CLIENT and s.context is not None and s.context.trace_id == trace_id
    ]
    assert statements, "no asyncpg span in the request's trace"
    assert all(server in lineage(s, by_id) for s in statements)
    assert any(
        "append_events" in str((s.attributes or {}).get("db.statement", "")) for s in statements
    )
    assert len(events) == 2  # the card opened, then scored: one command, one trace
    assert {e.metadata_json["trace_id"] for e in events} == {format_trace_id(trace_id)}
    assert "trace_id" not in setup[-1].metadata_json  # appended outside any trace
    assert not [s for s in finished for v in (s.attributes or {}).values() if secret in str(v)], (
        "a span kept the token from the query string"
    )
