"""bench/e2e.py's measurement: dedupe by height, integrity mismatches, latency matching."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from cybermesh.proto.v1 import block_pb2
from cybermesh.wire.strict import encode
from tests.ledger_kit import certified_chain

ROOT = Path(__file__).resolve().parents[3]


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_e2e", ROOT / "bench" / "e2e.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_e2e"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


bench = load_bench()


def tx_hashes(c: block_pb2.CommittedBlock) -> list[bytes]:
    return [hashlib.sha256(tx.raw).digest() for tx in c.block.txs]


def test_measure_matches_txs_to_their_first_commit() -> None:
    chain = certified_chain([1, 2, 3], per_block=4)
    produced = {}
    for i, c in enumerate(chain.committed):
        for j, h in enumerate(tx_hashes(c)):
            produced[h] = 1_000 + 100 * i + j  # produce ms
    produced[b"\x01" * 32] = 1_000  # never committed
    tally = bench.LedgerTally()
    for i, raw in enumerate(chain.records):
        tally.feed(raw, 2_000 + 1_000 * i)  # first publisher: commit time
        tally.feed(raw, 9_999)  # later duplicates do not move it
    out = bench.measure(produced, tally)
    n = sum(len(c.block.txs) for c in chain.committed)
    assert out["committed"] == n and out["unmatched"] == 1
    assert out["ledger_blocks"] == 3 and out["ledger_records"] == 6 and out["integrity_mismatches"] == 0
    lat = sorted(2_000 + 1_000 * i - (1_000 + 100 * i + j)
                 for i, c in enumerate(chain.committed) for j in range(len(c.block.txs)))  # fmt: skip
    assert out["latency_ms"]["max"] == lat[-1]
    assert out["latency_ms"]["p50"] == lat[(len(lat) + 1) // 2 - 1]
    assert out["committed_tx_per_s"] == round(n * 1000 / (4_000 - 1_000), 1)


def test_different_bytes_for_one_height_count_as_integrity_mismatch() -> None:
    chain = certified_chain([1, 2])
    other = block_pb2.CommittedBlock()
    other.CopyFrom(chain.committed[0])
    other.qc.signatures.pop()
    tally = bench.LedgerTally()
    tally.feed(chain.records[0], 1)
    tally.feed(encode(other), 2)
    tally.feed(b"\xff\xff", 3)
    assert (tally.mismatches, tally.undecodable, len(tally.commits)) == (1, 1, 1)


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert [bench.percentile(values, p) for p in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert bench.percentile([], 50) is None
    assert bench.percentile([7], 99) == 7
