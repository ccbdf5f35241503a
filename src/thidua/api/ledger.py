"""The verifiable log over GraphQL, for auditors and the city board: the cluster's signed
checkpoint and RFC 9162 proofs, hashes in base64 as the C2SP formats write them."""

import base64

import strawberry

from thidua.api.access import allowed
from thidua.api.context import Context
from thidua.api.errors import BadInput
from thidua.domain.rights import Action
from thidua.service.ledger import Signed


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@strawberry.type(description="Điểm kiểm tra đã ký của nhật ký cụm (C2SP tlog-checkpoint)")
class Checkpoint:
    origin: str
    size: int = strawberry.field(description="Số sự kiện của nhật ký (kích thước cây)")
    root_hash: str = strawberry.field(description="Gốc cây Merkle, base64")
    note: str = strawberry.field(description="Ghi chú đã ký, kèm chữ ký của các nhân chứng")
    witnesses: list[str] = strawberry.field(description="Các nhân chứng đã đồng ký")
    signed_at: str

    @classmethod
    def of(cls, origin: str, signed: Signed) -> "Checkpoint":
        return cls(
            origin=origin,
            size=signed.size,
            root_hash=b64(signed.root),
            note=signed.cosigned,
            witnesses=[line.split(" ")[1] for line in signed.cosignatures],
            signed_at=signed.signed_at.isoformat(),
        )


@strawberry.type(description="Bằng chứng một sự kiện nằm trong cây (RFC 9162 §2.1.3)")
class InclusionProof:
    position: int
    leaf_index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]


@strawberry.type(description="Bằng chứng cây sau nối tiếp cây trước (RFC 9162 §2.1.4)")
class ConsistencyProof:
    from_size: int
    to_size: int
    hashes: list[str]


async def checkpoint(ctx: Context, cluster: str) -> Checkpoint:
    await allowed(ctx, cluster, Action.READ_AUDIT, None, what="checkpoint")
    ledger = ctx.services.ledger
    return Checkpoint.of(ledger.origin_of(cluster), await ledger.checkpoint(cluster))


async def inclusion(
    ctx: Context, cluster: str, position: int, tree_size: int | None
) -> InclusionProof:
    await allowed(ctx, cluster, Action.READ_AUDIT, None, what="inclusionProof")
    ledger = ctx.services.ledger
    size = tree_size if tree_size is not None else (await ledger.checkpoint(cluster)).size
    if not 0 < position <= size:
        raise BadInput(f"Vị trí phải từ 1 đến {size} (position).")
    leaf, hashes = await ledger.inclusion(cluster, position, size)
    return InclusionProof(
        position=position,
        leaf_index=position - 1,
        tree_size=size,
        leaf_hash=b64(leaf),
        hashes=[b64(h) for h in hashes],
    )


async def consistency(
    ctx: Context, cluster: str, from_size: int, to_size: int | None
) -> ConsistencyProof:
    await allowed(ctx, cluster, Action.READ_AUDIT, None, what="consistencyProof")
    ledger = ctx.services.ledger
    size = to_size if to_size is not None else (await ledger.checkpoint(cluster)).size
    if not 0 < from_size <= size:
        raise BadInput(f"Kích thước trước phải từ 1 đến {size} (fromSize).")
    hashes = await ledger.consistency(cluster, from_size, size)
    return ConsistencyProof(from_size=from_size, to_size=size, hashes=[b64(h) for h in hashes])
