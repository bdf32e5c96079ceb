"""Prometheus metrics of the ingest stage (served at /metrics on the worker's web server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cybermesh.admission import Reason
from cybermesh.wire import ed25519


class IngestMetrics:
    """Counters, gauges and histograms of admission and the mempool.

    - cybermesh_admitted_total{topic}
    - cybermesh_rejected_total{topic, reason}   reason: a Reason code or `mempool_full`
    - cybermesh_mempool_txs / cybermesh_mempool_bytes
    - cybermesh_mempool_evictions_total, cybermesh_mempool_expired_total
    - cybermesh_admission_batch_seconds   wall time of admitting one batch (core + tables + DLQ)
    - cybermesh_admission_batch_records   records per batch
    - cybermesh_ed25519_backend{backend}  1 for the verifier in use (native | libsodium)
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.admitted = Counter(
            "cybermesh_admitted_total",
            "Records admitted to the mempool",
            ["topic"],
            registry=registry,
        )
        self.rejected = Counter(
            "cybermesh_rejected_total",
            "Records rejected, by reason",
            ["topic", "reason"],
            registry=registry,
        )
        self.already_committed = Counter(
            "cybermesh_ingest_already_committed",
            "Records not admitted because their tx is already committed (not DLQ'd)",
            ["topic"],
            registry=registry,
        )
        self.mempool_txs = Gauge("cybermesh_mempool_txs", "Txs in the mempool", registry=registry)
        self.mempool_bytes = Gauge(
            "cybermesh_mempool_bytes", "Bytes of txs in the mempool", registry=registry
        )
        self.evictions = Counter(
            "cybermesh_mempool_evictions_total", "Txs evicted for better ones", registry=registry
        )
        self.expired = Counter(
            "cybermesh_mempool_expired_total", "Txs dropped by the age cap", registry=registry
        )
        self.batch_seconds = Histogram(
            "cybermesh_admission_batch_seconds",
            "Wall time to admit one batch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        self.batch_records = Histogram(
            "cybermesh_admission_batch_records",
            "Records per admission batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=registry,
        )
        self.ed25519_backend = Gauge(
            "cybermesh_ed25519_backend",
            "The Ed25519 verifier in use (1): native (cybermesh_native) or libsodium",
            ["backend"],
            registry=registry,
        )
        self.ed25519_backend.labels(ed25519.BACKEND).set(1)
        # pre-create the label sets so every reason shows as 0 before the first rejection
        self.reasons = [r.value for r in Reason] + ["mempool_full"]
