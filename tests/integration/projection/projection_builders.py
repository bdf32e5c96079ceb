"""Builders of committed blocks and their projection records for the projection tests."""

from __future__ import annotations

import hashlib

from cybermesh.proto.v1 import ai_pb2, block_pb2
from cybermesh.storage.records import (
    BlockRecord,
    EntityRecord,
    Receipt,
    SnapshotRecord,
    StateChange,
    ValidatorRecord,
    from_committed_block,
)

GENESIS_PARENT = bytes(32)
VALIDATORS = tuple(
    ValidatorRecord(
        f"v{i}", bytes([i]) * 32, bytes([16 + i]) * 32, f"/ip4/127.0.0.1/tcp/{7100 + i}"
    )
    for i in range(4)
)


def _anomaly(height: int, i: int) -> bytes:
    msg = ai_pb2.Anomaly(
        schema_version=1, id=f"a-{height}-{i}", type="port_scan", source=f"10.0.{height % 7}.{i % 5}",
        severity=1 + i % 10, confidence=5000 + i, ts=1_767_225_600_000 + height * 1000 + i,
        payload=b"x" * 16, model_version="m1", producer_id=f"det-{i % 3}",
        nonce=height * 100_000 + i + (2**63 if i == 1 else 0), signature=bytes(64), pubkey=bytes(32),
    )  # fmt: skip
    msg.payload_hash = hashlib.sha256(msg.payload).digest()
    return msg.SerializeToString(deterministic=True)


def _evidence(height: int, i: int) -> bytes:
    msg = ai_pb2.Evidence(
        schema_version=1, id=f"e-{height}-{i}", evidence_type="pcap", refs=[f"a-{height}-0", f"a-{height - 1}-0"],
        proof_blob=b"proof", ts=1_767_225_600_000 + height * 1000 + i, producer_id="analyst-1",
        nonce=height * 100_000 + i, signature=bytes(64), pubkey=bytes(32),
    )  # fmt: skip
    return msg.SerializeToString(deterministic=True)


def committed_block(
    height: int, parent_hash: bytes, n_txs: int, *, round_: int | None = None
) -> block_pb2.CommittedBlock:
    txs = []
    for i in range(n_txs):
        if i % 10 == 9:
            txs.append(
                block_pb2.Tx(
                    schema_version=1, kind=block_pb2.TX_KIND_EVIDENCE, raw=_evidence(height, i)
                )
            )
        else:
            txs.append(
                block_pb2.Tx(
                    schema_version=1, kind=block_pb2.TX_KIND_ANOMALY, raw=_anomaly(height, i)
                )
            )
    rnd = height * 2 if round_ is None else round_
    header = block_pb2.BlockHeader(
        schema_version=1, chain_id="cybermesh-test", height=height, round=rnd, parent_hash=parent_hash,
        proposer=f"v{rnd % 4}", tx_root=hashlib.sha256(b"txroot%d" % height).digest(),
        state_root_hint=hashlib.sha256(b"root%d" % (height - 1)).digest(),
        timestamp=1_767_225_600_000 + height * 1000, tx_count=n_txs,
    )  # fmt: skip
    qc = block_pb2.QuorumCert(
        schema_version=1,
        vote_data=block_pb2.VoteData(
            schema_version=1, chain_id="cybermesh-test", round=rnd + 1, height=height + 1
        ),
        signatures=[
            block_pb2.ValidatorSignature(validator_id=f"v{j}", signature=bytes([j]) * 64)
            for j in range(3)
        ],
    )
    return block_pb2.CommittedBlock(
        schema_version=1,
        block=block_pb2.Block(schema_version=1, header=header, txs=txs),
        commit_qc=qc,
    )


def make_record(
    height: int, parent_hash: bytes, n_txs: int = 5, *, snapshot: bool = False, variant: int = 0
) -> BlockRecord:
    """A BlockRecord for `height`; `variant` changes the executor outputs (divergence)."""
    cb = committed_block(height, parent_hash, n_txs)
    receipts = [
        Receipt(
            i,
            code=0 if i % 4 else 3,
            evidence_status="accepted" if i % 2 else "rejected",
            evidence_action="apply",
        )
        for i in range(n_txs)
    ]
    changes = [
        StateChange(
            b"rep/" + f"10.0.{height % 7}.{j}".encode(),
            (height * 10 + j + variant).to_bytes(8, "big"),
        )
        for j in range(3)
    ]
    if height % 3 == 0:
        changes.append(StateChange(b"tmp/" + str(height - 1).encode(), None))
    changes.append(StateChange(b"tmp/" + str(height).encode(), b"\x00"))
    entities = [
        EntityRecord(
            f"10.0.{height % 7}.{j}", -(height * 10 + j), quarantined=(height + j) % 5 == 0
        )
        for j in range(2)
    ]
    snaps = (
        [
            SnapshotRecord(
                height, hashlib.sha256(b"root%d" % height).digest(), f"/snap/{height}", 4096
            )
        ]
        if snapshot
        else []
    )
    return from_committed_block(
        cb,
        state_root=hashlib.sha256(b"root%d+%d" % (height, variant)).digest(),
        receipts=receipts,
        changes=changes,
        entities=entities,
        validators=VALIDATORS if height == 1 else (),
        snapshots=snaps,
    )


def make_chain(
    n: int, n_txs: int = 5, *, start: int = 1, parent: bytes = GENESIS_PARENT
) -> list[BlockRecord]:
    chain = []
    for h in range(start, start + n):
        rec = make_record(h, parent, n_txs, snapshot=h % 10 == 0)
        chain.append(rec)
        parent = rec.hash
    return chain
