"""Blocks: canonical header hash, tx root, limits, builder and shape validation. Pure.

The interface consensus needs (docs/BLOCKS.md):

- `block_hash(header) -> bytes` (32 bytes), `header.height`, `header.round`,
  `header.parent_hash` (protobuf fields of `BlockHeader`);
- `build_block(...)` for the proposer, `validate_block_shape(...)` for followers;
- `genesis_header(chain_id, genesis_time)`: the parent of height 1.
"""

from cybermesh.block.builder import (
    BuildError,
    build_block,
    genesis_header,
    next_timestamp,
    parent_link,
    select_txs,
)
from cybermesh.block.hashing import (
    EMPTY_TX_ROOT,
    ZERO_HASH,
    HeaderEncodingError,
    block_hash,
    header_bytes,
    merkle_root,
    tx_leaf,
    tx_root,
)
from cybermesh.block.limits import BlockLimits, LimitsError
from cybermesh.block.validation import BlockShapeError, validate_block_shape

__all__ = [
    "EMPTY_TX_ROOT",
    "ZERO_HASH",
    "BlockLimits",
    "BlockShapeError",
    "BuildError",
    "HeaderEncodingError",
    "LimitsError",
    "block_hash",
    "build_block",
    "genesis_header",
    "header_bytes",
    "merkle_root",
    "next_timestamp",
    "parent_link",
    "select_txs",
    "tx_leaf",
    "tx_root",
    "validate_block_shape",
]
