"""The Merkle tree the log keeps as it grows: its roots and proofs, at every size the log
has had, equal RFC 9162's over the events' chain hashes, and they verify."""

import uuid
from collections.abc import Awaitable, Callable

from thidua.ledger.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from thidua.store import EventStore, Metadata, NewEvent, tree

META = Metadata(actor="Lê Văn C", role="cross_inspector")


async def test_roots_and_proofs_at_every_size(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant = await new_tenant()
    for batch in (1, 2, 3, 1, 5, 4, 7):  # appends of several events each, in one call
        events = [NewEvent("tests:Noted", f'{{"n":{i}}}'.encode()) for i in range(batch)]
        await store.append(tenant, str(uuid.uuid4()), 0, events, META)
    log = await store.read_log(tenant)
    leaves = [leaf_hash(event.hash) for event in log]
    size = len(leaves)
    assert size == 23
    async with store.transaction(tenant) as conn:
        assert await tree.tree_size(conn, tenant) == size
        roots = [await tree.root(conn, tenant, n) for n in range(size + 1)]
        assert roots == [root_of(leaves[:n]) for n in range(size + 1)]
        for n in range(1, size + 1):
            for index in range(n):
                proof = await tree.inclusion_proof(conn, tenant, index, n)
                verify_inclusion(index, n, leaves[index], proof, roots[n])
            for old in range(1, n + 1):
                proof = await tree.consistency_proof(conn, tenant, old, n)
                verify_consistency(old, n, roots[old], roots[n], proof)


async def test_clusters_have_their_own_trees(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    a, b = await new_tenant(), await new_tenant()
    await store.append(a, "s", 0, [NewEvent("tests:Noted", b"{}")], META)
    async with store.transaction(b) as conn:
        assert await tree.tree_size(conn, b) == 0
        assert await conn.fetchval("SELECT count(*) FROM log_tree") == 0
