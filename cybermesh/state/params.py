"""Policy parameters and the genesis state (docs/STATE.md §Parameters). Pure.

Rules:
1. A parameter is one of PARAMS: a name, a default and an inclusive range.
2. Genesis `params` with a name in PARAMS set its initial value (it must be in range);
   other genesis params (block limits, consensus settings) are not state.
3. A policy SET_PARAM may change a parameter to a value within its range, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cybermesh.genesis import Genesis
from cybermesh.state.records import Param, ProducerRecord, param_key, producer_key

I64_MIN: Final = -(1 << 63)
I64_MAX: Final = (1 << 63) - 1


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: int
    low: int
    high: int

    def allows(self, value: int) -> bool:
        return self.low <= value <= self.high


PARAMS: Final[dict[str, ParamSpec]] = {
    spec.name: spec
    for spec in (
        ParamSpec("quarantine_threshold", -5_000, -1_000_000_000, 0),
        ParamSpec("reputation_min", -1_000_000_000, -(10**15), 0),
        ParamSpec("reputation_max", 1_000_000_000, 0, 10**15),
        ParamSpec("evidence_max_refs", 64, 1, 1_024),
    )
}


class GenesisStateError(ValueError):
    """A genesis param out of its range; names the param and the value."""

    def __init__(self, name: str, value: int, spec: ParamSpec) -> None:
        super().__init__(f"genesis.params.{name}: {value} outside [{spec.low}, {spec.high}]")
        self.name = name
        self.value = value


def genesis_params(genesis: Genesis) -> dict[str, int]:
    """The initial parameter values (rules 1-2)."""
    values = {name: spec.default for name, spec in PARAMS.items()}
    for name, value in genesis.params:
        spec = PARAMS.get(name)
        if spec is None:
            continue
        if not spec.allows(value):
            raise GenesisStateError(name, value, spec)
        values[name] = value
    return values


def genesis_changes(genesis: Genesis) -> list[tuple[bytes, bytes]]:
    """The state at version 0: every producer and every parameter, sorted by key."""
    changes = [
        (
            producer_key(p.producer_id),
            ProducerRecord(p.pubkey, tuple(sorted(p.topics)), tuple(sorted(p.roles)), 0).encode(),
        )
        for p in genesis.producers
    ]
    changes += [(param_key(n), Param(v).encode()) for n, v in genesis_params(genesis).items()]
    return sorted(changes)
