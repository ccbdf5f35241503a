"""The hash chain: each event's SHA-256 covers the tenant's previous hash and the event.

The canonical bytes are a compact JSON header (keys sorted, UTF-8, recording time in
integer microseconds since the epoch) then a newline, then the payload bytes. JSON
escapes every newline inside the header, so the boundary is unambiguous.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = bytes(32)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical_bytes(
    *,
    tenant: str,
    position: int,
    stream_id: str,
    stream_version: int,
    event_type: str,
    event_version: int,
    metadata: dict[str, Any],
    recorded_at: datetime,
    payload: bytes,
) -> bytes:
    header = {
        "tenant": tenant,
        "position": position,
        "stream_id": stream_id,
        "stream_version": stream_version,
        "event_type": event_type,
        "event_version": event_version,
        "metadata": metadata,
        "recorded_at_us": epoch_micros(recorded_at),
    }
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return encoded.encode("utf-8") + b"\n" + payload


def chain_hash(previous: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(previous + canonical).digest()
