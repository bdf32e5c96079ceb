"""Deterministic state machine: records, block validity, reducers, merkleized store. Pure.

Public API (docs/STATE.md):

- `execute_block(state, block, limits, verified=()) -> Execution` (raises InvalidBlockError)
- `filter_txs(state, candidates, height, timestamp, limits) -> (txs, rejected)` (proposer)
- `genesis_changes(genesis)`: the version-0 state
- `VersionedTree(store)`: `apply(version, changes) -> root`, `root(v)`, `get(key, v)`,
  `prove(key, v)`, `prune(retain_from)`, `restore(...)`, `leaves(v)`
- `verify_proof(root, key, value_or_none, proof)`, `SparseMerkleProof.encode/decode`
- `MemoryNodeStore`: the in-memory NodeStore (the durable one is cybermesh.stores.rocks)
"""

from cybermesh.state.context import Emitted, Receipt, StateReader
from cybermesh.state.executor import (
    Execution,
    InvalidBlockError,
    Rejected,
    execute_block,
    filter_txs,
)
from cybermesh.state.nodestore import MemoryNodeStore, NodeStore
from cybermesh.state.params import PARAMS, genesis_changes, genesis_params
from cybermesh.state.smt import PLACEHOLDER, SparseMerkleProof, key_hash, verify_proof
from cybermesh.state.tree import RootMismatchError, VersionedTree, VersionError

__all__ = [
    "PARAMS",
    "PLACEHOLDER",
    "Emitted",
    "Execution",
    "InvalidBlockError",
    "MemoryNodeStore",
    "NodeStore",
    "Receipt",
    "Rejected",
    "RootMismatchError",
    "SparseMerkleProof",
    "StateReader",
    "VersionError",
    "VersionedTree",
    "execute_block",
    "filter_txs",
    "genesis_changes",
    "genesis_params",
    "key_hash",
    "verify_proof",
]
