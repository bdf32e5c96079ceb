"""Deterministic validator keys and genesis for simulations."""

from __future__ import annotations

import hashlib
from functools import cache

import nacl.signing

from cybermesh.genesis import Genesis, parse_genesis

CHAIN_ID = "cybermesh-sim"


@cache
def signing_key(validator_id: str, purpose: str = "consensus") -> nacl.signing.SigningKey:
    seed = hashlib.sha256(f"cybermesh-sim/{purpose}/{validator_id}".encode()).digest()
    return nacl.signing.SigningKey(seed)


@cache
def sim_genesis(n: int) -> Genesis:
    return parse_genesis({
        "chain_id": CHAIN_ID,
        "genesis_time": 1_767_225_600_000,
        "validators": [
            {
                "id": f"v{i}",
                "consensus_pubkey": bytes(signing_key(f"v{i}").verify_key).hex(),
                "node_pubkey": bytes(signing_key(f"v{i}", "node").verify_key).hex(),
                "address": f"/ip4/127.0.0.1/tcp/{17100 + i}",
            }
            for i in range(n)
        ],
        "producers": [],
    })
