"""Ledger records in, verified committed blocks out, in height order. Pure.

A record of `ledger.blocks.v1` is a deterministically serialized `CommittedBlock{block, qc,
commit_qc}` keyed by the 8-byte big-endian height. Every validator publishes every block, so
a height appears several times. `LedgerReader.feed(key, value)` enforces:

1. Decoding is strict (no unknown fields, canonical bytes); the key, when given, is
   `u64be(header.height)`.
2. Duplicates: a height seen before must carry the same block (byte-identical `block`), else
   `DuplicateMismatch` (an integrity alarm: two validators published different blocks for one
   height). The certificates are proofs, not identity: validators that commit a block through
   different QCs (one saw the child's QC, a lagging one only a later descendant's) publish
   copies whose `commit_qc` differ, and both are valid. The first copy's are verified; a later
   copy is dropped as a duplicate (counted in `proof_variants` when its certificates differ).
3. Heights below or at the starting tip are skipped (after rule 2 for heights seen here).
4. Blocks are released in height order with no gaps: records ahead of the next height wait in
   a bounded buffer (`max_pending`).
5. Each block: its header is well formed; `qc` certifies it (block hash, height, round and
   parent hash of the header; parent_round = the parent block's round) and is valid against
   the genesis validator set; the header links to the previous block (parent hash, height+1,
   round above the parent's).
6. Its `commit_qc` is valid against the validator set and is a two-chain commit: it certifies
   a block C at round R+1 whose parent P has round R and height C.height-1, with
   P.height >= the block's height and R >= the block's round. P is the block itself or a
   later record: the block is released only once the record at P.height has been verified
   and has hash and round equal to P's (several ancestors commit under one QC).

Verification never trusts the publisher: a record failing a rule raises `InvalidRecord`
(height, reason) and the reader must not be fed further.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cybermesh.block.builder import parent_link
from cybermesh.consensus.crypto import GENESIS_HASH, Verify, block_hash, well_formed
from cybermesh.consensus.errors import InvalidCertificate
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.proto.v1 import block_pb2
from cybermesh.wire.signing import verify_signature
from cybermesh.wire.strict import DecodeError, decode_strict, encode


def height_key(height: int) -> bytes:
    """The Kafka key of a ledger record: 8-byte big-endian height."""
    return height.to_bytes(8, "big")


class LedgerError(ValueError):
    """The ledger cannot be trusted from this record on."""

    def __init__(self, height: int, reason: str) -> None:
        super().__init__(f"height {height}: {reason}")
        self.height = height
        self.reason = reason


class InvalidRecord(LedgerError):
    """A record that breaks rules 1, 4, 5 or 6."""


class DuplicateMismatch(LedgerError):
    """Rule 2: two records of one height carry different blocks (integrity alarm)."""

    def __init__(self, height: int, first: bytes, second: bytes) -> None:
        super().__init__(height, f"duplicate records carry different blocks: sha256 {first.hex()} != {second.hex()}")
        self.first = first
        self.second = second


@dataclass(frozen=True)
class Tip:
    """The last block the reader has released (or the starting point)."""

    height: int
    hash: bytes
    round: int


GENESIS_TIP = Tip(0, GENESIS_HASH, 0)


def tip_after(header: block_pb2.BlockHeader) -> Tip:
    """The starting point of a reader whose state is at `header` (the last committed block)."""
    return Tip(header.height, parent_link(header), header.round)


@dataclass(frozen=True)
class VerifiedBlock:
    """A committed block whose certificates and links have been verified."""

    height: int
    hash: bytes
    committed: block_pb2.CommittedBlock
    raw: bytes
    """The record's bytes, as published."""

    @property
    def block(self) -> block_pb2.Block:
        return self.committed.block


@dataclass(frozen=True)
class _Held:
    block: VerifiedBlock
    target_height: int
    target_hash: bytes
    target_round: int


