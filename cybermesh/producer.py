"""The reference ai.* producer: build, sign and publish events (library behind `cybermesh produce`).

Import this from any Python producer (the AI team's detectors)::

    from cybermesh.keys import load_signing_key
    from cybermesh.producer import Publisher, Signer

    signer = Signer(load_signing_key("keys/det-1.key"), "det-1")
    record = signer.build("ai.anomalies.v1", {"type": "port_scan", "source": "10.0.0.7",
                                              "severity": 7, "confidence": 9250,
                                              "payload": b"...".hex()})
    async with Publisher("127.0.0.1:39092") as pub:
        await (await pub.send(record))          # delivered (acks=all, idempotent)

`Signer.build(topic, fields)` takes the JSON form of `cybermesh.wire.fields` and:

1. rejects an unknown topic, an unknown field, a wrong type (`ProduceError`);
2. rejects `signature` in the input (it is computed), and `pubkey` / `producer_id` that differ
   from the signer's;
3. fills what is missing: `schema_version` (current), `ts` (now, ms), `nonce` (the signer's
   monotonic counter), `id` (`<producer_id>-<nonce>`), `producer_id`, `pubkey`, and for an
   anomaly `payload_hash` = SHA-256(payload) (a given `payload_hash` must equal it);
4. when the signer knows its genesis registration, rejects a topic the producer may not use;
5. enforces the field limits (`check_limits`: severity 0..10, confidence 0..10000 bp, ...);
6. signs (DESIGN §3) and returns the canonical bytes with Kafka key = producer_id, so one
   producer's events stay in order on one partition.

Nothing is published by `build`; the caller validates a whole batch before sending any of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import nacl.signing
from aiokafka import AIOKafkaProducer

from cybermesh.genesis import Genesis, Producer
from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire.fields import FieldError, check_limits, from_fields
from cybermesh.wire.signing import payload_hash, sign, tx_hash
from cybermesh.wire.strict import encode
from cybermesh.wire.topics import AI_TOPICS, CURRENT_SCHEMA_VERSION, MESSAGE_TYPES


class ProduceError(ValueError):
    """An event that must not be published; the message says which field or rule failed."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class SignedRecord:
    """One signed event, ready for Kafka."""

    topic: str
    """Logical ai.* topic: the one in the signing domain."""
    key: bytes
    """Kafka key: the producer id (keeps a producer's events in order)."""
    value: bytes
    """The canonical serialized message."""
    id: str
    nonce: int

    @property
    def tx_hash(self) -> bytes:
        return tx_hash(self.value)


class NonceSource:
    """Monotonic nonces: start at `start` and add one per event.

    The default start, now_ms * 1000, keeps nonces increasing across restarts as long as a
    producer sends fewer than 1000 events per millisecond on average.
    """

    def __init__(self, start: int | None = None) -> None:
        self._next = now_ms() * 1000 if start is None else start

    def next(self) -> int:
        value = self._next
        self._next += 1
        return value


def check_registration(genesis: Genesis, producer_id: str, pubkey: bytes) -> Producer:
    """The genesis entry of `producer_id`; ProduceError unless `pubkey` is its registered key."""
    entry = genesis.producer(producer_id)
    if entry is None:
        known = ", ".join(p.producer_id for p in genesis.producers) or "none"
        raise ProduceError(
            f"producer {producer_id!r} is not registered in genesis (registered: {known})"
        )
    if entry.pubkey != pubkey:
        raise ProduceError(
            f"wrong key: the key's public key {pubkey.hex()} is not the key registered for "
            f"producer {producer_id!r} in genesis ({entry.pubkey.hex()})"
        )
    return entry


