"""The hash chain: each event's SHA-256 covers the tenant's previous hash and the event.

Two steps, so the expensive part runs before the tenant's lock is taken:
- the content digest, SHA-256 of a compact JSON header (tenant, stream, version, type,
  event version, metadata; keys sorted, UTF-8), a newline, then the payload bytes
  (JSON escapes newlines inside the header, so the boundary is unambiguous);
- the link, SHA-256(previous hash || position || recording time in microseconds since
  the epoch || content digest), integers as 8 big-endian bytes. The database computes the
  link under the lock (append_events); the audit recomputes both steps here.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from thidua.ledger.records import RecordedEvent

GENESIS = bytes(32)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def content_digest(
    *,
    tenant: str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    event_version: int,
    metadata: dict[str, Any],
    payload: bytes,
) -> bytes:
    header = {
        "tenant": tenant,
        "stream_id": stream_id,
        "stream_version": stream_version,
        "event_type": event_type,
        "event_version": event_version,
        "metadata": metadata,
    }
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8") + b"\n" + payload).digest()


def link(previous: bytes, position: int, recorded_at: datetime, digest: bytes) -> bytes:
    return hashlib.sha256(
        previous
        + position.to_bytes(8, "big", signed=True)
        + epoch_micros(recorded_at).to_bytes(8, "big", signed=True)
        + digest
    ).digest()


def event_hash(previous: bytes, event: RecordedEvent) -> bytes:
    """The hash a recorded event should carry after `previous`: both steps again."""
    digest = content_digest(
        tenant=event.tenant,
        stream_id=event.stream_id,
        stream_version=event.stream_version,
        event_type=event.event_type,
        event_version=event.event_version,
        metadata=event.metadata_json,
        payload=event.payload,
    )
    return link(previous, event.position, event.recorded_at, digest)
