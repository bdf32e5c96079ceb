"""A tiny Kafka wire-protocol client for scripts/kafka (standard library only, any python3 >= 3.8).

It exists so that the broker scripts need no virtualenv and start no JVM to ask the broker
something. It speaks only what they need:

1. `probe HOST:PORT`: ApiVersions, then a real Metadata request; exit 0 when the broker answers
   with at least one registered broker (printing the cluster id and brokers), 1 otherwise.
2. `create HOST:PORT [--partitions N] [--replication R] NAME...`: CreateTopics; an existing topic
   counts as success (error 36, TOPIC_ALREADY_EXISTS). Exit 1 with the broker's message otherwise.
3. `--tls-ca FILE` (both): speak TLS, trusting only the CA certificates in FILE (the secured test
   broker's SSL listener, `scripts/kafka --secure`); the host name is checked.

Only non-flexible request versions are used (Metadata v4..v7, CreateTopics v2..v4): brokers 3.x
and 4.x accept them (Kafka 4.0 removed Metadata v0..v3 and CreateTopics v0..v1, KIP-896).
"""

from __future__ import annotations

import argparse
import socket
import ssl
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
API_CREATE_TOPICS = 19
TOPIC_ALREADY_EXISTS = 36


class ProtocolError(Exception):
    """The broker answered something this client cannot use (message says what)."""


class Reader:
    """Reads big-endian Kafka primitives from one response body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8")


def enc_string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    raw = value.encode("utf-8")
    return struct.pack(">h", len(raw)) + raw


class Connection:
    """One TCP connection; `call` sends a request (header v1) and returns the response body."""

    def __init__(self, bootstrap: str, timeout: float, tls_ca: str | None = None) -> None:
        host, _, port = bootstrap.rpartition(":")
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        if tls_ca:
            context = ssl.create_default_context(cafile=tls_ca)
            sock = context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.correlation = 0

    def close(self) -> None:
        self.sock.close()

    def call(self, api_key: int, version: int, body: bytes) -> Reader:
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + enc_string(
            "cybermesh-scripts"
        )
        payload = header + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", self._recv(4))[0]
        reader = Reader(self._recv(size))
        if reader.take(">i") != self.correlation:
            raise ProtocolError("correlation id mismatch")
        return reader

    def _recv(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ProtocolError("connection closed by broker")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def versions(self) -> dict[int, tuple[int, int]]:
        """ApiVersions v0: {api_key: (min_version, max_version)}."""
        reader = self.call(API_VERSIONS, 0, b"")
        error = reader.take(">h")
        if error:
            raise ProtocolError(f"ApiVersions error code {error}")
        out = {}
        for _ in range(reader.take(">i")):
            key, lo, hi = reader.take(">h"), reader.take(">h"), reader.take(">h")
            out[key] = (lo, hi)
        return out


def pick(versions: dict[int, tuple[int, int]], api: int, lo: int, hi: int) -> int:
    """The highest version in [lo, hi] that the broker also supports."""
    if api not in versions:
        raise ProtocolError(f"broker does not support api {api}")
    blo, bhi = versions[api]
    version = min(hi, bhi)
    if version < max(lo, blo):
        raise ProtocolError(
            f"no common version for api {api}: broker {blo}..{bhi}, ours {lo}..{hi}"
        )
    return version


def probe(bootstrap: str, timeout: float, tls_ca: str | None = None) -> int:
    conn = Connection(bootstrap, timeout, tls_ca)
    try:
        version = pick(conn.versions(), API_METADATA, 4, 7)
        # topics = [] (none: cheap), allow_auto_topic_creation = false
        reader = conn.call(API_METADATA, version, struct.pack(">ib", 0, 0))
        reader.take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(reader.take(">i")):
            node_id = reader.take(">i")
            host = reader.string()
            port = reader.take(">i")
            reader.string()  # rack
            brokers.append(f"{node_id}@{host}:{port}")
        cluster_id = reader.string()
    finally:
        conn.close()
    if not brokers:
        print(f"kafka_wire: {bootstrap} answered Metadata with no brokers", file=sys.stderr)
        return 1
    print(f"cluster_id={cluster_id} brokers={','.join(brokers)}")
    return 0


def create(
    bootstrap: str,
    names: list[str],
    partitions: int,
    replication: int,
    timeout: float,
    tls_ca: str | None = None,
) -> int:
    conn = Connection(bootstrap, timeout, tls_ca)
    try:
        version = pick(conn.versions(), API_CREATE_TOPICS, 2, 4)
        body = struct.pack(">i", len(names))
        for name in names:
            body += enc_string(name) + struct.pack(">ihii", partitions, replication, 0, 0)
        body += struct.pack(">ib", int(timeout * 1000), 0)
        reader = conn.call(API_CREATE_TOPICS, version, body)
        reader.take(">i")  # throttle_time_ms
        failed = 0
        for _ in range(reader.take(">i")):
            name = reader.string()
            error = reader.take(">h")
            message = reader.string()
            if error == 0:
                print(f"created {name} (partitions={partitions})")
            elif error == TOPIC_ALREADY_EXISTS:
                print(f"exists  {name}")
            else:
                failed += 1
                print(
                    f"kafka_wire: creating {name} failed: error {error}: {message}", file=sys.stderr
                )
    finally:
        conn.close()
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kafka_wire")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("bootstrap")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--tls-ca")
    c = sub.add_parser("create")
    c.add_argument("bootstrap")
    c.add_argument("names", nargs="+")
    c.add_argument("--partitions", type=int, default=1)
    c.add_argument("--replication", type=int, default=1)
    c.add_argument("--timeout", type=float, default=30.0)
    c.add_argument("--tls-ca")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "probe":
            return probe(args.bootstrap, args.timeout, args.tls_ca)
        return create(
            args.bootstrap, args.names, args.partitions, args.replication, args.timeout, args.tls_ca
        )
    except (OSError, ProtocolError, struct.error) as exc:
        print(f"kafka_wire: {args.bootstrap}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
