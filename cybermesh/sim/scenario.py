"""Scenarios as data: a JSON object per schedule (tests/sim/scenarios/*.json).

All values are integers or strings; probabilities are per mille. A scenario plus its seed
fixes every random choice of a run, so a failing seed reproduces exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

BEHAVIOURS = ("equivocate", "fork", "double_vote", "unknown_votes", "silent")


@dataclass(frozen=True)
class Partition:
    at_ms: int
    heal_ms: int
    groups: tuple[tuple[str, ...], ...]
    """Node instances (`v1`, or `v1#1` for the second twin) that can talk to each other."""


@dataclass(frozen=True)
class Crash:
    node: str
    at_ms: int
    """The node's first step at or after this time persists but its outputs are lost."""
    restart_ms: int


@dataclass(frozen=True)
class Scenario:
    name: str = "scenario"
    n: int = 4
    seed: int = 0
    duration_ms: int = 4000
    gst_ms: int = 1000
    """Global stabilisation time: after it no drops, no partitions, delays <= delay_gst_ms."""
    delay_min_ms: int = 1
    delay_max_ms: int = 40
    delay_gst_ms: int = 10
    drop_pm: int = 0
    dup_pm: int = 0
    replay_pm: int = 0
    """Per-mille chance that a delivered message is delivered again up to 2 s later."""
    partitions: tuple[Partition, ...] = ()
    crashes: tuple[Crash, ...] = ()
    byzantine: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(validator id, behaviours) pairs."""
    twins: tuple[str, ...] = ()
    """Validators run as two instances sharing one key (`v1` and `v1#1`)."""
    base_timeout_ms: int = 100
    max_timeout_ms: int = 800
    liveness_blocks: int = 2
    """After GST every honest replica must commit this many new blocks before the end."""
    wire: int = 0
    """1: every message is encoded and strictly decoded on delivery."""
    expect: str = "safe"
    """What the scenario demonstrates ("safe"; regression files may say more)."""
    note: str = field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        obj = asdict(self)
        obj["byzantine"] = {k: list(v) for k, v in self.byzantine}
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Scenario:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(obj) - names)
        if unknown:
            raise ValueError(f"scenario: unknown field(s) {unknown}")
        kw = dict(obj)
        kw["partitions"] = tuple(
            Partition(p["at_ms"], p["heal_ms"], tuple(tuple(g) for g in p["groups"]))
            for p in obj.get("partitions", ()))
        kw["crashes"] = tuple(Crash(c["node"], c["at_ms"], c["restart_ms"])
                              for c in obj.get("crashes", ()))
        kw["byzantine"] = tuple(sorted((k, tuple(v)) for k, v in obj.get("byzantine", {}).items()))
        kw["twins"] = tuple(obj.get("twins", ()))
        return cls(**kw)

    @classmethod
    def load(cls, path: Path) -> Scenario:
        return cls.from_json(json.loads(path.read_text()))

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f"v{i}" for i in range(self.n))

    @property
    def instances(self) -> tuple[str, ...]:
        return self.ids + tuple(f"{t}#1" for t in self.twins)


def generate(seed: int, n: int, *, short: bool = True) -> Scenario:
    """A random adversarial schedule for `seed`: at most f Byzantine validators (a Twins pair
    counts as one), drops/duplicates/replays and partitions before GST, crash-restarts of
    honest replicas that come back before GST."""
    rng = random.Random(seed * 1_000_003 + n)
    ids = [f"v{i}" for i in range(n)]
    f = (n - 1) // 3
    gst = rng.randrange(300, 2500) if short else rng.randrange(1000, 8000)
    max_timeout = 800
    duration = gst + (n + 4) * max_timeout  # room for n bad leaders at the capped timeout
    faulty = rng.sample(ids, rng.randint(0, f))
    twins = tuple(sorted(v for v in faulty if rng.random() < 0.3))
    byz = tuple(sorted(
        (v, tuple(sorted(rng.sample(BEHAVIOURS[:4], rng.randint(1, 3)))
                  if rng.random() < 0.9 else ("silent",)))
        for v in faulty if v not in twins))
    instances = ids + [f"{t}#1" for t in twins]
    partitions = []
    for _ in range(rng.randint(0, 2)):
        at = rng.randrange(0, gst)
        members = list(instances)
        rng.shuffle(members)
        cut = rng.randint(1, len(members) - 1)
        groups = (tuple(sorted(members[:cut])), tuple(sorted(members[cut:])))
        partitions.append(Partition(at, rng.randrange(at + 1, gst + 1), groups))
    crashes = []
    honest = [v for v in ids if v not in faulty]
    for v in rng.sample(honest, rng.randint(0, min(2, len(honest)))):
        at = rng.randrange(0, gst)
        crashes.append(Crash(v, at, rng.randrange(at + 1, gst + 1)))
    return Scenario(
        name=f"random-n{n}-seed{seed}", n=n, seed=seed, duration_ms=duration, gst_ms=gst,
        delay_min_ms=1, delay_max_ms=rng.choice((10, 40, 120)), delay_gst_ms=10,
        drop_pm=rng.choice((0, 50, 200, 400)), dup_pm=rng.choice((0, 50, 200)),
        replay_pm=rng.choice((0, 20, 100)), partitions=tuple(partitions), crashes=tuple(crashes),
        byzantine=byz, twins=twins, wire=1 if seed % 10 == 0 else 0,
        base_timeout_ms=100, max_timeout_ms=max_timeout, liveness_blocks=4,
    )
