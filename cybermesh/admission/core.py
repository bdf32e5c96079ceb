"""Admission: is this untrusted record fit for the mempool? (DESIGN §4, docs/ADMISSION.md)

`admit(topic, raw, now_ms, ...)` runs the checks in this order (cheapest first) and returns the
first failure as a `Rejected` with a stable `Reason`, or an `Admitted`:

 1. topic is an ai.* topic                                   unknown_topic
 2. len(raw) <= the topic's size cap                          oversize
 3. strict decode (cybermesh.wire.strict)                     undecodable / unknown_fields /
                                                              non_canonical
 4. schema (cybermesh.admission.schema)                       unsupported_version / bad_schema /
                                                              bad_payload_hash
 5. now_ms - skew_ms <= ts                                    stale
 6. ts <= now_ms + skew_ms                                    future
 7. producer_id registered in genesis                         unknown_producer
 8. topic in the producer's genesis topics                    producer_not_allowed
 9. pubkey == the producer's registered key                   key_mismatch
10. tx hash not seen within the dedupe window                 duplicate
11. (producer_id, nonce) not seen within 2 x skew             replay
12. the producer's token bucket has a token                   rate_limited
13. Ed25519 signature over the signing bytes                  bad_signature

Rules about state:
- State changes only for admitted messages, after the signature verified: the tx hash and the
  (producer_id, nonce) are remembered until now_ms + 2 x skew_ms, and one token is spent. So a
  forged message can neither poison the replay cache nor drain an honest producer's bucket.
- The exact same bytes again are `duplicate` (a redelivery); other bytes reusing a nonce are
  `replay`. That is why dedupe (10) runs before the replay cache (11).
- `admit` never raises on any `raw`: every record gets a decision.
- `admit` = `precheck` (checks 1-9, stateless) + `finish` (checks 10-13 in record order, given
  the verify result). A batch may verify its candidates elsewhere (threads) in between; the
  decisions are the same (unit test `test_precheck_verify_finish_equals_admit_in_turn`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from cybermesh.admission import ratelimit, schema
from cybermesh.admission.decision import Admitted, Candidate, Decision, Rejected
from cybermesh.admission.decode import decode_ai
from cybermesh.admission.ratelimit import Bucket
from cybermesh.admission.reasons import Reason
from cybermesh.admission.splice import signing_bytes_of
from cybermesh.admission.window import MemoryWindow, Window
from cybermesh.genesis import Genesis, Producer
from cybermesh.proto.v1 import ai_pb2
from cybermesh.wire import ed25519
from cybermesh.wire.strict import DecodeError
from cybermesh.wire.topics import ANOMALIES, EVIDENCE, POLICY, TX_KIND_BY_TOPIC

AiMessage = ai_pb2.Anomaly | ai_pb2.Evidence | ai_pb2.Policy

_CLASSES: Final[dict[str, type[AiMessage]]] = {
    ANOMALIES: ai_pb2.Anomaly,
    EVIDENCE: ai_pb2.Evidence,
    POLICY: ai_pb2.Policy,
}


@dataclass(frozen=True)
class Rules:
    """Admission parameters (from settings.admission)."""

    skew_ms: int
    """Allowed |ts - now|; the replay cache and dedupe set keep entries for 2 x skew_ms."""
    rate_per_s: int
    """Token-bucket refill rate per producer."""
    burst: int
    """Token-bucket capacity per producer."""
    max_bytes: Mapping[str, int]
    """Size cap of a record, per ai.* topic."""


@dataclass
class State:
    """The mutable admission state; the adapter persists what `Admitted` says changed.

    NOTE: `replay` and `seen` are ports (cybermesh.admission.window.Window); the adapter may
    back them with durable tables. `buckets` may be any mutable mapping.
    """

    replay: Window = field(default_factory=MemoryWindow)
    """(producer_id, nonce) keys, see `replay_key`."""
    seen: Window = field(default_factory=MemoryWindow)
    """Tx hashes of admitted messages."""
    buckets: MutableMapping[str, Bucket] = field(default_factory=dict)
    """Token bucket per producer_id."""


def verify_candidate(c: Candidate) -> bool:
    """Check 13: Ed25519 over the candidate's signing bytes. Pure; safe in another thread."""
    return ed25519.verify(c.pubkey, c.signing_bytes, c.signature)


