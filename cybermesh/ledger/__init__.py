"""The committed-block log `ledger.blocks.v1` (docs/LEDGER.md).

- `reader`  pure: ledger records in, verified committed blocks out in height order
- `replay`  re-execution of verified blocks with the StateMachine (+ optional SQL projection)
- `kafka`   the aiokafka source of ledger records (adapter)
"""

from cybermesh.ledger.reader import (
    DuplicateMismatch,
    InvalidRecord,
    LedgerError,
    LedgerReader,
    Tip,
    VerifiedBlock,
    height_key,
)

__all__ = [
    "DuplicateMismatch",
    "InvalidRecord",
    "LedgerError",
    "LedgerReader",
    "Tip",
    "VerifiedBlock",
    "height_key",
]
