"""The static validator set from genesis and the verification of certificates against it.

A QC is valid when (numbered as in `InvalidCertificate.detail`):

1. its vote data names our chain id;
2. it is the genesis QC (round 0, exactly `crypto.genesis_qc`), or
3. it carries at least 2f+1 signatures, sorted by validator id with no repeats, each by a
   genesis validator, each a valid Ed25519 signature over `crypto.vote_bytes(vote_data)`.

A TC is valid when its chain id is ours, its round is > 0, rule 3 holds for its signatures over
`crypto.timeout_bytes(chain_id, round, high_qc_round)`, its `high_qc` is a valid QC whose round
is the maximum of the signers' `high_qc_round`, and that round is below the TC's round.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from cybermesh.consensus.crypto import Verify, genesis_qc, timeout_bytes, vote_bytes
from cybermesh.consensus.errors import InvalidCertificate
from cybermesh.genesis import Genesis
from cybermesh.proto.v1 import block_pb2, consensus_pb2


@dataclass(frozen=True)
class ValidatorSet:
    """Validator ids (sorted), their consensus keys, and the quorum 2f+1."""

    chain_id: str
    ids: tuple[str, ...]
    keys: dict[str, bytes] = field(compare=False)
    quorum: int

    @classmethod
    def from_genesis(cls, genesis: Genesis) -> ValidatorSet:
        ids = tuple(sorted(v.id for v in genesis.validators))
        keys = {v.id: v.consensus_pubkey for v in genesis.validators}
        return cls(chain_id=genesis.chain_id, ids=ids, keys=keys, quorum=genesis.quorum)

    @property
    def f(self) -> int:
        return (len(self.ids) - 1) // 3

    def leader(self, round_: int) -> str:
        """Round-robin leader: `ids[round % n]`."""
        return self.ids[round_ % len(self.ids)]

    def check_signers(self, kind: str, round_: int, signers: Sequence[str]) -> None:
        """Rule 3 without the signatures: enough distinct, sorted members."""
        if len(signers) < self.quorum:
            raise InvalidCertificate(kind, round_, f"3: {len(signers)} signatures < quorum {self.quorum}")
        for prev, cur in itertools.pairwise(signers):
            if not prev < cur:
                raise InvalidCertificate(kind, round_, f"3: signers not sorted/distinct at {cur!r}")
        for signer in signers:
            if signer not in self.keys:
                raise InvalidCertificate(kind, round_, f"3: {signer!r} is not a validator")

    def check_qc(self, qc: block_pb2.QuorumCert, verify: Verify) -> None:
        """Rules 1-3 for a QC; raise InvalidCertificate."""
        vd = qc.vote_data
        if vd.chain_id != self.chain_id:
            raise InvalidCertificate("qc", vd.round, f"1: chain id {vd.chain_id!r}")
        if vd.round == 0:
            if qc != genesis_qc(self.chain_id):
                raise InvalidCertificate("qc", 0, "2: round 0 but not the genesis QC")
            return
        if vd.round <= vd.parent_round or vd.height == 0:
            raise InvalidCertificate("qc", vd.round, f"parent_round {vd.parent_round}, height {vd.height}")
        self.check_signers("qc", vd.round, [s.validator_id for s in qc.signatures])
        message = vote_bytes(vd)
        for s in qc.signatures:
            if not verify(self.keys[s.validator_id], message, s.signature):
                raise InvalidCertificate("qc", vd.round, f"3: bad signature of {s.validator_id!r}")

    def check_tc(self, tc: consensus_pb2.TimeoutCert, verify: Verify) -> None:
        """The TC rules of the module docstring; raise InvalidCertificate."""
        if tc.chain_id != self.chain_id:
            raise InvalidCertificate("tc", tc.round, f"1: chain id {tc.chain_id!r}")
        if tc.round == 0:
            raise InvalidCertificate("tc", 0, "round 0")
        self.check_signers("tc", tc.round, [s.validator_id for s in tc.signatures])
        highest = max(s.high_qc_round for s in tc.signatures)
        if not tc.HasField("high_qc") or tc.high_qc.vote_data.round != highest or highest >= tc.round:
            raise InvalidCertificate("tc", tc.round, f"high_qc round is not the signers' max {highest}")
        self.check_qc(tc.high_qc, verify)
        for s in tc.signatures:
            message = timeout_bytes(self.chain_id, tc.round, s.high_qc_round)
            if not verify(self.keys[s.validator_id], message, s.signature):
                raise InvalidCertificate("tc", tc.round, f"3: bad signature of {s.validator_id!r}")
