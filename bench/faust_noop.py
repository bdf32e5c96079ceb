"""A Faust app whose only agent counts records (take_events, no work): the ceiling of Faust's
own consumption on this machine, measured beside the ingest agent by bench/admission.py."""

from __future__ import annotations

import os
import time

import faust

N = int(os.environ.get("NOOP_N", "0"))
TAG = os.environ.get("NOOP_TAG", "x")
app = faust.App(
    "cybermesh-bench-noop-" + TAG,
    broker="kafka://" + os.environ.get("CYBERMESH_KAFKA_BOOTSTRAP", "127.0.0.1:39092"),
    store="memory://",
    web_enabled=False,
    datadir=os.environ.get("NOOP_DIR", "/tmp/cybermesh-bench-noop-" + TAG),
    autodiscover=False,
    consumer_auto_offset_reset="earliest",
    stream_buffer_maxsize=4096,
    consumer_max_fetch_size=16 * 1024 * 1024,  # as cybermesh/app.py
)
source = app.topic(
    os.environ.get("NOOP_TOPIC", "none"),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)
_state: dict[str, float] = {"n": 0, "t0": 0.0}


@app.agent(source)
async def count(stream):  # type: ignore[no-untyped-def]
    async for events in stream.take_events(1000, within=0.05):
        if not _state["t0"]:
            _state["t0"] = time.perf_counter()
        _state["n"] += len(events)
        if _state["n"] >= N:
            rate = _state["n"] / (time.perf_counter() - _state["t0"])
            print(f"NOOP_RATE {rate:.0f}", flush=True)
            os._exit(0)
