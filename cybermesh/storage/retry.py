"""Which database errors retry the whole block transaction, and how long to wait.

Rules:
1. Retry the whole transaction (never a statement) on: SQLSTATE 40001 (serialization
   failure; CockroachDB's "restart transaction" errors carry it too), 40P01 (deadlock),
   23505 (unique violation: another writer inserted the same block first; the retry then
   finds and verifies it), 40003 (CockroachDB "statement completion unknown": safe because a
   retry verifies what is already there), and SQLite's "database is locked/busy".
2. The database being unreachable (connection refused or lost, admin shutdown 57P01,
   cannot-connect-now 57P03, class 08) is not retried here: it becomes `StoreUnavailable`
   and the caller backs off (the Projector).
3. Backoff is bounded and jittered: attempt k waits uniform(0, min(cap, base * 2**k)).
"""

from __future__ import annotations

import random
import sqlite3
from typing import Final

from sqlalchemy.exc import DBAPIError

RETRYABLE_SQLSTATES: Final = frozenset({"40001", "40P01", "23505", "40003"})
UNAVAILABLE_SQLSTATES: Final = frozenset({"57P01", "57P02", "57P03"})


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of the driver error under `exc`, if the driver reports one."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return str(code) if code else None


def retry_code(exc: DBAPIError) -> str | None:
    """The retry label of a retryable error (rule 1), else None."""
    code = sqlstate(exc)
    if code in RETRYABLE_SQLSTATES:
        return code
    if isinstance(exc.orig, sqlite3.OperationalError):
        text = str(exc.orig).lower()
        if "locked" in text or "busy" in text:
            return "sqlite_busy"
    return None


def is_unavailable(exc: DBAPIError) -> bool:
    """True if `exc` means the database could not be reached (rule 2)."""
    if exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    if code is not None:
        return code in UNAVAILABLE_SQLSTATES or code.startswith("08")
    module = type(exc.orig).__module__
    return module.startswith("psycopg") and type(exc.orig).__name__ in (
        "OperationalError",
        "InterfaceError",
    )


def backoff_s(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff for `attempt` (1-based), bounded by cap_s (rule 3)."""
    return rng.uniform(0.0, min(cap_s, base_s * (2 ** min(attempt, 30))))
