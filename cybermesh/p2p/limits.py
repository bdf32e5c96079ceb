"""Rate limiting and reconnect backoff, pure (time and randomness are arguments).

Rules:
1. TokenBucket: `rate` tokens per second refill up to `burst`; `try_take(now)` spends one
   token or returns False (the message is dropped and counted by the caller).
2. backoff_delay: attempt k (0-based) waits `min(cap, base * 2**k) * (1/2 + u/2)` seconds with
   u in [0, 1) drawn by the caller ("equal jitter": never less than half the step, so peers
   that failed together spread out without hammering).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float
    """Tokens added per second."""
    burst: float
    """Capacity."""
    tokens: float = -1.0
    last: float = 0.0

    def try_take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.last = self.burst, now
        elapsed = max(0.0, now - self.last)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def backoff_delay(attempt: int, base: float, cap: float, u: float) -> float:
    step = min(cap, base * float(1 << min(attempt, 32)))
    return step * (0.5 + 0.5 * u)
