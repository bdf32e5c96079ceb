"""The port through which consensus asks the application for block contents.

Consensus is payload-agnostic: it fills and checks the consensus fields of a header
(chain_id, height, round, parent_hash, proposer, timestamp) and leaves the rest (txs, tx_root,
tx_count, state_root_hint) to the application.

NOTE (caller contracts):
- `build(template, parent)` is called only on the leader of `template.round`; with proposal
  pacing it may be called again in the same round (the last block built is the one proposed);
  it returns a Block whose header equals `template` in chain_id, height, round, parent_hash
  and proposer; it may lower the timestamp (e.g. clamp it to a window after the parent's) but
  it must stay above the parent's. Otherwise the replica does not propose in that round.
- `verify(block, parent)` is called once per proposal before voting; it must be deterministic
  (a function of the block and its ancestors only) and return False for any block that an
  honest replica must not vote for. Certified blocks fetched by sync are not re-verified here
  (2f+1 votes include f+1 honest verifications); execution checks them again at commit.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cybermesh.consensus.crypto import SCHEMA_VERSION
from cybermesh.proto.v1 import block_pb2

EMPTY_TX_ROOT = hashlib.sha256(b"").digest()


class Payload(Protocol):
    def build(self, template: block_pb2.BlockHeader,
              parent: block_pb2.BlockHeader) -> block_pb2.Block: ...

    def verify(self, block: block_pb2.Block, parent: block_pb2.BlockHeader) -> bool: ...


class EmptyPayload:
    """Blocks without transactions (tx_root = SHA-256(b"")): the simulator's application."""

    def build(self, template: block_pb2.BlockHeader,
              parent: block_pb2.BlockHeader) -> block_pb2.Block:
        header = block_pb2.BlockHeader()
        header.CopyFrom(template)
        header.tx_root = EMPTY_TX_ROOT
        header.state_root_hint = bytes(32)  # no execution in the simulator
        return block_pb2.Block(schema_version=SCHEMA_VERSION, header=header)

    def verify(self, block: block_pb2.Block, parent: block_pb2.BlockHeader) -> bool:
        return block.header.tx_root == EMPTY_TX_ROOT and block.header.tx_count == 0 \
            and len(block.txs) == 0
