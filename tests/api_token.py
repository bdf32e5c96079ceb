"""An API key for tests that run real workers: env settings for the worker, tokens for the test.

Workers enforce access control by default (docs/AUTH.md): harnesses that read /metrics or
/mempool/ put `api_env()` in the worker's environment and send `authorization()`.
"""

from __future__ import annotations

import hashlib
import json
import time

from cybermesh.api.auth import jwt

KEY = jwt.SigningKey("tests-1", "EdDSA", hashlib.sha256(b"tests/api-token").digest())


def api_env() -> dict[str, str]:
    """CYBERMESH_* variables that make a worker accept tokens of KEY."""
    entry = {"kid": KEY.kid, "alg": "EdDSA", "public_key": KEY.verification_key().material.hex()}
    return {"CYBERMESH_API__JWT_KEYS": json.dumps([entry])}


def token(role: str = "operator", ttl_s: int = 3600) -> str:
    return jwt.issue(KEY, subject="tests", role=role, audience="cybermesh-api",
                     now_s=int(time.time()), ttl_s=ttl_s)  # fmt: skip


def authorization(role: str = "operator") -> str:
    """The Authorization header value."""
    return f"Bearer {token(role)}"
