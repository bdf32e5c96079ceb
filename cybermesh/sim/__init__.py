"""Deterministic consensus simulator (seeded network, crashes, Byzantine replicas, Twins).

Not a pure core: it owns the seeded PRNG and the simulated clock. Used by tests/sim/,
`cybermesh sim` and bench/consensus.py.
"""

from cybermesh.sim.runner import Result, run
from cybermesh.sim.scenario import Scenario, generate

__all__ = ["Result", "Scenario", "generate", "run"]
