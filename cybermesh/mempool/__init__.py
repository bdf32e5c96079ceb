"""Mempool core: admitted transactions by priority, bounded, with a deterministic select().

Pure: no I/O, no clock (now_ms is an argument). See pool.py for the rules, entry.py for the
priority order and the table record.
"""

from cybermesh.mempool.entry import Entry, decode_entry, encode_entry, priority_key
from cybermesh.mempool.pool import AddResult, Caps, Limits, Mempool

__all__ = [
    "AddResult",
    "Caps",
    "Entry",
    "Limits",
    "Mempool",
    "decode_entry",
    "encode_entry",
    "priority_key",
]
