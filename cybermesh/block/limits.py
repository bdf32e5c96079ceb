"""Block limits: static chain parameters from genesis `params` (docs/BLOCKS.md). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

#: Genesis param name of each field, and its default.
DEFAULTS: Final[dict[str, int]] = {
    "block_max_txs": 5_000,
    "block_max_bytes": 8 * 1024 * 1024,
    "block_max_interval_ms": 3_600_000,
    "tx_max_age_ms": 600_000,
    "tx_max_future_ms": 60_000,
}


class LimitsError(ValueError):
    """A block limit parameter out of range; names the parameter and the value."""

    def __init__(self, name: str, value: int) -> None:
        super().__init__(f"genesis.params.{name}: {value} must be >= 1")
        self.name = name
        self.value = value


@dataclass(frozen=True)
class BlockLimits:
    """Limits every block must respect; consensus-critical, so fixed at genesis."""

    max_txs: int = DEFAULTS["block_max_txs"]
    """Most transactions in one block."""
    max_bytes: int = DEFAULTS["block_max_bytes"]
    """Most bytes of tx payload (sum of len(tx.raw)) in one block."""
    max_interval_ms: int = DEFAULTS["block_max_interval_ms"]
    """A block's timestamp is at most this far after its parent's."""
    max_tx_age_ms: int = DEFAULTS["tx_max_age_ms"]
    """A tx's ts is at least block.timestamp - max_tx_age_ms."""
    max_tx_future_ms: int = DEFAULTS["tx_max_future_ms"]
    """A tx's ts is at most block.timestamp + max_tx_future_ms."""

    @classmethod
    def from_params(cls, params: Iterable[tuple[str, int]]) -> BlockLimits:
        """Limits from genesis params (`Genesis.params`); absent names take DEFAULTS."""
        given = dict(params)
        values = {name: given.get(name, default) for name, default in DEFAULTS.items()}
        for name, value in values.items():
            if value < 1:
                raise LimitsError(name, value)
        return cls(
            max_txs=values["block_max_txs"],
            max_bytes=values["block_max_bytes"],
            max_interval_ms=values["block_max_interval_ms"],
            max_tx_age_ms=values["tx_max_age_ms"],
            max_tx_future_ms=values["tx_max_future_ms"],
        )
