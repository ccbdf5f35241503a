"""OpenTelemetry traces: a server span per request (web layer) with a child span per
asyncpg statement, exported where the standard OTEL_* variables say.

Off unless configured: with no exporter nothing is instrumented and nothing is sent. One
tracer provider per process, since instrumenting asyncpg patches it for the process.
"""

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

EXPORTERS = ("none", "otlp", "console")

_active: TracerProvider | None = None


def provider() -> TracerProvider | None:
    """The provider tracing runs on, or None when tracing is off."""
    return _active


def start(tracer_provider: TracerProvider) -> None:
    """Trace from now on: asyncpg's statements, and the requests of apps made after this."""
    global _active
    if _active is not None:
        raise RuntimeError("tracing already started")
    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    instrumentor.instrument(tracer_provider=tracer_provider)
    _active = tracer_provider


def stop() -> None:
    """Stop tracing and flush what is left to export."""
    global _active
    if _active is None:
        return
    AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    _active.shutdown()
    _active = None


def exporting(exporter: str, env: Mapping[str, str]) -> TracerProvider | None:
    """A provider sending spans to the configured exporter (`Settings` checked the name);
    None for "none". The exporter reads its own OTEL_EXPORTER_OTLP_* variables and the SDK
    its OTEL_TRACES_SAMPLER; the service is "thidua" unless OTEL_SERVICE_NAME says."""
    if exporter == "none":
        return None
    named = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": "thidua"}
    found = TracerProvider(resource=Resource.create(named))
    found.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
    return found


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def trace_id() -> str | None:
    """The active span's trace id (32 hex digits), or None outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None
