"""Run one scenario on a seeded, deterministic simulated network.

Invariants 1-3 are checked after every step, 4 along the run and at the end, 5 at the end (each
violation is a string in `Result.violations`):

1. agreement: no two honest replicas commit different blocks at the same height;
2. prefix: each honest replica commits heights 1, 2, 3, ... in order, each block's parent
   being the block it committed just before (so committed chains are prefixes of each other);
3. no equivocation: an honest validator (even after crash-restart) never signs two different
   votes, or two different proposals, for one round;
4. liveness: after GST every honest replica commits `liveness_blocks` blocks beyond the highest
   height committed at GST, within `rounds_bound(n)` rounds of the highest round at GST;
5. ledger: the honest replicas' committed records, interleaved as the validators would publish
   them to ledger.blocks.v1, pass the `LedgerReader` (docs/LEDGER.md) and release every height
   any of them committed (copies of a height may carry different certificates).

Honest = neither Byzantine nor a Twin. Crashed replicas lose everything but their safety
storage, their voted proposals and their ledger of committed blocks.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from cybermesh.consensus import Replica
from cybermesh.consensus.crypto import CachingVerifier, Verify, block_hash
from cybermesh.consensus.pacemaker import PacemakerConfig
from cybermesh.consensus.safety import SafetyRules
from cybermesh.consensus.safety_data import MemorySafetyStorage
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.consensus.voted import MemoryVotedBlocks
from cybermesh.ledger.reader import LedgerError, LedgerReader, height_key
from cybermesh.proto.v1 import block_pb2, consensus_pb2
from cybermesh.sim.byzantine import Adversary, Send
from cybermesh.sim.keys import signing_key, sim_genesis
from cybermesh.sim.scenario import Scenario
from cybermesh.wire.strict import decode_strict, encode

Msg = consensus_pb2.ConsensusMessage
#: Shared across runs in a process: verification of identical (key, msg, sig) triples is cached.
VERIFIER = CachingVerifier(size=50_000)


def rounds_bound(n: int) -> int:
    """Invariant 4's bound on rounds after GST (see docs/CONSENSUS.md, liveness)."""
    return 3 * n + 12


@dataclass
class Instance:
    name: str
    author: str
    storage: MemorySafetyStorage = field(default_factory=MemorySafetyStorage)
    voted: MemoryVotedBlocks = field(default_factory=MemoryVotedBlocks)
    ledger: list[block_pb2.CommittedBlock] = field(default_factory=list)
    replica: Replica | None = None
    adversary: Adversary | None = None
    timer_gen: int = 0
    crash_at: int | None = None
    honest: bool = True


@dataclass
class Result:
    scenario: Scenario
    violations: list[str] = field(default_factory=list)
    heights: dict[str, int] = field(default_factory=dict)
    max_round: int = 0
    steps: int = 0
    messages: int = 0
    commits: int = 0
    crash_drops: int = 0
    """Steps whose outputs were lost because the replica was killed after persisting."""
    rounds_to_live: int = -1
    """Rounds from GST until invariant 4 held (-1: never)."""
    proof_variants: int = 0
    """Copies of a committed height whose qc or commit_qc differ from the first copy's."""
    commit_log: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    """(time ms, height, block round, committer's round, proposal time ms) of the first
    commit of each height (benchmarks)."""

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> dict[str, Any]:
        return {"name": self.scenario.name, "seed": self.scenario.seed, "n": self.scenario.n,
                "ok": self.ok, "violations": self.violations[:5], "heights": self.heights,
                "max_round": self.max_round, "steps": self.steps,
                "rounds_to_live": self.rounds_to_live}


