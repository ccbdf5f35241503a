"""Recompute a tenant's hash chain to prove its log was not altered, removed or reordered."""

from dataclasses import dataclass

from thidua.ledger.chain import GENESIS, content_digest, link
from thidua.ledger.records import RecordedEvent
from thidua.store.eventstore import EventStore


@dataclass(frozen=True)
class ChainReport:
    tenant: str
    events_checked: int
    first_bad_position: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_position is None


def event_hash(previous: bytes, event: RecordedEvent) -> bytes:
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


async def verify_chain(store: EventStore, tenant: str, *, batch: int = 5000) -> ChainReport:
    head_position, head_hash = await store.head(tenant)
    previous, expected, checked = GENESIS, 1, 0
    while events := await store.read_log(tenant, expected - 1, batch):
        for event in events:
            if event.position != expected:
                return ChainReport(tenant, checked, expected, "sự kiện bị thiếu (event missing)")
            if event.hash != event_hash(previous, event):
                return ChainReport(tenant, checked, expected, "sự kiện bị sửa (event altered)")
            previous, expected, checked = event.hash, expected + 1, checked + 1
    if head_position != expected - 1 or head_hash != previous:
        return ChainReport(tenant, checked, expected, "cuối nhật ký không khớp (log head mismatch)")
    return ChainReport(tenant, checked)
