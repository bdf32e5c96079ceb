"""Realistic random ai.* events for load tests and demos (`cybermesh produce --count/--duration`).

`LoadGenerator(rng, topics, run_id).next()` returns `(topic, fields)` in the JSON form of
`cybermesh.wire.fields`, without the fields `Signer.build` fills (ts, nonce, keys, hashes):

1. The mix is about 70% anomalies, 25% evidence, 5% policy, restricted to `topics`.
2. Anomalies: a handful of types, sources drawn from a skewed pool of hosts (a few hosts are
   hit often, so reputations move), severity 0..10 skewed low, confidence 5000..9999 bp,
   a small JSON payload. Ids are `an-<run_id>-<n>`.
3. Evidence refers to 1..3 anomaly ids this generator produced earlier (the most recent
   1000); before any anomaly exists (or if anomalies are not in `topics`) an anomaly is made
   instead when allowed, else the evidence refers to no id.
4. Policy: set `quarantine_threshold`, quarantine or release a known source; never revokes a
   producer.
5. Same rng seed and run_id, same sequence.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Sequence
from typing import Any

from cybermesh.wire.topics import ANOMALIES, EVIDENCE, POLICY

WEIGHTS = {ANOMALIES: 70, EVIDENCE: 25, POLICY: 5}
ANOMALY_TYPES = (
    "port_scan",
    "brute_force",
    "malware_beacon",
    "exfiltration",
    "dns_tunnel",
    "lateral_movement",
    "privilege_escalation",
)
EVIDENCE_TYPES = ("pcap_digest", "log_excerpt", "edr_trace", "netflow_summary")
SEVERITY_WEIGHTS = (4, 8, 10, 10, 9, 8, 6, 4, 3, 2, 1)  # index = severity 0..10
HOSTS = tuple(f"10.0.{i // 16}.{i % 16 + 2}" for i in range(64))


class LoadGenerator:
    """Random but plausible events (rules 1-5 of the module docstring)."""

    def __init__(self, rng: random.Random, topics: Sequence[str], run_id: str) -> None:
        unknown = sorted(set(topics) - set(WEIGHTS))
        if unknown or not topics:
            raise ValueError(
                f"load topics must be a non-empty subset of {sorted(WEIGHTS)}, got {unknown}"
            )
        self.rng = rng
        self.topics = sorted(set(topics))
        self.run_id = run_id
        self.recent: deque[str] = deque(maxlen=1000)
        self.counts = dict.fromkeys(WEIGHTS, 0)

    def next(self) -> tuple[str, dict[str, Any]]:
        topic = self.rng.choices(self.topics, weights=[WEIGHTS[t] for t in self.topics])[0]
        if topic == EVIDENCE and not self.recent and ANOMALIES in self.topics:
            topic = ANOMALIES
        self.counts[topic] += 1
        n = self.counts[topic]
        if topic == ANOMALIES:
            return topic, self._anomaly(n)
        if topic == EVIDENCE:
            return topic, self._evidence(n)
        return topic, self._policy(n)

    def _host(self) -> str:
        # skewed: index = floor(64 * u^3) puts most of the mass on the first hosts
        return HOSTS[int(len(HOSTS) * self.rng.random() ** 3)]

    def _anomaly(self, n: int) -> dict[str, Any]:
        anomaly_id = f"an-{self.run_id}-{n}"
        self.recent.append(anomaly_id)
        kind = self.rng.choice(ANOMALY_TYPES)
        source = self._host()
        payload = {
            "detector": kind,
            "src": source,
            "dst_ports": sorted(self.rng.sample(range(1, 1024), self.rng.randint(1, 4))),
            "events": self.rng.randint(1, 5000),
            "window_s": self.rng.choice((10, 60, 300)),
        }
        return {
            "id": anomaly_id,
            "type": kind,
            "source": source,
            "severity": self.rng.choices(range(11), weights=SEVERITY_WEIGHTS)[0],
            "confidence": self.rng.randint(5000, 9999),
            "payload": json.dumps(payload, sort_keys=True, separators=(",", ":")).encode().hex(),
            "model_version": "cm-sim-1.0",
        }

    def _evidence(self, n: int) -> dict[str, Any]:
        k = min(len(self.recent), self.rng.randint(1, 3))
        refs = sorted(self.rng.sample(list(self.recent), k)) if k else []
        return {
            "id": f"ev-{self.run_id}-{n}",
            "evidence_type": self.rng.choice(EVIDENCE_TYPES),
            "refs": refs,
            "proof_blob": self.rng.randbytes(self.rng.randint(32, 128)).hex(),
        }

    def _policy(self, n: int) -> dict[str, Any]:
        fields: dict[str, Any] = {"id": f"po-{self.run_id}-{n}"}
        choice = self.rng.randrange(3)
        if choice == 0:
            fields.update(
                action="POLICY_ACTION_SET_PARAM",
                rule="quarantine_threshold",
                params=[{"key": "value", "int_value": -self.rng.randint(2000, 20000)}],
            )
        else:
            fields.update(
                action="POLICY_ACTION_QUARANTINE" if choice == 1 else "POLICY_ACTION_RELEASE",
                rule=self._host(),
                params=[{"key": "reason", "str_value": "loadgen"}],
            )
        return fields
