"""Readiness rules of `/api/v1/ready` (docs/API.md "Readiness") on a fake node."""

from __future__ import annotations

import time
from types import SimpleNamespace as NS
from typing import Any

import pytest

from cybermesh.api.v1 import MAX_LAG, STALE_COMMIT_MS, Api


def node(*, age_ms: int = 100, emitted_lag: int = 1, projected_lag: int = 1, halted: bool = False,
         failures: int = 0, mempool_ready: bool = True, project: bool = True, height: int = 50) -> Any:  # fmt: skip
    now = time.time_ns() // 1_000_000
    block = NS(block=NS(header=NS(timestamp=now - age_ms)))
    ledger = NS(top=height, emitted=height - emitted_lag, block=lambda h: block if h == height else None)
    validator = NS(
        emitter=NS(producer=object()), ledger=ledger, replica=NS(round=height + 2),
        p2p=NS(driver=None), pipeline=NS(machine=NS(height=height)),
        projector=NS(error=RuntimeError("alarm") if halted else None, failures=failures, height=height - projected_lag),
    )  # fmt: skip
    settings = NS(validator_id="v0", consensus=NS(enabled=True, project=project))
    return NS(settings=settings, genesis=NS(validators=(NS(id="v0"),)), mempool=NS(ready=mempool_ready),
              validator=validator)  # fmt: skip


async def ready(n: Any) -> tuple[int, dict[str, Any]]:
    return await Api(n).ready(None)  # type: ignore[arg-type]


async def test_all_checks_ok_is_200() -> None:
    status, body = await ready(node())
    assert status == 200 and body["ready"] and body["checks"]["projection"]["detail"] == "projected height 49"


@pytest.mark.parametrize(("kwargs", "failing"), [
    ({"mempool_ready": False}, "broker"),
    ({"emitted_lag": MAX_LAG + 1}, "broker"),
    ({"age_ms": STALE_COMMIT_MS + 1_000}, "consensus"),
    ({"height": 0}, "consensus"),
    ({"halted": True}, "projection"),
    ({"failures": 2}, "projection"),
    ({"projected_lag": MAX_LAG + 1}, "projection"),
])  # fmt: skip
async def test_one_failing_check_is_503_and_named(kwargs: dict[str, Any], failing: str) -> None:
    status, body = await ready(node(**kwargs))
    assert status == 503 and not body["ready"]
    assert [name for name, c in body["checks"].items() if not c["ok"]] == [failing]


async def test_projection_disabled_counts_as_ready() -> None:
    status, body = await ready(node(project=False, halted=True))
    assert status == 200 and body["checks"]["projection"] == {"ok": True, "detail": "disabled"}
