"""The evidence file an auditor takes away: JSON Lines, a header then one event per line.

The header says which cluster and range of positions (after, upto] it holds, the signed
checkpoint of the cluster's log (with the witnesses' cosignatures as extra signature lines),
the frontier of the tree before the range (so the roots can be rebuilt from the events),
consistency proofs from `upto` and from other sizes to the checkpoint, and, for a year,
what the server published: its standings and its frozen results. Each event carries
exactly the fields its hashes cover, the payload as base64 of its stored bytes.
"""

import base64
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from thidua.ledger.records import RecordedEvent

FORMAT = "thidua-evidence/1"


class EvidenceError(ValueError):
    """A file that is not evidence this verifier can read."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise EvidenceError(f"not base64: {text[:40]!r}") from exc


@dataclass(frozen=True)
class Header:
    cluster: str
    after: int  # the range holds positions after..upto
    upto: int
    previous_hash: bytes  # the chain hash at `after`
    frontier: tuple[bytes, ...]  # perfect subtrees of the first `after` leaves
    checkpoint: str  # the signed note, cosignatures included
    consistency: dict[int, tuple[bytes, ...]]  # from size to the checkpoint's size
    year: int | None = None
    published: dict[str, Any] = field(default_factory=dict)  # standings, results
    exported_at: str = ""
    exported_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "cluster": self.cluster,
            "year": self.year,
            "after": self.after,
            "upto": self.upto,
            "previous_hash": b64(self.previous_hash),
            "frontier": [b64(h) for h in self.frontier],
            "checkpoint": self.checkpoint,
            "consistency": {str(s): [b64(h) for h in p] for s, p in self.consistency.items()},
            "published": self.published,
            "exported_at": self.exported_at,
            "exported_by": self.exported_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Header":
        if data.get("format") != FORMAT:
            raise EvidenceError(f"not a {FORMAT} file")
        try:
            return cls(
                cluster=str(data["cluster"]),
                year=data.get("year"),
                after=int(data["after"]),
                upto=int(data["upto"]),
                previous_hash=unb64(data["previous_hash"]),
                frontier=tuple(unb64(h) for h in data["frontier"]),
                checkpoint=str(data["checkpoint"]),
                consistency={
                    int(s): tuple(unb64(h) for h in p) for s, p in data["consistency"].items()
                },
                published=dict(data.get("published") or {}),
                exported_at=str(data.get("exported_at", "")),
                exported_by=str(data.get("exported_by", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EvidenceError(f"the header is incomplete: {exc}") from exc


def event_json(event: RecordedEvent) -> dict[str, Any]:
    return {
        "position": event.position,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "event_type": event.event_type,
        "event_version": event.event_version,
        "metadata": event.metadata_json,
        "payload": b64(event.payload),
        "recorded_at": event.recorded_at.isoformat(),
        "hash": b64(event.hash),
    }


def event_from_json(cluster: str, data: dict[str, Any]) -> RecordedEvent:
    try:
        return RecordedEvent(
            tenant=cluster,
            position=int(data["position"]),
            stream_id=str(data["stream_id"]),
            stream_version=int(data["stream_version"]),
            event_type=str(data["event_type"]),
            event_version=int(data["event_version"]),
            payload=unb64(data["payload"]),
            metadata_json=dict(data["metadata"]),
            recorded_at=datetime.fromisoformat(data["recorded_at"]),
            hash=unb64(data["hash"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EvidenceError(f"an event line is incomplete: {exc}") from exc


def lines(header: Header, events: Iterable[RecordedEvent]) -> Iterator[str]:
    """The file, line by line."""
    yield _line(header.to_json())
    for event in events:
        yield event_line(event)


async def streamed(header: Header, events: AsyncIterable[RecordedEvent]) -> AsyncIterator[str]:
    """The file, line by line, as the events are read (a server's download, the CLI)."""
    yield _line(header.to_json())
    async for event in events:
        yield event_line(event)


def event_line(event: RecordedEvent) -> str:
    return _line(event_json(event))


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def read(source: TextIO) -> tuple[Header, Iterator[RecordedEvent]]:
    """The header, and the events as they are read."""
    first = source.readline()
    try:
        header = Header.from_json(json.loads(first))
    except json.JSONDecodeError as exc:
        raise EvidenceError("the first line is not JSON") from exc

    def events() -> Iterator[RecordedEvent]:
        for number, text in enumerate(source, start=2):
            if not text.strip():
                continue
            try:
                yield event_from_json(header.cluster, json.loads(text))
            except json.JSONDecodeError as exc:
                raise EvidenceError(f"line {number} is not JSON") from exc

    return header, events()
