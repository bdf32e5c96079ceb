"""The topics a validator creates, with explicit partitions, replication and configs.

Rules (names carry `ingest.topic_prefix`; replication is `kafka.replication_factor` and
`min.insync.replicas` is `kafka.min_insync_replicas` for all of them):
1. ai.anomalies.v1, ai.evidence.v1, ai.policy.v1 (input): `kafka.partitions` partitions (the
   tables' changelogs have the same count, DESIGN §8); retention is left to the cluster (the
   AI team owns these topics; created here only when missing, e.g. a fresh cluster).
2. `<ai topic>.dlq`: `kafka.partitions` partitions, `cleanup.policy=delete`,
   `retention.ms = kafka.dlq_retention_ms`.
3. ledger.blocks.v1 (the source of truth, replayed from offset 0): ONE partition (total order),
   `cleanup.policy=delete` with `retention.ms=-1` and `retention.bytes=-1` (kept forever; not
   compacted: every validator's copy of a height is kept), `max.message.bytes` = 16 MiB (a block
   of 10k transactions is larger than Kafka's 1 MiB default).
4. control.*.v1: one partition each, `cleanup.policy=delete`,
   `retention.ms = kafka.control_retention_ms` (derived data: replay re-emits it).
5. `ensure_topics` creates what is missing (an existing topic is never altered) and raises
   `KafkaSettingsError` naming the setting when a missing topic cannot be created. It then
   waits up to `timeout_s` for partition leaders; topics still without one are logged, not
   fatal (clients retry on metadata errors).
6. `ledger_retention_problem` reads an existing ledger topic's configs and says what breaks
   replay (a finite `retention.ms` or `retention.bytes`); the start-up check logs it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from cybermesh.config import KafkaSettings
from cybermesh.kafka.client import KafkaSettingsError
from cybermesh.wire import topics

log = logging.getLogger(__name__)

LEDGER_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
TOPIC_ALREADY_EXISTS = 36
INVALID_REPLICATION_FACTOR = 38
TOPIC_AUTHORIZATION_FAILED = 29
CLUSTER_AUTHORIZATION_FAILED = 31


@dataclass(frozen=True)
class TopicSpec:
    """One topic to create."""

    name: str
    partitions: int
    replication: int
    configs: dict[str, str] = field(default_factory=dict)
    """Topic-level configs (strings, as Kafka takes them)."""


def validator_topics(k: KafkaSettings, prefix: str = "") -> list[TopicSpec]:
    """Rules 1-4, in a fixed order."""
    rf = k.replication_factor
    base = {"min.insync.replicas": str(k.min_insync_replicas)}
    specs = [TopicSpec(prefix + t, k.partitions, rf, dict(base)) for t in topics.AI_TOPICS]
    dlq = {**base, "cleanup.policy": "delete", "retention.ms": str(k.dlq_retention_ms)}
    specs += [
        TopicSpec(prefix + topics.dlq_topic(t), k.partitions, rf, dict(dlq)) for t in topics.AI_TOPICS
    ]
    specs.append(TopicSpec(prefix + topics.LEDGER_BLOCKS, 1, rf, ledger_configs(k)))
    control = {**base, "cleanup.policy": "delete", "retention.ms": str(k.control_retention_ms)}
    specs += [TopicSpec(prefix + t, 1, rf, dict(control)) for t in topics.CONTROL_TOPICS]
    return specs


def ledger_configs(k: KafkaSettings) -> dict[str, str]:
    """Rule 3."""
    return {
        "min.insync.replicas": str(k.min_insync_replicas),
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "max.message.bytes": str(LEDGER_MAX_MESSAGE_BYTES),
    }


def _setting_for(error_code: int) -> str:
    if error_code == INVALID_REPLICATION_FACTOR:
        return "kafka.replication_factor"
    if error_code in (TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED):
        return "kafka.sasl_username"
    return "kafka.partitions"


async def ensure_topics(admin: Any, specs: list[TopicSpec], *, timeout_s: float = 30.0) -> list[str]:
    """Rule 5: create the missing topics of `specs`; returns the names created.

    `admin` is a started aiokafka AIOKafkaAdminClient. Waits until every partition of every
    spec has a leader.
    """
    from aiokafka.admin import NewTopic

    existing = set(await admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    created: list[str] = []
    if missing:
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, s.replication, topic_configs=s.configs) for s in missing],
            timeout_ms=int(timeout_s * 1000),
        )
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            message = entry[2] if len(entry) > 2 else None
            if code == 0:
                created.append(name)
            elif code != TOPIC_ALREADY_EXISTS:
                raise KafkaSettingsError(
                    _setting_for(code),
                    f"topic {name!r} is missing and could not be created: Kafka error {code}"
                    + (f" ({message})" if message else ""),
                )
    waiting = list(missing)
    try:
        async with asyncio.timeout(timeout_s):
            while waiting:
                spec = waiting[0]
                [desc] = await admin.describe_topics([spec.name])
                parts = desc.get("partitions", [])
                if len(parts) >= spec.partitions and all(p.get("leader", -1) >= 0 for p in parts):
                    waiting.pop(0)
                else:
                    await asyncio.sleep(0.1)
    except TimeoutError:
        # created (or being created by another validator) but not led yet: the clients retry
        # on metadata errors, so this is not a reason to refuse start-up
        log.warning("topics without a partition leader after %.0f s: %s", timeout_s,
                    ", ".join(s.name for s in waiting))
    return sorted(created)


async def ledger_retention_problem(admin: Any, name: str) -> str | None:
    """Rule 6: None when `name` keeps every record (retention.ms and retention.bytes -1)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    entries = {e[0]: e[1] for e in response.resources[0][4]}
    bad = [f"{k}={entries[k]}" for k in ("retention.ms", "retention.bytes")
           if entries.get(k) not in (None, "-1")]
    if not bad:
        return None
    return (
        f"ledger topic {name!r} has {', '.join(bad)}: blocks older than that are deleted and "
        "cannot be replayed; set retention.ms=-1 and retention.bytes=-1 (docs/DEPLOY.md §2)"
    )