def verify_candidates(cs: Sequence[Candidate]) -> list[bool]:
    """verify_candidate for each, in one call (native: the GIL released, keys decoded once)."""
    if not cs:
        return []
    return ed25519.verify_many(
        [c.pubkey for c in cs], [c.signing_bytes for c in cs], [c.signature for c in cs]
    )


def replay_key(producer_id: str, nonce: int) -> bytes:
    """The replay-cache key of (producer_id, nonce): utf-8 id, NUL, 8-byte big-endian nonce."""
    return producer_id.encode("utf-8") + b"\x00" + nonce.to_bytes(8, "big")


def rules_for(skew_ms: int, rate_per_s: int, burst: int, max_bytes: Mapping[str, int]) -> Rules:
    """Rules with the size caps checked to cover every ai.* topic."""
    missing = sorted(set(_CLASSES) - set(max_bytes))
    if missing:
        raise ValueError(f"max_bytes: no size cap for {missing}")
    return Rules(skew_ms, rate_per_s, burst, dict(max_bytes))


class Admission:
    """Checks 1-13 against one genesis and one set of rules (see the module docstring)."""

    def __init__(self, genesis: Genesis, rules: Rules) -> None:
        self.rules = rules
        self._producers: dict[str, Producer] = {p.producer_id: p for p in genesis.producers}

    def admit(self, topic: str, raw: bytes, now_ms: int, state: State) -> Decision:
        """The decision for one record; updates `state` only if admitted."""
        checked = self.precheck(topic, raw, now_ms)
        if isinstance(checked, Rejected):
            return checked
        return self.finish(checked, verify_candidate(checked), now_ms, state)

    def admit_batch(
        self, topic: str, raws: Iterable[bytes], now_ms: int, state: State
    ) -> list[Decision]:
        """Decisions for records in order, as if `admit` ran on each in turn (precheck all,
        verify the candidates in one call, finish in record order: see the module docstring)."""
        checked = [self.precheck(topic, raw, now_ms) for raw in raws]
        verified = iter(verify_candidates([c for c in checked if isinstance(c, Candidate)]))
        return [c if isinstance(c, Rejected) else self.finish(c, next(verified), now_ms, state)
                for c in checked]

    def precheck(self, topic: str, raw: bytes, now_ms: int) -> Candidate | Rejected:
        """Checks 1-9 (they read no state). Never raises.

        NOTE: `admit` = precheck, then `finish` with the candidate's verify result. Batches
        may verify candidates elsewhere (verify_candidate is a pure function) and then call
        `finish` in record order: the decisions are the same as `admit` in turn.
        """
        try:
            return self._precheck(topic, bytes(raw), now_ms)
        except Exception as exc:  # noqa: BLE001 - rule: admission never raises
            return Rejected(topic, Reason.INTERNAL, repr(exc), _hash(raw), "")

    def finish(self, c: Candidate, verified: bool, now_ms: int, state: State) -> Decision:
        """Checks 10-13 for a candidate whose signature check gave `verified`; updates state
        only if admitted. Never raises."""
        try:
            return self._finish(c, verified, now_ms, state)
        except Exception as exc:  # noqa: BLE001 - rule: admission never raises
            return Rejected(c.topic, Reason.INTERNAL, repr(exc), c.tx_hash, c.producer_id)

    def _precheck(self, topic: str, raw: bytes, now_ms: int) -> Candidate | Rejected:
        tx_hash = hashlib.sha256(raw).digest()
        cls = _CLASSES.get(topic)
        if cls is None:
            return Rejected(topic, Reason.UNKNOWN_TOPIC, "not an ai.* topic", tx_hash, "")
        cap = self.rules.max_bytes[topic]
        if len(raw) > cap:
            return Rejected(topic, Reason.OVERSIZE, f"{len(raw)} bytes > {cap}", tx_hash, "")
        try:
            msg = decode_ai(cls, raw)
        except DecodeError as exc:
            return Rejected(topic, Reason(exc.reason), exc.detail, tx_hash, "")
        producer_id = msg.producer_id
        failure = (
            schema.check_common(msg) or _check_kind(msg) or self._check_origin(topic, msg, now_ms)
        )
        if failure:
            return Rejected(topic, failure[0], failure[1], tx_hash, producer_id)
        score = msg.severity * msg.confidence if isinstance(msg, ai_pb2.Anomaly) else 0
        return Candidate(
            topic,
            raw,
            tx_hash,
            producer_id,
            msg.nonce,
            msg.ts,
            score,
            msg.pubkey,
            msg.signature,
            signing_bytes_of(topic, raw, msg),
        )

    def _finish(self, c: Candidate, verified: bool, now_ms: int, state: State) -> Decision:
        key = replay_key(c.producer_id, c.nonce)
        if state.seen.is_seen(c.tx_hash, now_ms):
            return Rejected(
                c.topic, Reason.DUPLICATE, "tx hash already admitted", c.tx_hash, c.producer_id
            )
        if state.replay.is_seen(key, now_ms):
            return Rejected(
                c.topic, Reason.REPLAY, f"nonce {c.nonce} already used", c.tx_hash, c.producer_id
            )
        rules = self.rules
        bucket = ratelimit.refill(
            state.buckets.get(c.producer_id), now_ms, rules.rate_per_s, rules.burst
        )
        if not ratelimit.has_token(bucket):
            return Rejected(
                c.topic, Reason.RATE_LIMITED, "token bucket empty", c.tx_hash, c.producer_id
            )
        if not verified:
            return Rejected(
                c.topic, Reason.BAD_SIGNATURE, "Ed25519 verify failed", c.tx_hash, c.producer_id
            )
        state.buckets[c.producer_id] = ratelimit.spend(bucket)
        expires_ms = now_ms + 2 * rules.skew_ms
        state.seen.remember(c.tx_hash, expires_ms)
        state.replay.remember(key, expires_ms)
        return Admitted(
            c.topic,
            TX_KIND_BY_TOPIC[c.topic],
            c.tx_hash,
            c.raw,
            c.producer_id,
            c.nonce,
            c.ts,
            c.score,
            key,
            expires_ms,
        )

    def _check_origin(self, topic: str, msg: AiMessage, now_ms: int) -> schema.Failure:
        """Checks 5-9: clock skew, registration, topic, key."""
        skew = self.rules.skew_ms
        if msg.ts < now_ms - skew:
            return (Reason.STALE, f"ts {msg.ts} < now {now_ms} - skew {skew}")
        if msg.ts > now_ms + skew:
            return (Reason.FUTURE, f"ts {msg.ts} > now {now_ms} + skew {skew}")
        producer = self._producers.get(msg.producer_id)
        if producer is None:
            return (Reason.UNKNOWN_PRODUCER, "producer_id not in genesis")
        if topic not in producer.topics:
            return (Reason.PRODUCER_NOT_ALLOWED, f"producer may not publish to {topic}")
        if msg.pubkey != producer.pubkey:
            return (Reason.KEY_MISMATCH, "pubkey is not the producer's registered key")
        return None


def _check_kind(msg: AiMessage) -> schema.Failure:
    if isinstance(msg, ai_pb2.Anomaly):
        return schema.check_anomaly(msg)
    if isinstance(msg, ai_pb2.Evidence):
        return schema.check_evidence(msg)
    return schema.check_policy(msg)


def _hash(raw: object) -> bytes:
    try:
        return hashlib.sha256(bytes(raw)).digest()  # type: ignore[call-overload]
    except Exception:  # noqa: BLE001 - raw may be anything when called wrongly
        return b""
