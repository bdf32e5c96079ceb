"""Cost of access control: JWT verification per token, and requests/s through the middleware.

    .venv/bin/python bench/auth.py [--tokens 5000] [--requests 3000] [--concurrency 8]

1. `jwt.verify` of valid tokens (EdDSA and HS256): verifications/s and µs each (one core).
2. An aiohttp server with a trivial JSON handler behind the Guard (api.auth = jwt, EdDSA
   token, generous limits) and the same with api.auth = none, driven by an aiohttp client in
   the same process (so the figures include the client's cost; the difference is the auth
   cost per request). Prints one JSON object with the machine and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from cybermesh.api.auth import jwt
from cybermesh.api.auth.middleware import Guard, keyring
from cybermesh.config import ApiSettings

ED = jwt.SigningKey("ed", "EdDSA", bytes(range(32)))
HS = jwt.SigningKey("hs", "HS256", b"k" * 32)


def verify_rate(key: jwt.SigningKey, n: int) -> dict[str, float]:
    now = int(time.time())
    keys = {key.kid: key.verification_key()}
    token = jwt.issue(key, subject="b", role="viewer", audience="a", now_s=now, ttl_s=3600)
    t0 = time.perf_counter()
    for _ in range(n):
        jwt.verify(token, keys, audience="a", now_s=now)
    dt = time.perf_counter() - t0
    return {"verifications_per_s": round(n / dt), "us_each": round(dt / n * 1e6, 1)}


async def http_rate(mode: str, n: int, concurrency: int) -> dict[str, Any]:
    api = ApiSettings(auth=mode, rate_per_s=100_000, burst=100_000, max_inflight=1000,
                      max_inflight_per_client=1000,
                      jwt_keys=[{"kid": "ed", "alg": "EdDSA",
                                 "public_key": ED.verification_key().material.hex()}])  # fmt: skip
    app = web.Application()

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/x", ok)
    Guard(api, keyring(api), lambda m, p: "read" if p == "/x" else None).attach(app)
    token = jwt.issue(ED, subject="b", role="viewer", audience=api.audience,
                      now_s=int(time.time()), ttl_s=3600)  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if mode == "jwt" else {}
    statuses: dict[int, int] = {}
    async with TestServer(app) as server, ClientSession() as session:
        url = str(server.make_url("/x"))
        per_task = n // concurrency

        async def task() -> None:
            for _ in range(per_task):
                async with session.get(url, headers=headers) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(task() for _ in range(concurrency)))
        dt = time.perf_counter() - t0
    return {"requests_per_s": round(per_task * concurrency / dt), "statuses": statuses}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=5000)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args(argv)
    import logging

    logging.getLogger("cybermesh.access").setLevel(logging.WARNING)  # no log I/O in the figure
    out: dict[str, Any] = {
        "verify_eddsa": verify_rate(ED, args.tokens),
        "verify_hs256": verify_rate(HS, args.tokens),
        "http_auth_jwt": asyncio.run(http_rate("jwt", args.requests, args.concurrency)),
        "http_auth_none": asyncio.run(http_rate("none", args.requests, args.concurrency)),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "command": "bench/auth.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
