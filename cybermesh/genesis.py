"""Genesis: the chain id, the static validator set and the registered producers.

Pure: `parse_genesis(obj)` takes the decoded JSON object; file I/O lives in the CLI.
Every validation error names the offending entry, e.g. `validators[2].node_pubkey: ...`.

Genesis JSON::

    {
      "chain_id": "cybermesh-local",
      "genesis_time": 1767225600000,              # ms since epoch, timestamp of height 0
      "validators": [{"id": "v0", "consensus_pubkey": "<64 hex>",
                      "node_pubkey": "<64 hex>", "address": "/ip4/127.0.0.1/tcp/7100"}],
      "producers":  [{"producer_id": "det-1", "pubkey": "<64 hex>",
                      "topics": ["ai.anomalies.v1"], "roles": ["detector"]}],
      "params": {"quarantine_threshold": -5000}   # integer state parameters (docs/STATE.md)
    }
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from cybermesh.wire.topics import AI_TOPICS

#: Producer roles. `detector` publishes anomalies, `analyst` evidence, `policy_admin` policy.
ROLES: Final = frozenset({"detector", "analyst", "policy_admin"})
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ADDR = re.compile(r"^/(ip4|ip6|dns4|dns6|dns)/[^/]+/tcp/\d{1,5}(/p2p/[1-9A-HJ-NP-Za-km-z]+)?$")


class GenesisError(ValueError):
    """An invalid genesis document; the message starts with the path of the bad entry."""


@dataclass(frozen=True)
class Validator:
    """One member of the static validator set."""

    id: str
    """Stable validator id (also its Kafka app id suffix)."""
    consensus_pubkey: bytes
    """Ed25519 key that signs votes, timeouts and proposals."""
    node_pubkey: bytes
    """Ed25519 libp2p identity key (the peer id is derived from it)."""
    address: str
    """libp2p multiaddr the validator listens on, e.g. /ip4/127.0.0.1/tcp/7100."""


@dataclass(frozen=True)
class Producer:
    """A registered AI producer."""

    producer_id: str
    pubkey: bytes
    topics: frozenset[str]
    """ai.* topics this producer may publish to."""
    roles: frozenset[str]
    """Roles from ROLES; `policy_admin` is required for policy actions to take effect."""


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    genesis_time: int
    validators: tuple[Validator, ...]
    producers: tuple[Producer, ...]
    params: tuple[tuple[str, int], ...] = ()
    """Initial integer parameters, sorted by name."""
    _by_producer: dict[str, Producer] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_producer.update({p.producer_id: p for p in self.producers})

    @property
    def f(self) -> int:
        """Faults tolerated: n = 3f + 1 (rounded down for other n)."""
        return (len(self.validators) - 1) // 3

    @property
    def quorum(self) -> int:
        """Votes needed for a certificate: 2f + 1."""
        return 2 * self.f + 1

    def producer(self, producer_id: str) -> Producer | None:
        return self._by_producer.get(producer_id)

    def validator(self, validator_id: str) -> Validator | None:
        for v in self.validators:
            if v.id == validator_id:
                return v
        return None

    def to_json(self) -> dict[str, Any]:
        """The JSON object `parse_genesis` accepts (canonical order)."""
        return {
            "chain_id": self.chain_id,
            "genesis_time": self.genesis_time,
            "validators": [
                {
                    "id": v.id,
                    "consensus_pubkey": v.consensus_pubkey.hex(),
                    "node_pubkey": v.node_pubkey.hex(),
                    "address": v.address,
                }
                for v in self.validators
            ],
            "producers": [
                {
                    "producer_id": p.producer_id,
                    "pubkey": p.pubkey.hex(),
                    "topics": sorted(p.topics),
                    "roles": sorted(p.roles),
                }
                for p in self.producers
            ],
            "params": dict(self.params),
        }


def _req(obj: dict[str, Any], key: str, path: str, kind: type) -> Any:
    if key not in obj:
        raise GenesisError(f"{path}.{key}: missing")
    value = obj[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise GenesisError(f"{path}.{key}: expected an integer, got {value!r}")
    if not isinstance(value, kind):
        raise GenesisError(f"{path}.{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _id(obj: dict[str, Any], key: str, path: str) -> str:
    value: str = _req(obj, key, path, str)
    if not _ID.match(value):
        raise GenesisError(f"{path}.{key}: {value!r} is not a valid id ([A-Za-z0-9._:-], 1-64)")
    return value


def _key(obj: dict[str, Any], key: str, path: str) -> bytes:
    value: str = _req(obj, key, path, str)
    if not _HEX64.match(value):
        raise GenesisError(f"{path}.{key}: expected 64 lowercase hex chars (Ed25519 key)")
    return bytes.fromhex(value)


def _strings(obj: dict[str, Any], key: str, path: str, allowed: frozenset[str]) -> frozenset[str]:
    value = _req(obj, key, path, list)
    for i, item in enumerate(value):
        if item not in allowed:
            raise GenesisError(f"{path}.{key}[{i}]: {item!r} is not one of {sorted(allowed)}")
    return frozenset(value)


def _no_extra(obj: dict[str, Any], path: str, allowed: set[str]) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise GenesisError(f"{path}: unknown field(s) {extra}")


def _validator(obj: Any, path: str) -> Validator:
    if not isinstance(obj, dict):
        raise GenesisError(f"{path}: expected an object")
    _no_extra(obj, path, {"id", "consensus_pubkey", "node_pubkey", "address"})
    address: str = _req(obj, "address", path, str)
    if not _ADDR.match(address):
        raise GenesisError(
            f"{path}.address: {address!r} is not a /ip4|ip6|dns/.../tcp/PORT multiaddr"
        )
    return Validator(
        id=_id(obj, "id", path),
        consensus_pubkey=_key(obj, "consensus_pubkey", path),
        node_pubkey=_key(obj, "node_pubkey", path),
        address=address,
    )


def _producer(obj: Any, path: str) -> Producer:
    if not isinstance(obj, dict):
        raise GenesisError(f"{path}: expected an object")
    _no_extra(obj, path, {"producer_id", "pubkey", "topics", "roles"})
    return Producer(
        producer_id=_id(obj, "producer_id", path),
        pubkey=_key(obj, "pubkey", path),
        topics=_strings(obj, "topics", path, frozenset(AI_TOPICS)),
        roles=_strings(obj, "roles", path, ROLES),
    )


def _unique(items: list[str], path: str, what: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise GenesisError(f"{path}[{i}]: duplicate {what} {item!r}")
        seen.add(item)


def parse_genesis(obj: Any) -> Genesis:
    """Validate a decoded genesis JSON object; raise GenesisError naming the bad entry."""
    if not isinstance(obj, dict):
        raise GenesisError("genesis: expected a JSON object")
    _no_extra(obj, "genesis", {"chain_id", "genesis_time", "validators", "producers", "params"})
    chain_id = _id(obj, "chain_id", "genesis")
    genesis_time: int = _req(obj, "genesis_time", "genesis", int)
    raw_validators = _req(obj, "validators", "genesis", list)
    if not raw_validators:
        raise GenesisError("genesis.validators: at least one validator is required")
    validators = tuple(_validator(v, f"validators[{i}]") for i, v in enumerate(raw_validators))
    _unique([v.id for v in validators], "validators", "id")
    _unique([v.consensus_pubkey.hex() for v in validators], "validators", "consensus_pubkey")
    _unique([v.node_pubkey.hex() for v in validators], "validators", "node_pubkey")
    _unique([v.address for v in validators], "validators", "address")
    raw_producers = _req(obj, "producers", "genesis", list)
    producers = tuple(_producer(p, f"producers[{i}]") for i, p in enumerate(raw_producers))
    _unique([p.producer_id for p in producers], "producers", "producer_id")
    raw_params = obj.get("params", {})
    if not isinstance(raw_params, dict):
        raise GenesisError("genesis.params: expected an object of integers")
    for name, value in raw_params.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise GenesisError(f"genesis.params.{name}: expected an integer, got {value!r}")
    return Genesis(
        chain_id=chain_id,
        genesis_time=genesis_time,
        validators=tuple(sorted(validators, key=lambda v: v.id)),
        producers=tuple(sorted(producers, key=lambda p: p.producer_id)),
        params=tuple(sorted(raw_params.items())),
    )
