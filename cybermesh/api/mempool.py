"""Read-only HTTP views of the mempool on the worker's web server.

GET /metrics           Prometheus metrics (cybermesh/agents/ingest_metrics.py)
GET /mempool/          {"ready", "count", "bytes", "txs": [{"tx_hash", "kind", "size"}]}
                       txs best first; `?raw=1` adds each record as hex; `?txs=0` leaves
                       out the list (cheap polling).
"""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cybermesh.tables.mempool import MempoolStore


def register_views(app: faust.App, store: MempoolStore) -> None:
    @app.page("/mempool/")
    async def mempool_view(self: Any, request: Any) -> Any:
        with_raw = request.query.get("raw") == "1"
        pool = store.pool
        txs = []
        for e in pool.entries() if request.query.get("txs") != "0" else ():
            item: dict[str, Any] = {"tx_hash": e.tx_hash.hex(), "kind": e.kind, "size": e.size}
            if with_raw:
                item["raw"] = e.raw.hex()
            txs.append(item)
        return self.json(
            {"ready": store.ready, "count": len(pool), "bytes": pool.total_bytes, "txs": txs}
        )


def register_metrics_view(app: faust.App, registry: CollectorRegistry) -> None:
    """GET /metrics: the Prometheus text exposition of `registry`."""

    @app.page("/metrics")
    async def metrics_view(self: Any, request: Any) -> Any:
        return self.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
