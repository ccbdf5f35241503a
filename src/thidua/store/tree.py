"""A cluster's Merkle tree as the log stores it (log_tree, written by append_events): roots
and RFC 9162 proofs for any size the log has had, each from one query of O(log² n) rows."""

from collections.abc import Iterable

from thidua.ledger.merkle import (
    Node,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    needed_nodes,
    perfect_nodes,
    range_hash,
)
from thidua.store.eventstore import Connection


async def tree_size(conn: Connection, tenant: str) -> int:
    size: int | None = await conn.fetchval(
        "SELECT position FROM event_log_heads WHERE tenant_id = $1", tenant
    )
    return size or 0


async def hashes(conn: Connection, tenant: str, nodes: Iterable[Node]) -> dict[Node, bytes]:
    wanted = list(nodes)
    rows = await conn.fetch(
        "SELECT t.level, t.index, t.hash FROM log_tree t"
        " JOIN unnest($2::int2[], $3::int8[]) AS w(level, index)"
        " ON t.level = w.level AND t.index = w.index WHERE t.tenant_id = $1",
        tenant,
        [n.level for n in wanted],
        [n.index for n in wanted],
    )
    found = {Node(r["level"], r["index"]): bytes(r["hash"]) for r in rows}
    if len(found) != len(set(wanted)):
        raise ProofError("the log's tree is missing a subtree it should hold")
    return found


async def leaf(conn: Connection, tenant: str, index: int) -> bytes:
    return (await hashes(conn, tenant, [Node(0, index)]))[Node(0, index)]


async def _ranges(
    conn: Connection, tenant: str, size: int, ranges: list[tuple[int, int]]
) -> list[bytes]:
    if size > await tree_size(conn, tenant):
        raise ProofError(f"the log has not reached size {size}")
    known = await hashes(conn, tenant, needed_nodes(ranges))
    return [range_hash(begin, end, known.__getitem__) for begin, end in ranges]


async def root(conn: Connection, tenant: str, size: int) -> bytes:
    """The root of the cluster's tree when it held `size` events."""
    return (await _ranges(conn, tenant, size, [(0, size)]))[0]


async def inclusion_proof(conn: Connection, tenant: str, index: int, size: int) -> list[bytes]:
    return await _ranges(conn, tenant, size, inclusion_ranges(index, size))


async def consistency_proof(conn: Connection, tenant: str, old: int, size: int) -> list[bytes]:
    if old == size:
        return []
    return await _ranges(conn, tenant, size, consistency_ranges(old, size))


async def frontier(conn: Connection, tenant: str, size: int) -> list[bytes]:
    """The perfect subtrees of the first `size` leaves, largest first: what a verifier
    given later leaves needs to rebuild the roots from there on."""
    nodes = perfect_nodes(0, size)
    known = await hashes(conn, tenant, nodes)
    return [known[node] for node in nodes]
