"""Audit log: one JSON line per admission rejection (reason, producer, tx hash).

Never payloads, signatures or keys. The producer id is the record's claim (untrusted) and is
truncated to 64 characters.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

LOGGER = "cybermesh.audit"


def audit_logger(path: Path | None, validator_id: str = "") -> logging.Logger:
    """The audit logger of one validator: JSON lines to `path` if given (only there), else to
    the root logger. One logger per validator id, so apps in one process keep apart."""
    log = logging.getLogger(f"{LOGGER}.{validator_id}" if validator_id else LOGGER)
    log.setLevel(logging.INFO)
    log.propagate = path is None
    if path is not None and not any(
        isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve()
        for h in log.handlers
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    return log


def rejection_line(
    validator_id: str, topic: str, reason: str, producer_id: str, tx_hash: bytes, ts_ms: int
) -> str:
    """The audit JSON line of one rejection (sorted keys, no payload)."""
    return json.dumps(
        {
            "event": "admission_rejected",
            "validator": validator_id,
            "topic": topic,
            "reason": reason,
            "producer": producer_id[:64],
            "tx_hash": tx_hash.hex(),
            "ts": ts_ms,
        },
        sort_keys=True,
        ensure_ascii=True,
    )
