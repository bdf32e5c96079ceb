"""The proposals a replica voted for above its committed height, kept across restarts.

Why: a QC certifies a block that 2f+1 validators voted for, and the block tree holding it lives
in memory. The safety data keeps the high QC across a restart, not its block. If every
validator restarts at once (a local network's down/up, a power cut), the high QC names a block
nobody has any more: no leader can extend it (the parent is missing) and no peer can serve it
by sync, so the network stalls for good. Rules:

1. When a replica casts a new vote (after the safety rules' checks, before they persist the
   vote and sign it), the port stores the proposal that carried the block (the block and the
   QC of its parent), durably. So every certified block is stored by the 2f+1 validators that
   voted for it. A refused or repeated vote stores nothing.
2. A new replica adds the stored blocks above its committed root that connect to it to its
   tree, in height order, each parent certified by the stored proposal's QC; then the safety
   data's high QC certifies its block if present. Stored records were verified when received.
3. After each commit, proposals more than `VOTED_MARGIN` (64) heights below the committed
   height are dropped. The margin covers commits the driver had not yet made durable in its
   ledger when the process died: the ledger then ends below the stored blocks, which still
   connect to it, so the lost heights are committed again instead of leaving a gap (pruning
   at the committed height itself could leave every validator with blocks that connect to
   nothing, a stall the review reproduced in the simulator).
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cybermesh.proto.v1 import consensus_pb2
from cybermesh.wire.strict import decode_strict, encode


class VotedBlocks(Protocol):
    """Persistence port of rule 1 (see the module docstring)."""

    def put(self, proposal: consensus_pb2.Proposal) -> None:
        """Store `proposal`; returns only once it is durable."""

    def load(self) -> list[consensus_pb2.Proposal]:
        """Every stored proposal (any order; unreadable records are skipped)."""

    def prune(self, height: int) -> None:
        """Drop the proposals of blocks at or below `height`."""


class MemoryVotedBlocks:
    """In-memory twin of the durable store (keeps encoded bytes, as a real store would)."""

    def __init__(self) -> None:
        self._raw: dict[tuple[int, bytes], bytes] = {}
        self.puts = 0

    def put(self, proposal: consensus_pb2.Proposal) -> None:
        raw = encode(proposal)
        self._raw[(proposal.block.header.height, hashlib.sha256(raw).digest())] = raw
        self.puts += 1

    def load(self) -> list[consensus_pb2.Proposal]:
        return [decode_strict(consensus_pb2.Proposal, raw) for raw in self._raw.values()]

    def prune(self, height: int) -> None:
        self._raw = {k: v for k, v in self._raw.items() if k[0] > height}

    def __len__(self) -> int:
        return len(self._raw)
