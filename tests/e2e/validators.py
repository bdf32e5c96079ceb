"""A local network of real validators for e2e tests: 4 `faust -A cybermesh.app worker`
subprocesses on the real broker, each with its own keys, data dir, web port (44000-44999),
p2p port (45000-45999), SQLite projection and a unique topic prefix per network."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from cybermesh.genesis import Genesis, parse_genesis
from cybermesh.wire import topics
from tests.api_token import api_env, authorization
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
FAUST = Path(sys.executable).parent / "faust"


def seed(label: str) -> bytes:
    return hashlib.sha256(b"e2e-node/" + label.encode()).digest()


def pubkey(label: str) -> str:
    import nacl.signing

    return bytes(nacl.signing.SigningKey(seed(label)).verify_key).hex()




PRODUCERS = {"det-0": (topics.ANOMALIES, "detector"), "ana-0": (topics.EVIDENCE, "analyst"),
             "adm-0": (topics.POLICY, "policy_admin")}


class Network:
    def __init__(self, base: Path, bootstrap: str, n: int = 4, *, round_ms: int = 1000,
                 pg_url: str | None = None, env: dict[str, str] | None = None,
                 ports: tuple[int, int] = (24000, 26000)) -> None:
        """Projections: one SQLite file per validator, or (pg_url) one PostgreSQL database per
        validator on that server, created here and dropped by `drop_databases`. Web ports come
        from the lower half of `ports`, p2p ports from the upper half."""
        self.base = base
        self.pg_url = pg_url
        self.extra_env = dict(env or {})
        self.bootstrap = bootstrap
        self.n = n
        self.tag = "e2e" + uuid.uuid4().hex[:8]
        self.prefix = self.tag + "-"
        self.ids = [f"v{i}" for i in range(n)]
        mid = (ports[0] + ports[1]) // 2
        self.web = dict(zip(self.ids, free_ports(ports[0], mid, n), strict=True))
        self.p2p = dict(zip(self.ids, free_ports(mid, ports[1], n), strict=True))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        base.mkdir(parents=True, exist_ok=True)
        for v in self.ids:
            (base / v / "keys").mkdir(parents=True, exist_ok=True)
            (base / v / "keys" / "consensus.key").write_text(seed(f"{v}/consensus").hex())
            (base / v / "keys" / "node.key").write_text(seed(f"{v}/node").hex())
            for k in ("consensus.key", "node.key"):
                (base / v / "keys" / k).chmod(0o600)
        doc = {
            "chain_id": "cybermesh-" + self.tag,
            "genesis_time": time.time_ns() // 1_000_000 - 1_000,
            "validators": [
                {"id": v, "consensus_pubkey": pubkey(f"{v}/consensus"), "node_pubkey": pubkey(f"{v}/node"),
                 "address": f"/ip4/127.0.0.1/tcp/{self.p2p[v]}"} for v in self.ids
            ],
            "producers": [
                {"producer_id": p, "pubkey": pubkey(p), "topics": [t], "roles": [r]}
                for p, (t, r) in sorted(PRODUCERS.items())
            ],
            "params": {},
        }
        self.genesis: Genesis = parse_genesis(doc)
        (base / "genesis.json").write_text(json.dumps(doc))
        self.round_ms = round_ms

    def db_url(self, v: str) -> str:
        if self.pg_url is not None:
            from sqlalchemy.engine import make_url

            return make_url(self.pg_url).set(database=f"{self.tag}_{v}").render_as_string(hide_password=False)
        return f"sqlite:///{self.base / v / 'projection.db'}"

    def _pg_admin(self, statements: list[str]) -> None:
        from sqlalchemy import create_engine, text

        assert self.pg_url is not None
        engine = create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as con:
                for stmt in statements:
                    con.execute(text(stmt))
        finally:
            engine.dispose()

    def create_databases(self) -> None:
        if self.pg_url is not None:
            self._pg_admin([f'CREATE DATABASE "{self.tag}_{v}"' for v in self.ids])

    def drop_databases(self) -> None:
        if self.pg_url is not None:
            self._pg_admin([f'DROP DATABASE IF EXISTS "{self.tag}_{v}" WITH (FORCE)' for v in self.ids])

    def env(self, v: str) -> dict[str, str]:
        d = self.base / v
        env = {k: val for k, val in os.environ.items() if not k.startswith("CYBERMESH_")}
        env.update({
            "PYTHONPATH": str(ROOT),
            "CYBERMESH_VALIDATOR_ID": v,
            "CYBERMESH_APP_ID": f"cybermesh-{self.tag}-{v}",
            "CYBERMESH_DATA_DIR": str(d / "data"),
            "CYBERMESH_GENESIS_PATH": str(self.base / "genesis.json"),
            "CYBERMESH_CONSENSUS_KEY_PATH": str(d / "keys" / "consensus.key"),
            "CYBERMESH_NODE_KEY_PATH": str(d / "keys" / "node.key"),
            "CYBERMESH_WEB_PORT": str(self.web[v]),
            "CYBERMESH_KAFKA__BOOTSTRAP": self.bootstrap,
            "CYBERMESH_INGEST__TOPIC_PREFIX": self.prefix,
            "CYBERMESH_P2P__LISTEN": f"/ip4/127.0.0.1/tcp/{self.p2p[v]}",
            "CYBERMESH_P2P__BACKOFF_BASE_MS": "100",
            "CYBERMESH_P2P__BACKOFF_CAP_MS": "1000",
            "CYBERMESH_DB_URL": self.db_url(v),
            # fresh databases: the worker migrates them (a server database is otherwise expected
            # at the newest migration already: docs/DEPLOY.md §4)
            "CYBERMESH_DB__MIGRATE_ON_START": "true",
            "CYBERMESH_CONSENSUS__BASE_TIMEOUT_MS": str(self.round_ms),
            "CYBERMESH_CONSENSUS__MAX_TIMEOUT_MS": str(4 * self.round_ms),
            **api_env(),  # /metrics needs a bearer token (docs/AUTH.md)
        })
        env.update(self.extra_env)
        return env

    def start(self, v: str) -> None:
        with open(self.base / v / "worker.log", "ab") as log:  # the child keeps its own copy
            self.procs[v] = subprocess.Popen(
                [str(FAUST), "-A", "cybermesh.app", "worker", "-l", "info"],
                cwd=self.base / v, env=self.env(v), stdout=log, stderr=subprocess.STDOUT,
            )

    def start_all(self) -> None:
        for v in self.ids:
            self.start(v)

    def send_signal(self, v: str, sig: signal.Signals) -> None:
        """Send `sig` to v's worker (SIGSTOP freezes it in place, SIGCONT resumes it)."""
        proc = self.procs[v]
        assert proc.poll() is None, f"{v} exited with {proc.returncode}"
        proc.send_signal(sig)

    def kill(self, v: str) -> None:
        proc = self.procs.pop(v, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for proc in list(self.procs.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a frozen worker must be able to stop
                proc.send_signal(signal.SIGTERM)
        for proc in list(self.procs.values()):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def alive(self) -> dict[str, int | None]:
        return {v: p.poll() for v, p in self.procs.items()}

    async def metric(self, v: str, name: str) -> float | None:
        """One sample of the worker's /metrics, or None if unreachable."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.web[v]), 2)
        except (OSError, TimeoutError):
            return None
        try:
            auth = authorization("operator").encode()
            writer.write(b"GET /metrics HTTP/1.0\r\nHost: x\r\nAuthorization: " + auth + b"\r\n\r\n")
            await writer.drain()
            body = (await asyncio.wait_for(reader.read(), 5)).decode(errors="replace")
        except (OSError, TimeoutError):
            return None
        finally:
            writer.close()
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def log_tail(self, v: str, n: int = 40) -> str:
        try:
            lines = (self.base / v / "worker.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def info(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "web": self.web, "p2p": self.p2p}
