"""Per-producer token buckets, in integer milli-tokens (no floats).

Rules:
1. A bucket holds at most `burst` tokens and refills at `rate_per_s` tokens per second:
   after `dt` ms it gains `dt * rate_per_s` milli-tokens (1 token = 1000 milli-tokens).
2. A new producer starts with a full bucket.
3. Admitting a message costs one token; a message arriving at an empty bucket (< 1 token) is
   `rate_limited` and costs nothing.
4. The clock never runs backwards for a bucket: a `now_ms` older than the bucket's last update
   refills nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MILLI: Final = 1000


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket at one instant."""

    milli_tokens: int
    """Tokens available, times 1000."""
    updated_ms: int
    """Local clock of the last refill."""


def refill(bucket: Bucket | None, now_ms: int, rate_per_s: int, burst: int) -> Bucket:
    """The bucket at `now_ms` (rules 1, 2 and 4)."""
    capacity = burst * MILLI
    if bucket is None:
        return Bucket(capacity, now_ms)
    elapsed = now_ms - bucket.updated_ms
    if elapsed <= 0:
        return bucket
    return Bucket(min(capacity, bucket.milli_tokens + elapsed * rate_per_s), now_ms)


def has_token(bucket: Bucket) -> bool:
    """True if one message can be admitted (rule 3)."""
    return bucket.milli_tokens >= MILLI


def spend(bucket: Bucket) -> Bucket:
    """The bucket after admitting one message (rule 3). NOTE: call only if has_token()."""
    return Bucket(bucket.milli_tokens - MILLI, bucket.updated_ms)