class Simulation:
    def __init__(self, sc: Scenario, safety_rules: type[SafetyRules] = SafetyRules,
                 on_step: Callable[[Simulation], None] | None = None,
                 verifier: Callable[[str], Verify] | None = None,
                 key: Callable[[str], nacl.signing.SigningKey] = signing_key) -> None:
        self.sc = sc
        self.rng = random.Random(sc.seed)
        self.genesis = sim_genesis(sc.n)
        self.epoch = self.genesis.genesis_time
        """Replicas see `epoch + now` (ms since the Unix epoch); sim time starts at genesis."""
        self.vs = ValidatorSet.from_genesis(self.genesis)
        self.safety_rules = safety_rules
        self.on_step = on_step
        self._verifier = verifier or (lambda _name: VERIFIER)
        self._key = key
        self.full = False
        """Run until duration_ms even after invariant 4 held (benchmarks); default: stop."""
        self.result = Result(sc)
        self.now = 0
        self._seq = 0
        self._heap: list[tuple[int, int, str, Any]] = []
        byz = dict(sc.byzantine)
        self.instances: dict[str, Instance] = {}
        for name in sc.instances:
            author = name.split("#")[0]
            inst = Instance(name, author, honest=author not in byz and author not in sc.twins)
            if author in byz:
                inst.adversary = Adversary(author, byz[author], signing_key(author), self.vs,
                                           random.Random(self.rng.random()))
            self.instances[name] = inst
        self._by_author: dict[str, list[Instance]] = {}
        for inst in self.instances.values():
            self._by_author.setdefault(inst.author, []).append(inst)
        self._chain: dict[int, bytes] = {}
        self._signed: dict[tuple[str, str, int], bytes] = {}
        self._gst_height: int | None = None
        self._gst_round = 0
        for c in sc.crashes:
            self._push(c.at_ms, "crash", c.node)
            self._push(c.restart_ms, "restart", c.node)
        self._push(sc.gst_ms, "gst", None)

    # ------------------------------------------------------------------ plumbing

    def _push(self, at: int, kind: str, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, data))

    def _boot(self, inst: Instance) -> None:
        inst.replica = Replica(
            self.genesis, inst.author, self._key(inst.author), inst.storage,
            pacemaker=PacemakerConfig(self.sc.base_timeout_ms, self.sc.max_timeout_ms),
            verify=self._verifier(inst.name), ledger=inst.ledger, safety_rules=self.safety_rules,
            voted=inst.voted)
        self._apply(inst, inst.replica.start(self.epoch + self.now), None)

    def run(self) -> Result:
        for inst in self.instances.values():
            self._boot(inst)
        while self._heap and self.result.ok and (self.result.rounds_to_live < 0 or self.full):
            at, _, kind, data = heapq.heappop(self._heap)
            if at > self.sc.duration_ms:
                break
            self.now = at
            self._event(kind, data)
        self._finish()
        return self.result

    def _event(self, kind: str, data: Any) -> None:
        if kind == "msg":
            name, sender, msg = data
            inst = self.instances[name]
            if inst.replica is None:
                return
            if isinstance(msg, bytes):
                msg = decode_strict(Msg, msg)
            extra = inst.adversary.observe(msg) if inst.adversary else []
            self._apply(inst, inst.replica.on_message(sender, msg, self.epoch + self.now), None, extra)
        elif kind == "timer":
            name, round_, gen = data
            inst = self.instances[name]
            if inst.replica is not None and gen == inst.timer_gen:
                self._apply(inst, inst.replica.on_timer(round_, self.epoch + self.now), None)
        elif kind == "crash":
            self.instances[data].crash_at = self.now
        elif kind == "restart":
            inst = self.instances[data]
            inst.crash_at = None
            if inst.replica is None:
                self._boot(inst)
        elif kind == "gst":
            self._gst_height = max((len(i.ledger) for i in self._honest()), default=0)
            self._gst_round = max((i.replica.round for i in self._honest() if i.replica), default=0)

    def _honest(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.honest]

    # ------------------------------------------------------------------ one step's outputs

    def _apply(self, inst: Instance, out: Any, _unused: None, extra: list[Send] | None = None) -> None:
        self.result.steps += 1
        if inst.crash_at is not None:
            inst.replica = None  # killed after persisting, before sending: outputs are lost
            self.result.crash_drops += 1
            return
        for record in out.commits:
            self._commit(inst, record)
        sends: list[Send] = [(None, m) for m in out.broadcast] + list(out.send)
        if inst.adversary is not None:
            sends = inst.adversary.rewrite(sends) + (extra or [])
        for dest, msg in sends:
            if inst.honest:
                self._check_signed(inst, msg)
            self._send(inst, dest, msg)
        if out.timers:
            inst.timer_gen += 1
            t = out.timers[-1]
            self._push(max(t.at_ms - self.epoch, self.now), "timer", (inst.name, t.round, inst.timer_gen))
        if self.on_step is not None:
            self.on_step(self)
        if inst.replica is not None:
            self.result.max_round = max(self.result.max_round, inst.replica.round)
        self._check_liveness()

    def _commit(self, inst: Instance, record: block_pb2.CommittedBlock) -> None:
        h = record.block.header
        hash_ = block_hash(h)
        inst.ledger.append(record)
        if not inst.honest:
            return
        self.result.commits += 1
        prev = inst.ledger[-2] if len(inst.ledger) > 1 else None
        expected_parent = block_hash(prev.block.header) if prev else bytes(32)
        if h.height != len(inst.ledger) or h.parent_hash != expected_parent:
            self._violate(f"prefix: {inst.name} committed height {h.height} "
                          f"(expected {len(inst.ledger)}) or a block not on its chain")
        known = self._chain.setdefault(h.height, hash_)
        if known == hash_ and len(self.result.commit_log) < h.height:
            now_round = inst.replica.round if inst.replica is not None else h.round
            self.result.commit_log.append(
                (self.now, h.height, h.round, now_round, h.timestamp - self.epoch))
        if known != hash_:
            self._violate(f"agreement: {inst.name} committed {hash_.hex()[:12]} at height "
                          f"{h.height}, another honest replica {known.hex()[:12]}")

    def _check_signed(self, inst: Instance, msg: Msg) -> None:
        kind = msg.WhichOneof("body")
        if kind == "vote":
            key = (inst.author, "vote", msg.vote.vote_data.round)
            value = encode(msg.vote.vote_data)
        elif kind == "proposal":
            key = (inst.author, "proposal", msg.proposal.block.header.round)
            value = block_hash(msg.proposal.block.header)
        else:
            return
        if self._signed.setdefault(key, value) != value:
            self._violate(f"equivocation: honest {inst.author} signed two {kind}s in round {key[2]}")

    def _violate(self, text: str) -> None:
        self.result.violations.append(f"t={self.now}ms {text}")

    def _send(self, src: Instance, dest: str | None, msg: Msg) -> None:
        sc = self.sc
        payload: Msg | bytes = encode(msg) if sc.wire else msg
        targets = [i for i in self.instances.values() if i.author != src.author] if dest is None \
            else self._by_author.get(dest, [])
        for target in targets:
            if target is src:
                continue
            self.result.messages += 1
            before_gst = self.now < sc.gst_ms
            if before_gst and (self.rng.randrange(1000) < sc.drop_pm or self._cut(src.name, target.name)):
                continue
            copies = 2 if before_gst and self.rng.randrange(1000) < sc.dup_pm else 1
            for _ in range(copies):
                delay = self.rng.randint(sc.delay_min_ms, sc.delay_max_ms) if before_gst \
                    else self.rng.randint(sc.delay_min_ms, sc.delay_gst_ms)
                self._push(self.now + delay, "msg", (target.name, src.author, payload))
            if sc.replay_pm and self.rng.randrange(1000) < sc.replay_pm:
                self._push(self.now + self.rng.randint(100, 2000), "msg",
                           (target.name, src.author, payload))

    def _cut(self, a: str, b: str) -> bool:
        for p in self.sc.partitions:
            if p.at_ms <= self.now < p.heal_ms:
                ga = next((i for i, g in enumerate(p.groups) if a in g), -1)
                gb = next((i for i, g in enumerate(p.groups) if b in g), -1)
                if ga != gb:
                    return True
        return False

    # ------------------------------------------------------------------ liveness

    def _check_liveness(self) -> None:
        if self._gst_height is None or self.result.rounds_to_live >= 0:
            return
        goal = self._gst_height + self.sc.liveness_blocks
        if all(len(i.ledger) >= goal for i in self._honest()):
            self.result.rounds_to_live = max(0, self.result.max_round - self._gst_round)

    def _finish(self) -> None:
        r = self.result
        r.heights = {i.name: len(i.ledger) for i in self.instances.values()}
        if not r.ok:
            return
        if r.rounds_to_live < 0:
            self._violate(f"liveness: honest heights {[len(i.ledger) for i in self._honest()]} "
                          f"did not pass {self._gst_height} + {self.sc.liveness_blocks} by the end")
        elif r.rounds_to_live > rounds_bound(self.sc.n):
            self._violate(f"liveness: took {r.rounds_to_live} rounds after GST "
                          f"(bound {rounds_bound(self.sc.n)})")
        self._check_ledger()

    def _check_ledger(self) -> None:
        """Invariant 5: replica k publishes its i-th record in turn i (in order, with lag k)."""
        ledgers = [i.ledger for i in self._honest()]
        top = max(map(len, ledgers), default=0)
        reader = LedgerReader(self.vs, verify=VERIFIER)
        released = 0
        try:
            for turn in range(top + len(ledgers)):
                for k, ledger in enumerate(ledgers):
                    if 0 <= turn - k < len(ledger):
                        record = ledger[turn - k]
                        key = height_key(record.block.header.height)
                        released += len(reader.feed(key, encode(record)))
        except LedgerError as exc:
            self._violate(f"ledger: the published records fail the reader: {exc}")
            return
        self.result.proof_variants = reader.proof_variants
        if released != top:
            self._violate(f"ledger: the reader released {released} of {top} committed heights")


def run(scenario: Scenario, safety_rules: type[SafetyRules] = SafetyRules) -> Result:
    """Run `scenario`; deterministic for a given scenario (seed included)."""
    return Simulation(scenario, safety_rules).run()
