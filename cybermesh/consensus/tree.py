"""Block tree: the committed root and the uncommitted blocks above it, by hash.

Rules:

1. A block enters only if its parent is the root or already in the tree, and its height is the
   parent's + 1 (so every block in the tree descends from the root).
2. `commit(hash)` returns the blocks from the root (exclusive) to `hash`, oldest first, makes
   `hash` the root, and prunes every block that does not descend from the new root.
3. QCs are kept by certified block hash for blocks in the tree (and the root), so the ledger
   can record each committed block with its certificate.
"""

from __future__ import annotations

from cybermesh.consensus.crypto import block_hash
from cybermesh.proto.v1 import block_pb2


class BlockTree:
    def __init__(self, root: block_pb2.BlockHeader, root_hash: bytes,
                 root_qc: block_pb2.QuorumCert) -> None:
        self.root_hash = root_hash
        self.root = root
        self._blocks: dict[bytes, block_pb2.Block] = {}
        self._qcs: dict[bytes, block_pb2.QuorumCert] = {root_hash: root_qc}

    def __contains__(self, hash_: bytes) -> bool:
        return hash_ == self.root_hash or hash_ in self._blocks

    def __len__(self) -> int:
        return len(self._blocks)

    def header(self, hash_: bytes) -> block_pb2.BlockHeader | None:
        if hash_ == self.root_hash:
            return self.root
        block = self._blocks.get(hash_)
        return None if block is None else block.header

    def block(self, hash_: bytes) -> block_pb2.Block | None:
        return self._blocks.get(hash_)

    def qc(self, hash_: bytes) -> block_pb2.QuorumCert | None:
        return self._qcs.get(hash_)

    def add(self, block: block_pb2.Block) -> bytes | None:
        """Rule 1; returns the block's hash, or None if its parent is unknown."""
        h = block.header
        parent = self.header(bytes(h.parent_hash))
        if parent is None or h.height != parent.height + 1:
            return None
        hash_ = block_hash(h)
        self._blocks.setdefault(hash_, block)
        return hash_

    def certify(self, qc: block_pb2.QuorumCert) -> bool:
        """Rule 3; True if the certified block is in the tree."""
        hash_ = bytes(qc.vote_data.block_hash)
        if hash_ not in self:
            return False
        self._qcs.setdefault(hash_, qc)
        return True

    def path(self, hash_: bytes) -> list[block_pb2.Block] | None:
        """Blocks from the root (exclusive) to `hash_`, oldest first; None if not connected."""
        chain: list[block_pb2.Block] = []
        while hash_ != self.root_hash:
            block = self._blocks.get(hash_)
            if block is None:
                return None
            chain.append(block)
            hash_ = bytes(block.header.parent_hash)
        chain.reverse()
        return chain

    def commit(self, hash_: bytes) -> list[block_pb2.Block]:
        """Rule 2; `hash_` must be connected (see `path`)."""
        chain = self.path(hash_)
        if not chain:
            return []
        self.root_hash, self.root = hash_, chain[-1].header
        kept: dict[bytes, block_pb2.Block] = {}
        for h, block in sorted(self._blocks.items(), key=lambda kv: (kv[1].header.height, kv[0])):
            if block.header.height > self.root.height and (
                    block.header.parent_hash == hash_ or block.header.parent_hash in kept):
                kept[h] = block
        self._blocks = kept
        self._qcs = {h: qc for h, qc in self._qcs.items() if h in kept or h == hash_}
        return chain
