"""Recompute a tenant's hash chain and Merkle tree, to prove its log was not altered,
removed or reordered, and that it still extends its latest signed checkpoint."""

from dataclasses import dataclass

from thidua.ledger import note
from thidua.ledger.chain import GENESIS, event_hash
from thidua.ledger.merkle import Frontier, ProofError, leaf_hash
from thidua.store import checkpoints, tree
from thidua.store.eventstore import EventStore


@dataclass(frozen=True)
class ChainReport:
    tenant: str
    events_checked: int
    first_bad_position: int | None = None
    problem: str | None = None
    checkpoint: int | None = None  # the size of the signed checkpoint it was checked against

    @property
    def ok(self) -> bool:
        return self.first_bad_position is None


async def verify_chain(
    store: EventStore, tenant: str, *, batch: int = 5000, log_key: str | None = None
) -> ChainReport:
    """The chain, the tree the log keeps, and the latest checkpoint (its signature too,
    given the log's public key)."""
    head_position, head_hash = await store.head(tenant)
    async with store.transaction(tenant) as conn:
        signed = await checkpoints.latest(conn, tenant)
    previous, expected, checked = GENESIS, 1, 0
    rebuilt, signed_root = Frontier(), None
    while events := await store.read_log(tenant, expected - 1, batch):
        for event in events:
            if event.position != expected:
                return ChainReport(tenant, checked, expected, "sự kiện bị thiếu (event missing)")
            if event.hash != event_hash(previous, event):
                return ChainReport(tenant, checked, expected, "sự kiện bị sửa (event altered)")
            rebuilt.add(leaf_hash(event.hash))
            if signed is not None and rebuilt.size == signed.size:
                signed_root = rebuilt.root()
            previous, expected, checked = event.hash, expected + 1, checked + 1
    if head_position != expected - 1 or head_hash != previous:
        return ChainReport(tenant, checked, expected, "cuối nhật ký không khớp (log head mismatch)")
    async with store.transaction(tenant) as conn:
        try:
            kept = await tree.root(conn, tenant, checked)
        except ProofError:
            kept = None
    if kept != rebuilt.root():
        return ChainReport(tenant, checked, expected, "cây Merkle không khớp (tree mismatch)")
    return _against(tenant, checked, signed, signed_root, log_key)


def _against(
    tenant: str,
    checked: int,
    signed: checkpoints.StoredCheckpoint | None,
    root: bytes | None,
    log_key: str | None,
) -> ChainReport:
    if signed is None:
        return ChainReport(tenant, checked)
    if signed.size > checked:
        problem = f"nhật ký đã lùi: đã ký {signed.size} sự kiện (the log went back)"
        return ChainReport(tenant, checked, checked + 1, problem, signed.size)
    if root != signed.root and signed.size > 0:
        problem = "lịch sử khác điểm kiểm tra đã ký (history differs from the checkpoint)"
        return ChainReport(tenant, checked, 1, problem, signed.size)
    if log_key is not None:
        try:
            note.open_note(signed.note, [note.parse_verifier(log_key)])
        except note.NoteError:
            problem = "chữ ký điểm kiểm tra không hợp lệ (checkpoint signature invalid)"
            return ChainReport(tenant, checked, signed.size, problem, signed.size)
    return ChainReport(tenant, checked, checkpoint=signed.size)
