"""Read-only HTTP views of the mempool on the worker's web server.

GET /mempool/          {"ready", "count", "bytes", "txs": [{"tx_hash", "kind", "size"}]}
                       txs best first; `?raw=1` adds each record as hex.
"""

from __future__ import annotations

from typing import Any

import faust

from cybermesh.tables.mempool import MempoolStore


def register_views(app: faust.App, store: MempoolStore) -> None:
    @app.page("/mempool/")
    async def mempool_view(self: Any, request: Any) -> Any:
        with_raw = request.query.get("raw") == "1"
        pool = store.pool
        txs = []
        for e in pool.entries():
            item: dict[str, Any] = {"tx_hash": e.tx_hash.hex(), "kind": e.kind, "size": e.size}
            if with_raw:
                item["raw"] = e.raw.hex()
            txs.append(item)
        return self.json(
            {"ready": store.ready, "count": len(pool), "bytes": pool.total_bytes, "txs": txs}
        )
