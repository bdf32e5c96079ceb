"""One consensus replica: an event-driven state machine (DESIGN §5, docs/CONSENSUS.md).

Driver contract (an asyncio adapter, or the simulator):

- `start(now_ms)` once, then `on_message(sender, msg, now_ms)` for every received
  ConsensusMessage (sender = the validator id the transport authenticated) and
  `on_timer(round, now_ms)` when a requested Timer is due. Each returns `Outputs`.
- Deliver `Outputs.send` (to one peer) and `Outputs.broadcast` (to every other validator);
  a replica never sends to itself. Arm `Outputs.timers`: only the last one matters (a later
  timer supersedes the earlier ones; stale timers are ignored anyway).
- Append `Outputs.commits` (ledger.blocks.v1 records) to the durable ledger, in order.
- The safety storage is written synchronously inside these calls, before any vote or timeout
  exists outside the replica: the driver may release the outputs as soon as the call returns.
  A crash at any point loses nothing that matters for safety.
- So is the `VotedBlocks` port (cybermesh/consensus/voted.py): the proposal of every block the
  replica votes for, stored before the vote is signed, so that a network whose validators all
  restart still has the blocks its QCs certify (liveness).

Round structure: the leader of round r (`ValidatorSet.leader`) proposes a block extending its
highest QC (with the TC of r-1 if r-1 timed out) as soon as it holds the certificate of r-1;
replicas vote (safety rules) and send the vote to the leader of r+1, whose 2f+1 votes form
the QC of r that starts r+1. On a local timeout a replica broadcasts a Timeout with its high
QC; 2f+1 timeouts form a TC that starts r+1; f+1 timeouts of the current round make a replica
time out at once. The 2-chain rule (`safety.committed_by`) commits.

Proposal pacing (`empty_block_delay_ms` = d > 0; d = 0 proposes at once, as the simulator does):
P1. A leader holding the certificate of r-1 builds its block at once. It proposes it at once when
    the block carries transactions, or when its parent or grandparent does (those blocks need two
    more certified rounds to commit: pacing must never delay a commit).
P2. Otherwise (an empty block on an idle chain) it holds the proposal until `entered(r) + d`,
    and the driver calls `tick(now_ms)` (every few ms, see `wants_tick`) so that transactions
    arriving meanwhile are proposed at once (P1). d must stay well below the round timeout.
"""

from __future__ import annotations

from collections.abc import Sequence

import nacl.signing

from cybermesh.consensus.collect import TimeoutCollector, VoteCollector
from cybermesh.consensus.crypto import (
    GENESIS_HASH,
    SCHEMA_VERSION,
    CachingVerifier,
    Verify,
    block_hash,
    genesis_header,
    genesis_qc,
    proposal_bytes,
    timeout_bytes,
    vote_bytes,
    well_formed,
)
from cybermesh.consensus.errors import ConsensusError, InvalidMessage
from cybermesh.consensus.messages import wrap
from cybermesh.consensus.outputs import Outputs, _Step
from cybermesh.consensus.pacemaker import Pacemaker, PacemakerConfig, Timer
from cybermesh.consensus.payload import EmptyPayload, Payload
from cybermesh.consensus.safety import SafetyRules, committed_by
from cybermesh.consensus.safety_data import SafetyStorage
from cybermesh.consensus.sync import Syncer, certified, serve
from cybermesh.consensus.tree import BlockTree
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.consensus.voted import MemoryVotedBlocks, VotedBlocks
from cybermesh.genesis import Genesis
from cybermesh.proto.v1 import block_pb2, consensus_pb2

#: Votes and timeouts further than this many rounds ahead are dropped (memory bound).
ROUND_WINDOW = 1000
#: Voted proposals are kept this many heights below the committed height (voted.py rule 3).
VOTED_MARGIN = 64

Msg = consensus_pb2.ConsensusMessage

__all__ = ["Outputs", "Replica", "Timer"]


