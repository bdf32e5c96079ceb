"""Many seeded schedules: the CI slice, `cybermesh sim` and the mutation check."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from cybermesh.consensus.safety import SafetyRules
from cybermesh.sim.runner import Result, run
from cybermesh.sim.scenario import Scenario, generate


def schedules(seeds: Iterable[int], sizes: tuple[int, ...]) -> Iterator[Scenario]:
    """Seed s with sizes (4, 7) gives n = sizes[s % len(sizes)]."""
    for seed in seeds:
        yield generate(seed, sizes[seed % len(sizes)])


def fork_attack(sc: Scenario) -> Scenario:
    """The schedule with its faulty validators replaced by f fork attackers (no Twins)."""
    f = (sc.n - 1) // 3
    byz = tuple((f"v{sc.n - 1 - i}", ("double_vote", "fork")) for i in range(f))
    return replace(sc, name=sc.name + "-fork", twins=(), byzantine=byz,
                   crashes=tuple(c for c in sc.crashes if c.node not in dict(byz)))


def save_failure(result: Result, directory: Path, mutation: str = "") -> Path:
    """Write a failing scenario as a regression file (data, replayable exactly)."""
    directory.mkdir(parents=True, exist_ok=True)
    sc = replace(result.scenario, expect=f"violation:{mutation}" if mutation else "safe",
                 note=(f"mutation={mutation}; " if mutation else "") + result.violations[0])
    path = directory / f"{sc.name}.json"
    sc.dump(path)
    return path


def run_all(scenarios: Iterable[Scenario],
            safety_rules: type[SafetyRules] = SafetyRules) -> Iterator[Result]:
    for sc in scenarios:
        yield run(sc, safety_rules)
