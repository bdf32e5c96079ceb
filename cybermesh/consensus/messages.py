"""Wrapping consensus messages in the one envelope the transport carries."""

from __future__ import annotations

from cybermesh.consensus.crypto import SCHEMA_VERSION
from cybermesh.proto.v1 import consensus_pb2

Body = (consensus_pb2.Proposal | consensus_pb2.Vote | consensus_pb2.Timeout
        | consensus_pb2.SyncRequest | consensus_pb2.SyncResponse)

_FIELD = {
    consensus_pb2.Proposal: "proposal",
    consensus_pb2.Vote: "vote",
    consensus_pb2.Timeout: "timeout",
    consensus_pb2.SyncRequest: "sync_request",
    consensus_pb2.SyncResponse: "sync_response",
}


def wrap(body: Body) -> consensus_pb2.ConsensusMessage:
    """The envelope holding `body` (copied)."""
    msg = consensus_pb2.ConsensusMessage(schema_version=SCHEMA_VERSION)
    getattr(msg, _FIELD[type(body)]).CopyFrom(body)
    return msg


def kind(msg: consensus_pb2.ConsensusMessage) -> str:
    """The envelope's body field name, or "" when empty."""
    return msg.WhichOneof("body") or ""


def round_of(msg: consensus_pb2.ConsensusMessage) -> int:
    """The round a message belongs to (0 for sync messages)."""
    k = kind(msg)
    if k == "proposal":
        return int(msg.proposal.block.header.round)
    if k == "vote":
        return int(msg.vote.vote_data.round)
    if k == "timeout":
        return int(msg.timeout.round)
    return 0
