"""The Merkle tree over a cluster's log, as RFC 9162 (Certificate Transparency 2.0) §2.1
defines it: leaf hash SHA-256(0x00 || entry), node hash SHA-256(0x01 || left || right).

The log keeps the hash of every *perfect* subtree, `Node(level, index)` covering leaves
[index * 2**level, (index + 1) * 2**level): each append adds its leaf and the subtrees it
completes. Every hash a root or a proof needs is a range of leaves that splits into a few
such nodes (`perfect_nodes`), so any tree size is answered from O(log² n) stored hashes.
The `verify_*` functions are the RFC's verification algorithms, for auditors.
"""

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not prove what it claims."""


@dataclass(frozen=True)
class Node:
    level: int
    index: int


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(size: int) -> int:
    """The largest power of two smaller than size (size > 1): where the RFC splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_nodes(begin: int, end: int) -> list[Node]:
    """The perfect subtrees that make up leaves [begin, end), left to right, for a range
    the RFC's recursion produces (begin aligned to a power of two at least end - begin)."""
    nodes = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        nodes.append(Node(level, begin >> level))
        begin += 1 << level
    return nodes


def range_hash(begin: int, end: int, hashes: Callable[[Node], bytes]) -> bytes:
    """MTH(D[begin:end]): its perfect subtrees folded from the right."""
    if begin == end:
        return EMPTY_ROOT
    nodes = perfect_nodes(begin, end)
    result = hashes(nodes[-1])
    for node in reversed(nodes[:-1]):
        result = node_hash(hashes(node), result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes make PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), in order."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    path, begin, end = [], 0, size
    while end - begin > 1:
        k = split(end - begin)
        if index < begin + k:
            path.append((begin + k, end))
            end = begin + k
        else:
            path.append((begin, begin + k))
            begin += k
    return path[::-1]


def consistency_ranges(old: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes make PROOF(old, D[0:size]) (RFC 9162 §2.1.4.1), in order."""
    if not 0 < old <= size:
        raise ProofError(f"no consistency proof from {old} to {size}")
    path, begin, end, whole = [], 0, size, True
    while begin + (old - begin) != end:
        k = split(end - begin)
        if old - begin <= k:
            path.append((begin + k, end))
            end = begin + k
        else:
            path.append((begin, begin + k))
            begin += k
            whole = False
    if not whole:
        path.append((begin, end))
    return path[::-1]


def needed_nodes(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    return {node for begin, end in ranges for node in perfect_nodes(begin, end)}


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of leaf hashes held in memory (tests, and the verifier's rebuilt ranges)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


class Frontier:
    """The perfect subtrees of a growing tree's left part (a compact range from leaf 0):
    enough to add leaves and to know the root at every size, in O(log n) memory."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ProofError(f"a tree of {size} has {bin(size).count('1')} frontier hashes")
        self.size = size
        self.hashes = list(hashes)  # largest subtree first

    def add(self, leaf: bytes) -> None:
        merged, size = leaf, self.size
        while size & 1:
            merged = node_hash(self.hashes.pop(), merged)
            size >>= 1
        self.hashes.append(merged)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            result = node_hash(left, result)
        return result


def frontier_nodes(size: int) -> list[Node]:
    """The nodes a `Frontier` of this size holds, largest first."""
    return perfect_nodes(0, size)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2; raises ProofError unless the leaf is at index in the tree."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    if len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        raise ProofError("a leaf hash and a root are 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    if r != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(
    old: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises ProofError unless the tree of `size` extends that of `old`.
    A tree is consistent with itself only with an empty proof; an empty tree proves nothing."""
    if old < 1 or old > size:
        raise ProofError(f"no consistency proof from {old} to {size}")
    if old == size:
        if proof:
            raise ProofError("a tree proves itself with no hashes")
        if old_root != root:
            raise ProofError("two roots for one tree size: the log has forked")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the earlier root")
    if sr != root:
        raise ProofError("the consistency proof does not lead to the later root")
