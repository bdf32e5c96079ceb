"""LedgerReader and Replayer over chains built by the state core with signed QCs."""

from __future__ import annotations

import pytest

from cybermesh.block.hashing import block_hash
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.ledger import DuplicateMismatch, InvalidRecord, LedgerReader, height_key
from cybermesh.ledger.replay import Replayer, ReplayFailed
from cybermesh.proto.v1 import block_pb2
from cybermesh.state import MemoryNodeStore, VersionedTree
from cybermesh.state.snapshot import export_snapshot, restore_snapshot
from cybermesh.wire.strict import encode
from tests.ledger_kit import GENESIS, certified_chain, resign, sign_qc

VS = ValidatorSet.from_genesis(GENESIS)


def feed_all(reader: LedgerReader, records: list[bytes]) -> list[int]:
    out: list[int] = []
    for raw in records:
        h = block_pb2.CommittedBlock.FromString(raw).block.header.height
        out += [b.height for b in reader.feed(height_key(h), raw)]
    return out


def test_consecutive_rounds_release_every_block_in_order() -> None:
    chain = certified_chain([1, 2, 3, 4, 5])
    assert feed_all(LedgerReader(VS), chain.records) == [1, 2, 3, 4, 5]


def test_duplicates_and_reordering_are_absorbed() -> None:
    chain = certified_chain([1, 2, 3, 4])
    r = chain.records
    # four publishers, interleaved; height 3 shows up before height 2 once
    stream = [r[0], r[0], r[2], r[1], r[0], r[1], r[2], r[3], r[1], r[3], r[2], r[3], r[0], r[3], r[1], r[2]]
    reader = LedgerReader(VS)
    assert feed_all(reader, stream) == [1, 2, 3, 4]
    assert reader.duplicates == len(stream) - 4


def test_ancestors_wait_for_the_record_that_completes_their_commit_proof() -> None:
    #   h1(r1) <- h2(r2) <- h3(r4) <- h4(r5): QC(h2) commits h1; QC(h4) commits h2 and h3
    chain = certified_chain([1, 2, 4, 5])
    assert chain.committed[1].commit_qc == chain.committed[2].commit_qc
    reader = LedgerReader(VS)
    assert feed_all(reader, chain.records[:2]) == [1]
    assert reader.held == 1
    assert feed_all(reader, chain.records[2:3]) == [2, 3]


def test_a_copy_with_another_block_is_an_integrity_alarm() -> None:
    chain = certified_chain([1, 2, 3])
    other = block_pb2.CommittedBlock()
    other.CopyFrom(chain.committed[0])
    other.block.header.timestamp += 1  # another block at height 1, its own valid QC
    other = resign(other, chain.committed[0].qc.vote_data.parent_round)
    reader = LedgerReader(VS)
    reader.feed(height_key(1), chain.records[0])
    with pytest.raises(DuplicateMismatch, match="carry different blocks") as err:
        reader.feed(height_key(1), encode(other))
    assert err.value.height == 1


@pytest.mark.parametrize("indirect_first", [False, True])
def test_copies_committed_through_different_qcs_are_the_same_block(indirect_first: bool) -> None:
    # h1 <- h2 <- h3 at rounds 1, 2, 3: QC(h2) commits h1 (a validator that saw it), and so
    # does QC(h3), which commits h2 and its ancestors (a validator that missed QC(h2)).
    chain = certified_chain([1, 2, 3, 4])
    late = block_pb2.CommittedBlock()
    late.CopyFrom(chain.committed[0])
    late.commit_qc.CopyFrom(chain.committed[1].commit_qc)
    assert late.commit_qc != chain.committed[0].commit_qc
    LedgerReader(VS).feed(height_key(1), encode(late))  # on its own, a valid record
    copies = [encode(late), chain.records[0]]
    if not indirect_first:
        copies.reverse()
    reader = LedgerReader(VS)
    assert feed_all(reader, [*copies, *chain.records[1:], chain.records[1]]) == [1, 2, 3, 4]
    assert (reader.duplicates, reader.proof_variants) == (2, 1)
    # A copy with a QC of fewer signatures is a proof variant too, not an alarm.
    thin = block_pb2.CommittedBlock()
    thin.CopyFrom(chain.committed[0])
    thin.qc.signatures.pop()
    assert reader.feed(height_key(1), encode(thin)) == []
    assert reader.proof_variants == 2


def test_forged_qc_signature_is_refused() -> None:
    chain = certified_chain([1, 2])
    bad = block_pb2.CommittedBlock()
    bad.CopyFrom(chain.committed[0])
    sig = bytearray(bad.qc.signatures[0].signature)
    sig[0] ^= 1
    bad.qc.signatures[0].signature = bytes(sig)
    with pytest.raises(InvalidRecord, match=r"5: qc: .*bad signature"):
        LedgerReader(VS).feed(height_key(1), encode(bad))


def test_qc_of_another_block_is_refused() -> None:
    chain = certified_chain([1, 2])
    bad = block_pb2.CommittedBlock()
    bad.CopyFrom(chain.committed[0])
    bad.qc.CopyFrom(chain.committed[1].qc)
    with pytest.raises(InvalidRecord, match="5: qc certifies"):
        LedgerReader(VS).feed(height_key(1), encode(bad))


