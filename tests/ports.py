"""Loopback ports for test servers, below Linux's ephemeral range (32768-60999), so a port
found free is not taken by an outgoing connection before the server binds it."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Collection


def free_port(lo: int, hi: int, *, taken: Collection[int] = ()) -> int:
    """A port in [lo, hi), not in `taken`, that 127.0.0.1 can bind now (nothing listens on it):
    every port of the range is tried once, from a random start, so parallel tests rarely pick
    the same one. Several ports for one test: `free_ports` (a port picked but not yet bound is
    free again for the next call)."""
    span = hi - lo
    start = uuid.uuid4().int % span
    for i in range(span):
        port = lo + (start + i) % span
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {lo}..{hi - 1}")


def free_ports(lo: int, hi: int, count: int) -> list[int]:
    """`count` distinct ports of [lo, hi), each bindable now (see `free_port`)."""
    out: list[int] = []
    for _ in range(count):
        out.append(free_port(lo, hi, taken=out))
    return out
