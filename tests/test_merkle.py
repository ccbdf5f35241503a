"""The Merkle tree and its proofs: RFC 9162, checked against transparency-dev's vectors
(tests/data/merkle, Apache 2.0) and against a tree held in memory."""

import base64
import json
from pathlib import Path

import pytest

from thidua.ledger.merkle import (
    Frontier,
    Node,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "data" / "merkle" / "testdata"


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _vectors(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


@pytest.mark.parametrize("path", _vectors("inclusion"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_inclusion_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    arguments = (case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), proof)
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*arguments, _b64(case["root"]))
    else:
        verify_inclusion(*arguments, _b64(case["root"]))


@pytest.mark.parametrize("path", _vectors("consistency"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_consistency_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    arguments = (case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), proof)
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*arguments)
    else:
        verify_consistency(*arguments)


def test_the_vectors_are_all_there() -> None:
    assert len(_vectors("inclusion")) > 50
    assert len(_vectors("consistency")) > 50


def _tree(size: int) -> tuple[list[bytes], dict[Node, bytes]]:
    """Leaves and every perfect subtree's hash, as the log stores them."""
    leaves = [leaf_hash(f"entry {i}".encode()) for i in range(size)]
    nodes = {Node(0, i): h for i, h in enumerate(leaves)}
    level = 0
    while (1 << (level + 1)) <= size:
        for index in range(size >> (level + 1)):
            left, right = nodes[Node(level, 2 * index)], nodes[Node(level, 2 * index + 1)]
            nodes[Node(level + 1, index)] = node_hash(left, right)
        level += 1
    return leaves, nodes


def test_proofs_made_from_stored_subtrees_verify_for_every_size() -> None:
    leaves, nodes = _tree(37)
    for size in range(1, 38):
        root = range_hash(0, size, nodes.__getitem__)
        assert root == root_of(leaves[:size])
        for index in range(size):
            proof = [range_hash(b, e, nodes.__getitem__) for b, e in inclusion_ranges(index, size)]
            verify_inclusion(index, size, leaves[index], proof, root)
        for old in range(1, size + 1):
            proof = [range_hash(b, e, nodes.__getitem__) for b, e in consistency_ranges(old, size)]
            verify_consistency(old, size, root_of(leaves[:old]), root, proof)


def test_a_changed_leaf_or_a_shorter_tree_fails_the_proofs() -> None:
    leaves, nodes = _tree(21)
    root = root_of(leaves)
    proof = [range_hash(b, e, nodes.__getitem__) for b, e in inclusion_ranges(5, 21)]
    with pytest.raises(ProofError):
        verify_inclusion(5, 21, leaf_hash(b"forged"), proof, root)
    other = [*leaves[:13], leaf_hash(b"rewritten"), *leaves[14:]]
    proof = [range_hash(b, e, nodes.__getitem__) for b, e in consistency_ranges(16, 21)]
    with pytest.raises(ProofError):
        verify_consistency(16, 21, root_of(other[:16]), root, proof)


def test_the_frontier_knows_the_root_at_every_size() -> None:
    leaves, _ = _tree(70)
    frontier = Frontier()
    for size, leaf in enumerate(leaves, start=1):
        frontier.add(leaf)
        assert frontier.size == size
        assert frontier.root() == root_of(leaves[:size])
    restarted = Frontier(frontier.size, frontier.hashes)
    assert restarted.root() == root_of(leaves)
