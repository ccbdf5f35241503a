"""What is known of the request being served, for its log lines and its events.

The web layer opens a `RequestNote` per request; code below it adds what it learns (the
GraphQL operation, the codes it refused with) without knowing about HTTP. The note is a
mutable object in a context variable, so what resolvers running in tasks of their own
add is seen by the access log line.
"""

import contextlib
import itertools
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

# Unique, not secret: a random prefix per process and a counter (uuid4 per request costs
# a system call for randomness nobody needs).
_REQUEST_IDS = (f"{uuid.uuid4().hex[:12]}{n:012x}" for n in itertools.count())

# A caller's own id for a request (X-Request-ID): printable, no spaces, bounded.
CORRELATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
# W3C Trace Context: version-traceid-parentid-flags; an all-zero trace id is invalid.
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
OPERATION = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")  # a GraphQL name, bounded
MAX_CODES = 10  # a document of many fields may be refused many times; the line stays short


def new_request_id() -> str:
    return next(_REQUEST_IDS)


def request_id() -> str:
    """The id of the request being served (one id for its log lines, its answer and its
    events), or a new one outside a request."""
    note = _current.get()
    return note.request_id if note is not None else new_request_id()


def correlation_of(request_id_header: str | None, traceparent: str | None) -> str | None:
    """The caller's correlation id: its X-Request-ID when well formed, else the trace id
    of its traceparent; None when it sent neither (or only malformed ones)."""
    if request_id_header and CORRELATION_ID.fullmatch(request_id_header):
        return request_id_header
    found = TRACEPARENT.fullmatch(traceparent or "")
    if found and found.group(1) != "0" * 32:
        return found.group(1)
    return None


@dataclass
class RequestNote:
    request_id: str
    correlation_id: str
    route: str
    cluster: str | None = None
    operation: str | None = None
    codes: list[str] = field(default_factory=list)  # refusal codes answered, in order


_current: ContextVar[RequestNote | None] = ContextVar("thidua_request", default=None)


def current() -> RequestNote | None:
    return _current.get()


@contextlib.contextmanager
def noting(note: RequestNote) -> Iterator[RequestNote]:
    token = _current.set(note)
    try:
        yield note
    finally:
        _current.reset(token)


def note_operation(name: object) -> None:
    """The GraphQL operation the request runs: its name, when the client sent a valid one
    (it may have sent anything)."""
    note = _current.get()
    if note is not None and isinstance(name, str) and OPERATION.fullmatch(name):
        note.operation = name


def note_code(code: str) -> None:
    note = _current.get()
    if note is not None and len(note.codes) < MAX_CODES:
        note.codes.append(code)