class Replica:
    """See the module docstring. `ledger` (the committed blocks, oldest first), the safety
    storage and the voted proposals (`voted`) are all a restarted replica needs; everything
    else is rebuilt by sync."""

    def __init__(self, genesis: Genesis, author: str, key: nacl.signing.SigningKey,
                 storage: SafetyStorage, *, payload: Payload | None = None,
                 pacemaker: PacemakerConfig | None = None, verify: Verify | None = None,
                 ledger: Sequence[block_pb2.CommittedBlock] = (), sync_batch: int = 64,
                 keep_committed: int = 10_000, empty_block_delay_ms: int = 0,
                 safety_rules: type[SafetyRules] = SafetyRules,
                 voted: VotedBlocks | None = None) -> None:
        self.validators = ValidatorSet.from_genesis(genesis)
        self.me = author
        self.chain_id = genesis.chain_id
        self._verify: Verify = verify if verify is not None else CachingVerifier()
        self.safety = safety_rules(self.validators, author, key, storage, self._verify)
        self._payload: Payload = payload if payload is not None else EmptyPayload()
        self._keep = keep_committed
        self.ledger: list[block_pb2.CommittedBlock] = list(ledger)[-keep_committed:]
        """The most recent committed blocks (at most `keep_committed`), oldest first: what this
        replica serves to syncing peers. The durable ledger is the driver's."""
        self._ledger_index = {block_hash(c.block.header): c for c in self.ledger}
        if self.ledger:
            last = self.ledger[-1]
            self.tree = BlockTree(last.block.header, block_hash(last.block.header), last.qc)
        else:
            self.tree = BlockTree(genesis_header(genesis.chain_id, genesis.genesis_time),
                                  GENESIS_HASH, genesis_qc(genesis.chain_id))
        root_qc = self.tree.qc(self.tree.root_hash)
        assert root_qc is not None
        self.high_qc: block_pb2.QuorumCert = root_qc
        self.last_tc: consensus_pb2.TimeoutCert | None = None
        self._voted: VotedBlocks = voted if voted is not None else MemoryVotedBlocks()
        # voted.py rule 2: the voted blocks above the root that connect to it, parents first.
        for p in sorted(self._voted.load(), key=lambda p: p.block.header.height):
            if p.block.header.height > self.tree.root.height:
                self.tree.certify(p.high_qc)
                self.tree.add(p.block)
        data = self.safety.data
        if data.high_qc is not None:
            self.tree.certify(data.high_qc)
            if data.high_qc.vote_data.round > root_qc.vote_data.round:
                self.high_qc = data.high_qc
        if data.last_timeout is not None and data.last_timeout.HasField("last_tc"):
            self.last_tc = data.last_timeout.last_tc
        start = self.high_qc.vote_data.round + 1
        if self.last_tc is not None:
            start = max(start, self.last_tc.round + 1)
        self.pacemaker = Pacemaker(pacemaker or PacemakerConfig(), max(start, 1))
        self._votes = VoteCollector(self.validators.quorum)
        self._timeouts = TimeoutCollector(self.validators.quorum)
        self._sync = Syncer(author, self.validators.ids, sync_batch)
        self._pending: dict[bytes, tuple[str, consensus_pb2.Proposal]] = {}
        self._awaiting: dict[bytes, block_pb2.QuorumCert] = {}
        """QCs of blocks not (yet) in the tree, by block hash."""
        self._proposed_round = 0
        self._timed_out_round = 0
        self._empty_delay = empty_block_delay_ms
        self._entered_ms = 0
        """When this replica entered its current round (pacing rule P2)."""
        self._held_round = 0
        """The round whose (empty) proposal is held back (P2); 0 = none."""

    # ----------------------------------------------------------------- driver-facing API

    @property
    def round(self) -> int:
        return self.pacemaker.round

    @property
    def committed_height(self) -> int:
        return int(self.tree.root.height)

    @property
    def heard_of_height(self) -> int:
        """The highest certified height this replica has heard of (never below its committed
        height): its high QC, the last TC's QC, the QCs awaiting blocks it lacks, and the
        certified orphans fetched by sync. A value well above `committed_height` that stays
        there means sync cannot close the gap (the node's rejoin watchdog reads it)."""
        heights = [self.committed_height, int(self.high_qc.vote_data.height)]
        if self.last_tc is not None:
            heights.append(int(self.last_tc.high_qc.vote_data.height))
        heights.extend(int(q.vote_data.height) for q in self._awaiting.values())
        heights.extend(int(c.block.header.height) for c in self._sync.orphans.values())
        return max(heights)

    def block(self, hash_: bytes) -> block_pb2.Block | None:
        """A block of the tree or of the committed window (the payload's ancestor lookup)."""
        found = self.tree.block(hash_)
        if found is None and hash_ in self._ledger_index:
            found = self._ledger_index[hash_].block
        return found

    @property
    def wants_tick(self) -> bool:
        """A proposal is held back (pacing rule P2): the driver should call `tick` soon."""
        return self._held_round == self.pacemaker.round and self._proposed_round < self._held_round

    def tick(self, now_ms: int) -> Outputs:
        """Re-try a held-back proposal (pacing rules P1-P2); a no-op otherwise."""
        step = _Step()
        if self.wants_tick:
            self._maybe_propose(step, now_ms)
        return step.freeze()

    def start(self, now_ms: int) -> Outputs:
        """Arm the first timer; propose if this replica leads the first round."""
        step = _Step()
        self._entered_ms = now_ms
        step.timers.append(self.pacemaker.rearm(self.high_qc.vote_data.round, now_ms))
        self._maybe_propose(step, now_ms)
        return step.freeze()

    def on_message(self, sender: str, msg: Msg, now_ms: int) -> Outputs:
        """Handle one received message; invalid input is refused (see Outputs.rejected)."""
        step = _Step()
        try:
            kind = msg.WhichOneof("body")
            if kind == "proposal":
                self._on_proposal(sender, msg.proposal, step, now_ms)
            elif kind == "vote":
                self._on_vote(msg.vote, step, now_ms)
            elif kind == "timeout":
                self._on_timeout(sender, msg.timeout, step, now_ms)
            elif kind == "sync_request":
                self._on_sync_request(sender, msg.sync_request, step)
            elif kind == "sync_response":
                self._on_sync_response(sender, msg.sync_response, step, now_ms)
            else:
                raise InvalidMessage("message", 0, "empty envelope")
        except ConsensusError as exc:
            step.rejected.append(exc.reason)
        return step.freeze()

    def on_timer(self, round_: int, now_ms: int) -> Outputs:
        """The timer of `round_` is due: time out (pacemaker rule 4), retry syncs."""
        step = _Step()
        if round_ != self.pacemaker.round:
            return step.freeze()
        self._local_timeout(step, now_ms)
        step.timers.append(self.pacemaker.rearm(self.high_qc.vote_data.round, now_ms))
        for peer, req in self._sync.retries(self.chain_id):
            step.send.append((peer, wrap(req)))
        return step.freeze()

    # ----------------------------------------------------------------- certificates, rounds

    def _observe_qc(self, qc: block_pb2.QuorumCert, source: str, step: _Step, now: int) -> None:
        """A verified QC: raise high_qc, record it, commit (2-chain rule), advance the round."""
        vd = qc.vote_data
        if vd.round > self.high_qc.vote_data.round:
            self.high_qc = qc
        hash_ = bytes(vd.block_hash)
        if not self.tree.certify(qc) and hash_ not in self._ledger_index \
                and vd.height > self.tree.root.height:
            self._awaiting.setdefault(hash_, qc)
            self._request(hash_, source, step)
        target = committed_by(qc)
        if target is not None and vd.height - 1 > self.tree.root.height:
            self._commit(target, qc, source, step)
        timer = self.pacemaker.advance(vd.round, self.high_qc.vote_data.round, now)
        if timer is not None:
            self._enter_round(timer, step, now)

    def _observe_tc(self, tc: consensus_pb2.TimeoutCert, source: str, step: _Step,
                    now: int) -> None:
        if self.last_tc is None or tc.round > self.last_tc.round:
            self.last_tc = tc
        self._observe_qc(tc.high_qc, source, step, now)
        timer = self.pacemaker.advance(tc.round, self.high_qc.vote_data.round, now)
        if timer is not None:
            self._enter_round(timer, step, now)

    def _enter_round(self, timer: Timer, step: _Step, now: int) -> None:
        self._entered_ms = now
        step.timers.append(timer)
        self._votes.prune(timer.round - 1)
        self._timeouts.prune(timer.round)
        self._pending = {h: p for h, p in self._pending.items()
                         if p[1].block.header.round >= timer.round}
        self._maybe_propose(step, now)

    def _commit(self, target: bytes, commit_qc: block_pb2.QuorumCert, source: str,
                step: _Step) -> None:
        chain = self.tree.path(target)
        qcs = [] if chain is None else [self.tree.qc(block_hash(b.header)) for b in chain]
        if chain is None or any(qc is None for qc in qcs):
            self._request(bytes(commit_qc.vote_data.block_hash), source, step)
            return
        for block, qc in zip(chain, qcs, strict=True):
            assert qc is not None
            record = block_pb2.CommittedBlock(
                schema_version=SCHEMA_VERSION, block=block, qc=qc, commit_qc=commit_qc)
            self._ledger_index[block_hash(block.header)] = record
            self.ledger.append(record)
            step.commits.append(record)
        self.tree.commit(target)
        self._voted.prune(self.tree.root.height - VOTED_MARGIN)  # voted.py rule 3
        if len(self.ledger) > self._keep + self._keep // 10:
            for old in self.ledger[: len(self.ledger) - self._keep]:
                del self._ledger_index[block_hash(old.block.header)]
            del self.ledger[: len(self.ledger) - self._keep]
        self._sync.prune(self.tree.root.height)
        root_height = self.tree.root.height
        self._awaiting = {h: q for h, q in self._awaiting.items()
                          if q.vote_data.height > root_height}
        for hash_ in [h for h in self._sync.inflight if h in self._ledger_index]:
            self._sync.done(hash_)

    def _insert(self, block: block_pb2.Block, source: str, step: _Step, now: int) -> None:
        """Add a block whose parent is in the tree; apply a QC that was waiting for it."""
        hash_ = self.tree.add(block)
        if hash_ is None:
            return
        self._sync.done(hash_)
        self._sync.orphans.pop(hash_, None)
        qc = self._awaiting.pop(hash_, None)
        if qc is not None:
            self._observe_qc(qc, source, step, now)
        pending = self._pending.pop(hash_, None)
        if pending is not None:
            self._vote_on(pending[0], pending[1], step, now)

    def _request(self, hash_: bytes, peer: str, step: _Step) -> None:
        req = self._sync.request(hash_, peer, self.chain_id)
        if req is not None:
            step.send.append((req[0], wrap(req[1])))

    # ----------------------------------------------------------------- proposals

    def _maybe_propose(self, step: _Step, now: int) -> None:
        r = self.pacemaker.round
        if self.validators.leader(r) != self.me or self._proposed_round >= r:
            return
        qc = self.high_qc
        parent = self.tree.header(bytes(qc.vote_data.block_hash))
        if parent is None:
            # NOTE: retried when the parent arrives (_on_sync_response) or never, if r ends.
            self._request(bytes(qc.vote_data.block_hash), self.validators.leader(qc.vote_data.round), step)
            return
        tc = self.last_tc if qc.vote_data.round + 1 != r else None
        if tc is not None and tc.round + 1 != r:
            return
        template = block_pb2.BlockHeader(
            schema_version=SCHEMA_VERSION, chain_id=self.chain_id, height=parent.height + 1,
            round=r, parent_hash=qc.vote_data.block_hash, proposer=self.me,
            timestamp=max(now, parent.timestamp + 1),
        )
        block = self._payload.build(template, parent)
        h = block.header
        if (h.chain_id, h.height, h.round, h.parent_hash, h.proposer) != (
                template.chain_id, template.height, r, template.parent_hash, self.me) \
                or h.timestamp <= parent.timestamp:
            step.rejected.append("invalid_payload")
            return
        if self._hold(block, parent, now):
            self._held_round = r
            return
        self._held_round = 0
        try:
            signature = self.safety.sign_proposal(block, qc, tc)
        except ConsensusError as exc:
            step.rejected.append(exc.reason)
            return
        proposal = consensus_pb2.Proposal(
            schema_version=SCHEMA_VERSION, block=block, high_qc=qc, signature=signature)
        if tc is not None:
            proposal.tc.CopyFrom(tc)
        self._proposed_round = r
        step.broadcast.append(wrap(proposal))
        self._vote_on(self.me, proposal, step, now)  # persists before anything is released

    def _hold(self, block: block_pb2.Block, parent: block_pb2.BlockHeader, now: int) -> bool:
        """Pacing rule P2: hold back an empty block on an idle chain until entered + delay."""
        if self._empty_delay <= 0 or now >= self._entered_ms + self._empty_delay:
            return False
        if block.header.tx_count > 0 or parent.tx_count > 0:
            return False
        grandparent = self.tree.header(bytes(parent.parent_hash))
        if grandparent is None:
            found = self._ledger_index.get(bytes(parent.parent_hash))
            grandparent = found.block.header if found is not None else None
        return grandparent is None or grandparent.tx_count == 0

    def _on_proposal(self, sender: str, p: consensus_pb2.Proposal, step: _Step, now: int) -> None:
        h = p.block.header
        r = h.round
        if h.chain_id != self.chain_id or h.proposer != self.validators.leader(r):
            raise InvalidMessage("proposal", r, f"proposer {h.proposer!r} is not the leader")
        if not well_formed(h):
            raise InvalidMessage("proposal", r, "header hashes are not 32 bytes")
        message = proposal_bytes(self.chain_id, r, block_hash(h))
        if not self._verify(self.validators.keys[h.proposer], message, p.signature):
            raise InvalidMessage("proposal", r, "bad proposer signature")
        qc = p.high_qc
        self.validators.check_qc(qc, self._verify)
        tc = p.tc if p.HasField("tc") else None
        if tc is not None:
            self.validators.check_tc(tc, self._verify)
        vd = qc.vote_data
        if h.parent_hash != vd.block_hash or h.height != vd.height + 1 or r <= vd.round:
            raise InvalidMessage("proposal", r, "high_qc does not certify the parent")
        self._observe_qc(qc, sender, step, now)
        if tc is not None:
            self._observe_tc(tc, sender, step, now)
        self._vote_on(sender, p, step, now)

    def _vote_on(self, sender: str, p: consensus_pb2.Proposal, step: _Step, now: int) -> None:
        """Insert a proposed block whose parent is known (any round: a later QC may certify
        it); vote for it if it belongs to the current round."""
        h = p.block.header
        if h.height <= self.tree.root.height:
            return
        parent = self.tree.header(bytes(h.parent_hash))
        if parent is None:
            if h.round == self.pacemaker.round and h.height > self.tree.root.height + 1:
                self._pending[bytes(h.parent_hash)] = (sender, p)
                self._request(bytes(h.parent_hash), sender, step)
            return
        if h.timestamp <= parent.timestamp or not self._payload.verify(p.block, parent):
            raise InvalidMessage("proposal", h.round, "invalid payload or timestamp")
        self._insert(p.block, sender, step, now)
        if h.round != self.pacemaker.round:
            self._maybe_propose(step, now)
            return
        vote = self.safety.vote(p.block, p.high_qc, p.tc if p.HasField("tc") else None,
                                before_save=lambda: self._voted.put(p))  # voted.py rule 1
        leader = self.validators.leader(h.round + 1)
        if leader == self.me:
            self._on_vote(vote, step, now)
        else:
            step.send.append((leader, wrap(vote)))

    # ----------------------------------------------------------------- votes, timeouts

    def _on_vote(self, vote: consensus_pb2.Vote, step: _Step, now: int) -> None:
        vd = vote.vote_data
        r = vd.round
        if vd.chain_id != self.chain_id or vote.author not in self.validators.keys:
            raise InvalidMessage("vote", r, f"author {vote.author!r} / chain {vd.chain_id!r}")
        if self.validators.leader(r + 1) != self.me or r + 1 < self.pacemaker.round \
                or r > self.pacemaker.round + ROUND_WINDOW:
            return
        if not self._verify(self.validators.keys[vote.author], vote_bytes(vd), vote.signature):
            raise InvalidMessage("vote", r, f"bad signature of {vote.author!r}")
        qc, double = self._votes.add(vote)
        if double:
            step.rejected.append("double_vote")
        if qc is not None:
            self._observe_qc(qc, self.validators.leader(r), step, now)

    def _local_timeout(self, step: _Step, now: int) -> None:
        r = self.pacemaker.round
        tc = self.last_tc if self.last_tc is not None and self.last_tc.round + 1 == r else None
        try:
            timeout = self.safety.timeout(r, self.high_qc, tc)
        except ConsensusError as exc:
            step.rejected.append(exc.reason)
            return
        self._timed_out_round = r
        step.broadcast.append(wrap(timeout))
        self._count_timeout(timeout, self.me, step, now)

    def _on_timeout(self, sender: str, t: consensus_pb2.Timeout, step: _Step, now: int) -> None:
        if t.chain_id != self.chain_id or t.author not in self.validators.keys:
            raise InvalidMessage("timeout", t.round, f"author {t.author!r} / chain {t.chain_id!r}")
        qc_round = t.high_qc.vote_data.round
        if qc_round >= t.round:
            raise InvalidMessage("timeout", t.round, f"high_qc round {qc_round} >= round")
        message = timeout_bytes(self.chain_id, t.round, qc_round)
        if not self._verify(self.validators.keys[t.author], message, t.signature):
            raise InvalidMessage("timeout", t.round, f"bad signature of {t.author!r}")
        self.validators.check_qc(t.high_qc, self._verify)
        self._observe_qc(t.high_qc, sender, step, now)
        if t.HasField("last_tc"):
            self.validators.check_tc(t.last_tc, self._verify)
            self._observe_tc(t.last_tc, sender, step, now)
        self._count_timeout(t, sender, step, now)

    def _count_timeout(self, t: consensus_pb2.Timeout, sender: str, step: _Step, now: int) -> None:
        r = self.pacemaker.round
        if t.round < r or t.round > r + ROUND_WINDOW:
            return
        tc = self._timeouts.add(t)
        if tc is not None:
            self._observe_tc(tc, sender, step, now)
        elif t.round == r and self._timed_out_round < r \
                and self._timeouts.count(r) >= self.validators.f + 1:
            self._local_timeout(step, now)

    # ----------------------------------------------------------------- sync

    def _on_sync_request(self, sender: str, req: consensus_pb2.SyncRequest, step: _Step) -> None:
        if req.chain_id != self.chain_id:
            raise InvalidMessage("sync_request", 0, f"chain {req.chain_id!r}")
        resp = serve(self.tree, self._ledger_index, bytes(req.block_hash),
                     min(req.count, self._sync.batch))
        resp.high_qc.CopyFrom(self.high_qc)
        if self.last_tc is not None:
            resp.last_tc.CopyFrom(self.last_tc)
        step.send.append((sender, wrap(resp)))

    def _on_sync_response(self, sender: str, resp: consensus_pb2.SyncResponse, step: _Step,
                          now: int) -> None:
        if resp.chain_id != self.chain_id:
            raise InvalidMessage("sync_response", 0, f"chain {resp.chain_id!r}")
        known: list[block_pb2.QuorumCert] = []
        for cb in resp.blocks:
            if cb.block.header.chain_id != self.chain_id or not well_formed(cb.block.header):
                raise InvalidMessage("sync_response", 0, "malformed block or another chain")
            hash_ = block_hash(cb.block.header)
            if hash_ in self._ledger_index or (
                    not cb.HasField("qc") and hash_ not in self._awaiting):
                continue  # committed already, or uncertified and not asked for by a QC we hold
            if not cb.HasField("qc"):
                cb = certified(cb.block, self._awaiting[hash_])
            if cb.qc.vote_data.block_hash != hash_:
                raise InvalidMessage("sync_response", 0, "qc does not certify the block")
            self.validators.check_qc(cb.qc, self._verify)
            if hash_ in self.tree:
                known.append(cb.qc)
            else:
                self._sync.add_orphan(hash_, cb)
        for qc in sorted(known, key=lambda q: q.vote_data.height):
            self._observe_qc(qc, sender, step, now)
        self._drain_orphans(sender, step, now)
        if resp.HasField("high_qc"):
            self.validators.check_qc(resp.high_qc, self._verify)
            self._observe_qc(resp.high_qc, sender, step, now)
        if resp.HasField("last_tc"):
            self.validators.check_tc(resp.last_tc, self._verify)
            self._observe_tc(resp.last_tc, sender, step, now)
        self._maybe_propose(step, now)

    def _drain_orphans(self, sender: str, step: _Step, now: int) -> None:
        """Connect orphans to the tree, oldest first; ask for the parent of the oldest rest."""
        progress = True
        while progress:
            progress = False
            self._sync.prune(self.tree.root.height)
            for hash_, cb in sorted(self._sync.orphans.items(),
                                    key=lambda kv: (kv[1].block.header.height, kv[0])):
                if hash_ not in self._sync.orphans or self.tree.header(
                        bytes(cb.block.header.parent_hash)) is None:
                    continue
                self._awaiting.setdefault(hash_, cb.qc)
                self._insert(cb.block, sender, step, now)
                progress = True
        if self._sync.orphans:
            oldest = min(self._sync.orphans.values(), key=lambda c: c.block.header.height)
            parent = bytes(oldest.block.header.parent_hash)
            if parent not in self.tree and oldest.block.header.height > self.tree.root.height + 1:
                self._request(parent, sender, step)
