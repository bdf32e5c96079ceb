"""Topic names and the message type each topic carries (DESIGN §3). Fixed contracts."""

from __future__ import annotations

from typing import Final

from google.protobuf.message import Message

from cybermesh.proto.v1 import ai_pb2, block_pb2, control_pb2

ANOMALIES: Final = "ai.anomalies.v1"
EVIDENCE: Final = "ai.evidence.v1"
POLICY: Final = "ai.policy.v1"

CONTROL_COMMITS: Final = "control.commits.v1"
CONTROL_REPUTATION: Final = "control.reputation.v1"
CONTROL_POLICY: Final = "control.policy.v1"
CONTROL_EVIDENCE: Final = "control.evidence.v1"

LEDGER_BLOCKS: Final = "ledger.blocks.v1"

AI_TOPICS: Final[tuple[str, ...]] = (ANOMALIES, EVIDENCE, POLICY)
CONTROL_TOPICS: Final[tuple[str, ...]] = (
    CONTROL_COMMITS,
    CONTROL_REPUTATION,
    CONTROL_POLICY,
    CONTROL_EVIDENCE,
)

#: The protobuf class of every topic's records.
MESSAGE_TYPES: Final[dict[str, type[Message]]] = {
    ANOMALIES: ai_pb2.Anomaly,
    EVIDENCE: ai_pb2.Evidence,
    POLICY: ai_pb2.Policy,
    CONTROL_COMMITS: control_pb2.CommitEvent,
    CONTROL_REPUTATION: control_pb2.ReputationEvent,
    CONTROL_POLICY: control_pb2.PolicyEvent,
    CONTROL_EVIDENCE: control_pb2.EvidenceEvent,
    LEDGER_BLOCKS: block_pb2.CommittedBlock,
}

#: Transaction kind of each ai.* topic, and back.
TX_KIND_BY_TOPIC: Final[dict[str, int]] = {
    ANOMALIES: block_pb2.TX_KIND_ANOMALY,
    EVIDENCE: block_pb2.TX_KIND_EVIDENCE,
    POLICY: block_pb2.TX_KIND_POLICY,
}
TOPIC_BY_TX_KIND: Final[dict[int, str]] = {v: k for k, v in TX_KIND_BY_TOPIC.items()}

#: schema_version values this code understands.
SUPPORTED_SCHEMA_VERSIONS: Final = frozenset({1})
CURRENT_SCHEMA_VERSION: Final = 1


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of `topic` (DESIGN §3: `<topic>.dlq`)."""
    return topic + ".dlq"
