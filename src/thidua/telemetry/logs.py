"""Log lines: JSON in production (one object a line, for a collector), readable text in
development; both carry the request's ids, cluster and operation, and the trace id when
a span is active. The stdlib `logging` calls all over the code are rendered by structlog.

No secret reaches a line: requests are logged by route template, never by raw path or
query string, no header is logged, and a last step blanks anything shaped like a token
that slipped into a message or a traceback.
"""

import json
import logging
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from thidua.telemetry.request import current
from thidua.telemetry.traces import trace_id

FORMATS = ("console", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# A JWT (three base64url parts, the first a JSON header: "eyJ"), or what follows "Bearer".
_TOKEN = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*|(?i:bearer)\s+[\w.~+/=-]+")
_SECRET_KEYS = frozenset({"authorization", "token", "password", "secret", "cookie"})
_DROPPED = ("color_message",)  # uvicorn's message again, with terminal colours
# Values the server made itself, or checked against a pattern no token fits: no need to
# look for a token in them (a caller's correlation id is looked at).
_OURS = frozenset(
    {"timestamp", "level", "logger", "request_id", "cluster", "operation", "trace_id"}
    | {"method", "route", "outcome"}
)
REDACTED = "[redacted]"


def _with_request(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    note = current()
    if note is not None:
        event.setdefault("request_id", note.request_id)
        event.setdefault("correlation_id", note.correlation_id)
        for key in ("cluster", "operation"):
            value = getattr(note, key)
            if value is not None:
                event.setdefault(key, value)
    found = trace_id()
    if found is not None:
        event.setdefault("trace_id", found)
    return event


def _redact(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    for key in _DROPPED:
        event.pop(key, None)
    for key, value in event.items():
        if key.lower() in _SECRET_KEYS:
            event[key] = REDACTED
        elif isinstance(value, str) and key not in _OURS:
            event[key] = _TOKEN.sub(REDACTED, value)
    return event


def _json(event: EventDict, **_: Any) -> str:
    return json.dumps(event, ensure_ascii=False, default=str)


def _rendering(fmt: str) -> list[Processor]:
    if fmt == "json":
        return [
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(_json),
        ]
    return [structlog.dev.ConsoleRenderer(colors=False)]


def configure(fmt: str = "console", level: str = "INFO") -> None:
    """Every logger (ours, uvicorn's, the libraries') through one handler on stderr, and
    the access line (one a request) through structlog's own, leaner pipeline to the same
    stream: the standard library's bridge costs a record and a copy of it per line."""
    before: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _with_request,
    ]
    rendering = _rendering(fmt)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _with_request,
            _redact,
            *rendering,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=before,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact,
            *rendering,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn's own lines through the same handler.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Its access log is ours instead (`web/observe.py`): uvicorn's carries the raw path and
    # query string, and it writes a line whenever this logger has a handler, even through
    # propagation (however its `access_log` setting was given).
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
