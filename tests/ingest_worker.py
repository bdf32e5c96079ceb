"""Run a real validator worker (`faust -A cybermesh.app worker`) as a subprocess, for
integration tests and bench/admission.py. Topics are created with the aiokafka admin client."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cybermesh.genesis import Genesis
from cybermesh.wire import topics
from tests.api_token import api_env, authorization
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
FAUST = Path(sys.executable).with_name("faust")


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()


async def produce(bootstrap: str, records: Iterable[tuple[str, bytes]]) -> None:
    """Send (topic, value) records in order (keyed by the record's hash, so they spread over
    the partitions) and wait for every ack."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, linger_ms=5
    )
    await producer.start()
    try:
        futures = [await producer.send(t, v, key=hashlib.sha256(v).digest()) for t, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume_all(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0
) -> list[tuple[bytes, dict[str, bytes]]]:
    """Read `topic` from the beginning until `expected` records arrived (or timeout)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    out: list[tuple[bytes, dict[str, bytes]]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    out.append((r.value or b"", {k: v for k, v in r.headers}))
    finally:
        await consumer.stop()
    return out


class Worker:
    """One validator worker process with its own app id, data dir, web port and topics."""

    def __init__(self, bootstrap: str, genesis: Genesis, base: Path, **settings: Any) -> None:
        self.bootstrap = bootstrap
        self.tag = "it" + uuid.uuid4().hex[:10]
        self.prefix = self.tag + "-"
        self.port = free_port(23000, 24000)  # this workstream's range
        self.dir = base
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "genesis.json").write_text(json.dumps(genesis.to_json()))
        self.env = dict(os.environ)
        self.env.update(
            {
                "PYTHONPATH": str(ROOT),
                "CYBERMESH_VALIDATOR_ID": self.tag,
                "CYBERMESH_DATA_DIR": str(self.dir / "data"),
                "CYBERMESH_GENESIS_PATH": str(self.dir / "genesis.json"),
                "CYBERMESH_WEB_PORT": str(self.port),
                "CYBERMESH_KAFKA__BOOTSTRAP": bootstrap,
                "CYBERMESH_INGEST__TOPIC_PREFIX": self.prefix,
                "CYBERMESH_CONSENSUS__ENABLED": "false",  # ingest only (no keys, not a validator)
                **api_env(),  # the web views need a bearer token (docs/AUTH.md)
            }
        )
        self.env.pop("CYBERMESH_CONFIG", None)
        for name, value in settings.items():
            self.env["CYBERMESH_" + name.upper()] = str(value)
        self.proc: subprocess.Popen[bytes] | None = None
        self.partitions = 1
        self.log_path = self.dir / "worker.log"

    def topic(self, contract: str) -> str:
        return self.prefix + contract

    async def create_topics(self, partitions: int = 1) -> None:
        self.partitions = partitions
        names = [self.topic(t) for t in topics.AI_TOPICS]
        names += [self.topic(topics.dlq_topic(t)) for t in topics.AI_TOPICS]
        await create_topics(self.bootstrap, names, partitions)

    def start(self, profile_to: Path | None = None) -> None:
        """Start the worker; with `profile_to`, under cProfile (stats written on SIGTERM)."""
        cmd = [str(FAUST), "-A", "cybermesh.app", "worker", "-l", "info"]
        if profile_to is not None:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(profile_to), *cmd]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str) -> bytes:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        request.add_header("Authorization", authorization("operator"))
        with urllib.request.urlopen(request, timeout=5) as r:
            body: bytes = r.read()
            return body

    def mempool(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.get("/mempool/"))
        return data

    def metrics(self) -> str:
        return self.get("/metrics").decode()

    async def wait_ready(self, timeout_s: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}: {self.tail()}")
            try:
                state = self.mempool()
                if state["ready"]:
                    return state
            except OSError:
                pass
            await asyncio.sleep(0.3)
        raise TimeoutError(f"worker not ready in {timeout_s}s: {self.tail()}")

    async def wait_count(self, count: int, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        state = self.mempool()
        while state["count"] < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            state = self.mempool()
        return state

    async def wait_committed(self, timeout_s: float = 30.0) -> None:
        """Wait until the worker's group committed the end offset of every ai.* partition."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await admin.start()
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout_s
            names = [self.topic(t) for t in topics.AI_TOPICS]
            tps = [TopicPartition(n, p) for n in names for p in range(self.partitions)]
            while time.monotonic() < deadline:
                committed = await admin.list_consumer_group_offsets(f"cybermesh-{self.tag}")
                ends = await consumer.end_offsets(tps)
                if tps and all(
                    (committed[tp].offset if tp in committed else 0) >= ends[tp] for tp in tps
                ):
                    return
                await asyncio.sleep(0.5)
            raise TimeoutError("offsets not committed")
        finally:
            await consumer.stop()
            await admin.close()

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    @contextlib.contextmanager
    def kept_on_failure(self) -> Iterator[None]:
        """Stop the worker at the end; if the body fails, keep its whole log in /tmp."""
        try:
            yield
        except BaseException:
            keep = Path("/tmp") / f"cybermesh-{self.tag}.log"
            keep.write_text(self.tail(10**7))
            print(f"worker log kept at {keep}")
            raise
        finally:
            self.stop()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