class LedgerReader:
    """Rules 1-6 of the module docstring over a stream of records."""

    def __init__(
        self,
        validators: ValidatorSet,
        *,
        start: Tip = GENESIS_TIP,
        verify: Verify = verify_signature,
        max_pending: int = 100_000,
    ) -> None:
        self.validators = validators
        self.tip = start
        """Last verified block (released or held)."""
        self.released = start
        """Last released block."""
        self._start = start.height
        self._verify = verify
        self._max_pending = max_pending
        self._digests: dict[int, tuple[bytes, bytes]] = {}
        """Height -> (SHA-256 of the first record, SHA-256 of its block)."""
        self._pending: dict[int, tuple[bytes, block_pb2.CommittedBlock]] = {}
        self._held: list[_Held] = []
        self.duplicates = 0
        """Records dropped as copies of a height already seen (same block)."""
        self.proof_variants = 0
        """Of those, copies whose certificates differ from the first copy's (rule 2)."""

    @property
    def held(self) -> int:
        """Verified blocks waiting for the record that completes their commit proof (rule 6)."""
        return len(self._held)

    @property
    def pending(self) -> int:
        """Records waiting for a lower height (rule 4)."""
        return len(self._pending)

    def feed(self, key: bytes | None, value: bytes) -> list[VerifiedBlock]:
        """Take one record; return the blocks it released, in height order."""
        try:
            committed = decode_strict(block_pb2.CommittedBlock, value)
        except DecodeError as exc:
            raise InvalidRecord(-1 if key is None else int.from_bytes(key, "big"), f"1: {exc}") from None
        height = committed.block.header.height
        if key is not None and key != height_key(height):
            raise InvalidRecord(height, f"1: key {key.hex()} is not u64be(height)")
        digest = hashlib.sha256(value).digest()
        seen = self._digests.get(height)
        if seen is not None:
            if digest != seen[0]:
                block_digest = hashlib.sha256(encode(committed.block)).digest()
                if block_digest != seen[1]:
                    raise DuplicateMismatch(height, seen[1], block_digest)
                self.proof_variants += 1
            self.duplicates += 1
            return []
        self._digests[height] = (digest, hashlib.sha256(encode(committed.block)).digest())
        if height <= self._start:
            return []
        if height <= self.tip.height:  # digest known unless pruned; cannot happen
            return []
        self._pending[height] = (value, committed)
        if len(self._pending) > self._max_pending:
            raise InvalidRecord(height, f"4: {len(self._pending)} records wait for height {self.tip.height + 1}")
        out: list[VerifiedBlock] = []
        while (nxt := self._pending.pop(self.tip.height + 1, None)) is not None:
            out.extend(self._verify_next(*nxt))
        return out

    def _verify_next(self, raw: bytes, committed: block_pb2.CommittedBlock) -> list[VerifiedBlock]:
        header = committed.block.header
        h = header.height
        if not well_formed(header):
            raise InvalidRecord(h, "5: malformed header (hash fields must be 32 bytes)")
        hash_ = block_hash(header)
        self._check_qc(h, hash_, committed)
        self._check_link(h, header, committed.qc.vote_data.parent_round)
        target = self._check_commit_qc(h, header, committed.commit_qc)
        # Held blocks whose commit-proof target is this height are proven (or broken) now.
        for held in self._held:
            if held.target_height == h and (held.target_hash != hash_ or held.target_round != header.round):
                raise InvalidRecord(held.block.height, f"6: commit_qc's parent at height {h} is not block {hash_.hex()[:16]}")
        self.tip = Tip(h, hash_, header.round)
        self._held.append(_Held(VerifiedBlock(h, hash_, committed, raw), *target))
        if target[0] == h and (target[1] != hash_ or target[2] != header.round):
            raise InvalidRecord(h, "6: commit_qc's parent is at this height but is another block")
        out: list[VerifiedBlock] = []
        while self._held and self._held[0].target_height <= h:
            out.append(self._held.pop(0).block)
        if out:
            last = out[-1]
            self.released = Tip(last.height, last.hash, last.committed.block.header.round)
        return out

    def _check_qc(self, h: int, hash_: bytes, committed: block_pb2.CommittedBlock) -> None:
        if not committed.HasField("qc") or not committed.HasField("commit_qc"):
            raise InvalidRecord(h, "5: qc and commit_qc are required")
        header = committed.block.header
        vd = committed.qc.vote_data
        if (vd.block_hash, vd.height, vd.round, vd.parent_hash) != (hash_, h, header.round, header.parent_hash):
            raise InvalidRecord(h, f"5: qc certifies {vd.block_hash.hex()[:16]}@{vd.height}/r{vd.round}, not this block")
        try:
            self.validators.check_qc(committed.qc, self._verify)
        except InvalidCertificate as exc:
            raise InvalidRecord(h, f"5: qc: {exc}") from None

    def _check_link(self, h: int, header: block_pb2.BlockHeader, qc_parent_round: int) -> None:
        if header.parent_hash != self.tip.hash:
            raise InvalidRecord(h, f"5: parent_hash {header.parent_hash.hex()[:16]} != block {self.tip.height} {self.tip.hash.hex()[:16]}")
        if header.round <= self.tip.round:
            raise InvalidRecord(h, f"5: round {header.round} <= parent round {self.tip.round}")
        if qc_parent_round != self.tip.round:
            raise InvalidRecord(h, f"5: qc parent_round {qc_parent_round} != parent round {self.tip.round}")

    def _check_commit_qc(self, h: int, header: block_pb2.BlockHeader, cqc: block_pb2.QuorumCert) -> tuple[int, bytes, int]:
        vd = cqc.vote_data
        try:
            self.validators.check_qc(cqc, self._verify)
        except InvalidCertificate as exc:
            raise InvalidRecord(h, f"6: commit_qc: {exc}") from None
        if vd.round != vd.parent_round + 1:
            raise InvalidRecord(h, f"6: commit_qc round {vd.round} != parent round {vd.parent_round} + 1 (not a two-chain)")
        if vd.height - 1 < h or vd.parent_round < header.round:
            raise InvalidRecord(h, f"6: commit_qc's parent {vd.height - 1}/r{vd.parent_round} is not this block or a descendant")
        return vd.height - 1, bytes(vd.parent_hash), vd.parent_round
