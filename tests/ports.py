"""Loopback ports for test servers, below Linux's ephemeral range (32768-60999), so a port
found free is not taken by an outgoing connection before the server binds it."""

from __future__ import annotations

import socket
import uuid


def free_port(lo: int, hi: int) -> int:
    """A port in [lo, hi) that 127.0.0.1 can bind now (nothing listens on it): every port of the
    range is tried once, from a random start, so parallel tests rarely pick the same one."""
    span = hi - lo
    start = uuid.uuid4().int % span
    for i in range(span):
        port = lo + (start + i) % span
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {lo}..{hi - 1}")