class Signer:
    """Builds signed records for one producer (rules 1-6 of the module docstring)."""

    def __init__(
        self,
        key: nacl.signing.SigningKey,
        producer_id: str,
        *,
        nonces: NonceSource | None = None,
        clock: Callable[[], int] = now_ms,
        registration: Producer | None = None,
    ) -> None:
        self.key = key
        self.pubkey = bytes(key.verify_key)
        self.producer_id = producer_id
        self.nonces = nonces or NonceSource()
        self.clock = clock
        self.registration = registration
        if registration is not None and registration.pubkey != self.pubkey:
            raise ProduceError(f"wrong key for producer {producer_id!r} (see check_registration)")

    def build(self, topic: str, fields: Mapping[str, Any]) -> SignedRecord:
        if topic not in AI_TOPICS:
            raise ProduceError(f"unknown topic {topic!r} (expected one of {', '.join(AI_TOPICS)})")
        if self.registration is not None and topic not in self.registration.topics:
            raise ProduceError(
                f"producer {self.producer_id!r} may not publish to {topic} "
                f"(genesis allows: {', '.join(sorted(self.registration.topics)) or 'none'})"
            )
        try:
            msg = from_fields(MESSAGE_TYPES[topic], dict(fields))
        except FieldError as exc:
            raise ProduceError(f"{topic}: {exc}") from None
        assert isinstance(msg, ai_pb2.Anomaly | ai_pb2.Evidence | ai_pb2.Policy)
        self._fill(topic, msg)
        try:
            check_limits(msg)
        except FieldError as exc:
            raise ProduceError(f"{topic}: {exc}") from None
        sign(topic, msg, self.key)
        return SignedRecord(topic, self.producer_id.encode(), encode(msg), msg.id, msg.nonce)

    def _fill(self, topic: str, msg: ai_pb2.Anomaly | ai_pb2.Evidence | ai_pb2.Policy) -> None:
        if msg.signature:
            raise ProduceError(f"{topic}: signature: computed by the producer; do not pass it")
        if msg.pubkey and msg.pubkey != self.pubkey:
            raise ProduceError(f"{topic}: pubkey: {msg.pubkey.hex()} is not the signing key's")
        if msg.producer_id and msg.producer_id != self.producer_id:
            raise ProduceError(
                f"{topic}: producer_id: {msg.producer_id!r} differs from --producer-id {self.producer_id!r}"
            )
        msg.producer_id = self.producer_id
        msg.pubkey = self.pubkey
        if not msg.schema_version:
            msg.schema_version = CURRENT_SCHEMA_VERSION
        if not msg.ts:
            msg.ts = self.clock()
        if not msg.nonce:
            msg.nonce = self.nonces.next()
        if not msg.id:
            msg.id = f"{self.producer_id}-{msg.nonce}"
        if isinstance(msg, ai_pb2.Anomaly):
            digest = payload_hash(msg.payload)
            if msg.payload_hash and msg.payload_hash != digest:
                raise ProduceError(
                    f"{topic}: payload_hash: {msg.payload_hash.hex()} is not SHA-256(payload) "
                    f"{digest.hex()} (leave it out to have it computed)"
                )
            msg.payload_hash = digest


ProducerFactory = Callable[..., Any]


class Publisher:
    """An idempotent Kafka producer for signed records (`enable_idempotence=True`, `acks="all"`).

    `topic_map` sends a logical topic to another Kafka topic name (tests, staging); the
    signing domain always keeps the logical name. Use as `async with Publisher(...) as pub`.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        topic_map: Mapping[str, str] | None = None,
        factory: ProducerFactory = AIOKafkaProducer,
        client_id: str = "cybermesh-produce",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self._options = dict(options or {})
        """aiokafka security options (cybermesh.kafka.client.client_options); never logged."""
        self.topic_map = dict(topic_map or {})
        self._factory = factory
        self._client_id = client_id
        self._producer: Any = None

    def kafka_topic(self, topic: str) -> str:
        return self.topic_map.get(topic, topic)

    async def start(self) -> None:
        self._producer = self._factory(
            **{**self._options, "bootstrap_servers": self.bootstrap},
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
        )
        try:
            await self._producer.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, record: SignedRecord) -> asyncio.Future[Any]:
        """Queue `record`; returns the delivery future (await it for the broker's ack)."""
        if self._producer is None:
            raise RuntimeError("Publisher.send before start()")
        fut: asyncio.Future[Any] = await self._producer.send(
            self.kafka_topic(record.topic), value=record.value, key=record.key
        )
        return fut

    async def flush(self) -> None:
        if self._producer is not None:
            await self._producer.flush()

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