def test_commit_qc_that_is_not_a_two_chain_is_refused() -> None:
    chain = certified_chain([1, 3, 4])
    bad = block_pb2.CommittedBlock()
    bad.CopyFrom(chain.committed[0])
    bad.commit_qc.CopyFrom(chain.committed[1].qc)  # h2 at r3 has parent r1: not consecutive
    with pytest.raises(InvalidRecord, match=r"6: .*not a two-chain"):
        LedgerReader(VS).feed(height_key(1), encode(bad))


def test_commit_qc_of_a_fork_is_refused_when_the_chain_gets_there() -> None:
    chain = certified_chain([1, 2, 4, 5])
    # h2's commit proof claims h3 has a different hash: a QC on a fork
    fork = block_pb2.Block()
    fork.CopyFrom(chain.committed[2].block)
    fork.header.timestamp += 1
    forged_c = block_pb2.Block()
    forged_c.CopyFrom(chain.committed[3].block)
    forged_c.header.parent_hash = block_hash(fork.header)
    bad = block_pb2.CommittedBlock()
    bad.CopyFrom(chain.committed[1])
    bad.commit_qc.CopyFrom(sign_qc(forged_c, 4))
    reader = LedgerReader(VS)
    feed_all(reader, chain.records[:1])
    reader.feed(height_key(2), encode(bad))
    with pytest.raises(InvalidRecord, match="6: commit_qc's parent at height 3"):
        reader.feed(height_key(3), chain.records[2])


def test_too_few_signatures_and_wrong_key_are_refused() -> None:
    chain = certified_chain([1, 2])
    with pytest.raises(InvalidRecord, match="key"):
        LedgerReader(VS).feed(height_key(2), chain.records[0])
    weak = block_pb2.CommittedBlock()
    weak.CopyFrom(chain.committed[0])
    weak.qc.CopyFrom(sign_qc(weak.block, 0, signers=("v0", "v1")))
    with pytest.raises(InvalidRecord, match="quorum"):
        LedgerReader(VS).feed(None, encode(weak))


def test_undecodable_record_is_refused() -> None:
    with pytest.raises(InvalidRecord, match="1: "):
        LedgerReader(VS).feed(height_key(1), b"\xff\xff\xff")


def test_replayer_reaches_the_roots_of_direct_execution() -> None:
    chain = certified_chain([1, 2, 4, 5, 6, 7], per_block=4)
    rep = Replayer(GENESIS, VersionedTree(MemoryNodeStore()))
    roots = {}
    for raw in chain.records + chain.records:
        h = block_pb2.CommittedBlock.FromString(raw).block.header.height
        roots.update({a.height: a.root for a in rep.feed(height_key(h), raw)})
    assert [roots[h] for h in sorted(roots)] == chain.roots
    assert rep.height == 6 and rep.root == chain.roots[-1]
    assert rep.incomplete() is None


def test_certified_block_with_a_wrong_state_root_hint_fails_replay() -> None:
    chain = certified_chain([1, 2, 3])
    bad = block_pb2.CommittedBlock()
    bad.CopyFrom(chain.committed[1])
    bad.block.header.state_root_hint = bytes(32)
    bad = resign(bad, 1)
    # h1's commit_qc is QC(h2): it must name the tampered h2, so re-sign it too
    first = block_pb2.CommittedBlock()
    first.CopyFrom(chain.committed[0])
    first.commit_qc.CopyFrom(bad.qc)
    # h2's commit_qc certifies h3, whose parent hash is the original h2: h2 stays held, so
    # certify h3' on top of the tampered h2
    h3 = block_pb2.Block()
    h3.CopyFrom(chain.committed[2].block)
    h3.header.parent_hash = block_hash(bad.block.header)
    bad.commit_qc.CopyFrom(sign_qc(h3, 2))
    rep = Replayer(GENESIS, VersionedTree(MemoryNodeStore()))
    rep.feed(height_key(1), encode(first))
    with pytest.raises(ReplayFailed, match="state_root_mismatch") as err:
        rep.feed(height_key(2), encode(bad))
    assert err.value.height == 2


def test_replayer_from_a_snapshot_skips_heights_at_or_below_it() -> None:
    chain = certified_chain([1, 2, 3, 4, 5])
    first = Replayer(GENESIS, VersionedTree(MemoryNodeStore()))
    for h, raw in enumerate(chain.records[:2], start=1):
        first.feed(height_key(h), raw)
    assert first.height == 2
    tree = VersionedTree(MemoryNodeStore())
    restore_snapshot(tree, export_snapshot(first.machine.tree, 2))
    rep = Replayer(GENESIS, tree)
    assert rep.height == 2
    for h, raw in enumerate(chain.records, start=1):
        rep.feed(height_key(h), raw)
    assert rep.height == 5 and rep.root == chain.roots[-1]


def test_reader_is_pure() -> None:
    from tests.unit.test_purity import FORBIDDEN, ROOT, _imports

    path = ROOT / "ledger" / "reader.py"
    bad = [m for _, m in _imports(path) if m.split(".")[0] in FORBIDDEN or m.startswith(("cybermesh.storage", "cybermesh.stores"))]
    assert bad == []
