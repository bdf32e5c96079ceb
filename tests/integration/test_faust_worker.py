"""A Faust worker (validators are Faust workers) against the real local broker.

A minimal app with one agent on one topic and one table (changelog, exactly_once processing) runs
as `python -m faust -A app worker`; records produced with aiokafka must reach the agent, and its
table must count them. This is the check that the pinned broker speaks what Faust needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.harness import produce_raw

pytestmark = pytest.mark.kafka

APP = """
import os
import faust

app = faust.App(
    os.environ["FAUST_APP_ID"],
    broker="kafka://" + os.environ["FAUST_BOOTSTRAP"],
    store="memory://",
    web_enabled=False,
    topic_partitions=1,
    processing_guarantee="exactly_once",
    datadir=os.environ["FAUST_DATADIR"],
)
topic = app.topic(os.environ["FAUST_TOPIC"], value_type=bytes, value_serializer="raw")
counts = app.Table("counts", default=int, partitions=1)


@app.agent(topic)
async def consume(stream):
    async for value in stream:
        counts["n"] += 1
        with open(os.environ["FAUST_OUT"], "a") as f:
            f.write(f"{counts['n']} {value.decode()}\\n")
"""


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def wait_for_lines(path: Path, n: int, proc: asyncio.subprocess.Process) -> list[str]:
    """Lines of `path` once it has `n`, or what it has when the worker exits or 90 s pass."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(90):
            while proc.returncode is None:
                if len(read_lines(path)) >= n:
                    break
                await asyncio.sleep(0.2)
    return read_lines(path)


async def test_faust_agent_and_table_consume_from_the_broker(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]], tmp_path: Path
) -> None:
    topic = await new_topic("infra-faust")  # a Faust source topic must exist before the worker
    (tmp_path / "faustcheck.py").write_text(APP)
    out = tmp_path / "seen.txt"
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "FAUST_APP_ID": f"infra-faust-{uuid.uuid4().hex[:8]}",
        "FAUST_BOOTSTRAP": kafka_bootstrap,
        "FAUST_DATADIR": str(tmp_path / "data"),
        "FAUST_TOPIC": topic,
        "FAUST_OUT": str(out),
    }
    with (tmp_path / "worker.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            # --without-web: the worker CLI starts its web server (0.0.0.0:6066) even when the
            # app says web_enabled=False, and that port may be taken on a shared machine
            *("-m", "faust", "-A", "faustcheck", "worker", "--without-web", "-l", "info"),
            cwd=tmp_path,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await produce_raw(kafka_bootstrap, topic, [b"a", b"b", b"c"])
            lines = await wait_for_lines(out, 3, proc)
        finally:
            if proc.returncode is None:
                proc.terminate()
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    assert lines == ["1 a", "2 b", "3 c"], worker_log[-3000:]
