"""A local validator network on one machine (docs/LOCALNET.md): files, processes, status.

Layout under `<dir>` (default .local/localnet):

    localnet.json                 the plan: validators, ports, topics, bootstrap, producer key
    genesis.json                  chain id, validators (consensus + node keys), the producer
    keys/<id>.consensus.key  keys/<id>.node.key  keys/load-0.key     seed files (0600)
    <id>/validator.toml           the worker's settings (CYBERMESH_CONFIG)
    <id>/data/                    RocksDB tables, state, safety data, audit log
    <id>/projection.db            SQLite projection (unless --db URL)
    logs/<id>.log                 the worker's stdout + stderr
    run/<id>.pid                  the worker's pid (its own process group)

Rules:
1. `prepare` is idempotent: keys and the genesis are made once and reused (the chain survives
   `down` + `up`); a directory holding a different validator count is refused.
2. Ports: web `base_port + i`, libp2p `base_port + 100 + i`, all on 127.0.0.1.
3. Topics: ai.* and their .dlq with `partitions`, control.* with 1 and ledger.blocks.v1 with 1
   (total order), all under `topic_prefix`; existing topics are fine.
4. A worker is `faust -A cybermesh.app worker -l info --web-port P --web-bind 127.0.0.1`,
   env CYBERMESH_CONFIG=<id>/validator.toml, in its own session (Ctrl-C in the terminal that
   ran `up` does not reach it). Only pids from our pid files whose command line is a
   `cybermesh.app` worker are ever signalled.
5. `stop`: SIGTERM the worker's process group, wait up to the grace period, then SIGKILL;
   stopping a stopped worker is fine.
6. API access control is ON (docs/AUTH.md): `prepare` makes one Ed25519 JWT key per network
   (`keys/api.jwt.key`, kid `localnet-<8 hex of its public key>`) and writes its public key into
   every validator's `[api]` settings (with generous per-client rate limits, 1000/s, burst
   2000: tests and benchmarks drive a local network hard); `status` and `wait_ready` read /mempool/ and /metrics with
   a short-lived operator token signed by it (`issue_token`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from cybermesh.api.auth import jwt
from cybermesh.config import KafkaSettings
from cybermesh.genesis import parse_genesis
from cybermesh.genesis_io import load_genesis, write_genesis
from cybermesh.kafka.client import KafkaSettingsError, client_options
from cybermesh.kafka.topics import ensure_topics, validator_topics
from cybermesh.keys import read_seed, write_seed
from cybermesh.wire import topics
from cybermesh.wire.signing import key_from_seed

ROOT = Path(__file__).resolve().parents[1]
PRODUCER_ID = "load-0"
API_KEY_FILE = "api.jwt.key"
STATUS_TOKEN_TTL_S = 300
TOPIC_EXISTS = 36


class LocalnetError(RuntimeError):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True)
class Member:
    id: str
    web_port: int
    p2p_port: int
    dir: str
    config: str
    log: str
    pid_file: str
    db_url: str


@dataclass(frozen=True)
class Plan:
    dir: str
    chain_id: str
    bootstrap: str
    topic_prefix: str
    partitions: int
    genesis: str
    producer_id: str
    producer_key: str
    members: tuple[Member, ...]
    broker_started: bool = False
    new_chain: bool = False
    """`prepare` made this genesis now (stale topics of another chain would corrupt it)."""

    def topic(self, contract: str) -> str:
        return self.topic_prefix + contract

    def kafka(self) -> KafkaSettings:
        """The `kafka` settings of this localnet's clients (a local PLAINTEXT broker)."""
        return KafkaSettings(bootstrap=self.bootstrap, partitions=self.partitions)

    def topic_names(self) -> list[tuple[str, int]]:
        """Rule 3."""
        out = [(self.topic(t), self.partitions) for t in topics.AI_TOPICS]
        out += [(self.topic(topics.dlq_topic(t)), self.partitions) for t in topics.AI_TOPICS]
        out += [(self.topic(t), 1) for t in (*topics.CONTROL_TOPICS, topics.LEDGER_BLOCKS)]
        return out

    def save(self) -> None:
        path = Path(self.dir) / "localnet.json"
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> Plan:
        path = Path(directory) / "localnet.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise LocalnetError(
                f"no localnet in {directory} (no localnet.json); run `cybermesh localnet up`"
            ) from None
        raw["members"] = tuple(Member(**m) for m in raw["members"])
        return cls(**raw)


def _key(path: Path) -> bytes:
    """The public key of the seed file at `path`, creating it (0600) if missing."""
    if not path.exists():
        write_seed(path, secrets.token_bytes(32))
    return bytes(key_from_seed(read_seed(path)).verify_key)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable text is a TOML basic string


def api_key(directory: str | Path) -> jwt.SigningKey:
    """Rule 6: the network's API signing key (KeyFileError when `prepare` has not made it)."""
    seed = read_seed(Path(directory) / "keys" / API_KEY_FILE)
    pub = bytes(key_from_seed(seed).verify_key)
    return jwt.SigningKey("localnet-" + pub.hex()[:8], "EdDSA", seed)


def issue_token(
    directory: str | Path, role: str = "operator", ttl_s: int = STATUS_TOKEN_TTL_S,
    subject: str = "localnet",
) -> str:  # fmt: skip
    """A bearer token for this network's validators (rule 6)."""
    return jwt.issue(api_key(directory), subject=subject, role=role, audience="cybermesh-api",
                     now_s=int(time.time()), ttl_s=ttl_s)  # fmt: skip


def _write_config(plan: Plan, m: Member, keys: Path) -> None:
    data = Path(m.dir) / "data"
    key = api_key(plan.dir)
    text = "\n".join(
        [
            f"validator_id = {_toml_str(m.id)}",
            f"genesis_path = {_toml_str(plan.genesis)}",
            f"consensus_key_path = {_toml_str(str(keys / f'{m.id}.consensus.key'))}",
            f"node_key_path = {_toml_str(str(keys / f'{m.id}.node.key'))}",
            f"data_dir = {_toml_str(str(data))}",
            f"web_port = {m.web_port}",
            'web_bind = "127.0.0.1"',
            f"db_url = {_toml_str(m.db_url)}",
            "",
            "[kafka]",
            f"bootstrap = {_toml_str(plan.bootstrap)}",
            f"partitions = {plan.partitions}",
            "",
            "[p2p]",
            f"listen = {_toml_str(f'/ip4/127.0.0.1/tcp/{m.p2p_port}')}",
            "",
            "[ingest]",
            f"topic_prefix = {_toml_str(plan.topic_prefix)}",
            "",
            "[db]",
            "migrate_on_start = true  # a local network: the workers migrate their database",
            "",
            "[api]",
            'auth = "jwt"',
            "rate_per_s = 1000  # a development network: tests and benchmarks drive it hard",
            "burst = 2000",
            "",
            "[[api.jwt_keys]]",
            f"kid = {_toml_str(key.kid)}",
            'alg = "EdDSA"',
            f'public_key = "{key.verification_key().material.hex()}"',
            "",
        ]
    )
    Path(m.config).write_text(text)


def prepare(
    directory: Path,
    validators: int,
    *,
    bootstrap: str,
    base_port: int,
    db_url: str | None,
    topic_prefix: str = "",
    id_prefix: str = "v",
    partitions: int = 1,
    chain_id: str = "cybermesh-localnet",
    broker_started: bool = False,
    now_ms: int | None = None,
) -> Plan:
    """Rule 1: keys, genesis, per-validator TOML and localnet.json under `directory`."""
    directory = directory.resolve()
    keys = directory / "keys"
    for sub in (keys, directory / "logs", directory / "run"):
        sub.mkdir(parents=True, exist_ok=True)
    genesis_path = directory / "genesis.json"
    ids = [f"{id_prefix}{i}" for i in range(validators)]
    if genesis_path.exists():
        existing = load_genesis(genesis_path)
        have = sorted(v.id for v in existing.validators)
        if have != sorted(ids):
            raise LocalnetError(
                f"{directory} holds a localnet of validators {have}, not {ids}: use another --dir or `localnet down --purge`"
            )
    members = tuple(
        Member(
            id=v,
            web_port=base_port + i,
            p2p_port=base_port + 100 + i,
            dir=str(directory / v),
            config=str(directory / v / "validator.toml"),
            log=str(directory / "logs" / f"{v}.log"),
            pid_file=str(directory / "run" / f"{v}.pid"),
            db_url=db_url or f"sqlite:///{directory / v / 'projection.db'}",
        )
        for i, v in enumerate(ids)
    )
    producer_key = keys / f"{PRODUCER_ID}.key"
    _key(keys / API_KEY_FILE)  # rule 6 (also for a localnet made before access control)
    new_chain = not genesis_path.exists()
    if new_chain:
        doc = {
            "chain_id": chain_id,
            "genesis_time": now_ms if now_ms is not None else int(time.time() * 1000),
            "validators": [
                {
                    "id": m.id,
                    "consensus_pubkey": _key(keys / f"{m.id}.consensus.key").hex(),
                    "node_pubkey": _key(keys / f"{m.id}.node.key").hex(),
                    "address": f"/ip4/127.0.0.1/tcp/{m.p2p_port}",
                }
                for m in members
            ],
            "producers": [
                {
                    "producer_id": PRODUCER_ID,
                    "pubkey": _key(producer_key).hex(),
                    "topics": list(topics.AI_TOPICS),
                    "roles": ["detector", "analyst", "policy_admin"],
                }
            ],
        }
        write_genesis(genesis_path, parse_genesis(doc))
    plan = Plan(
        dir=str(directory),
        chain_id=load_genesis(genesis_path).chain_id,
        bootstrap=bootstrap,
        topic_prefix=topic_prefix,
        partitions=partitions,
        genesis=str(genesis_path),
        producer_id=PRODUCER_ID,
        producer_key=str(producer_key),
        members=members,
        broker_started=broker_started,
        new_chain=new_chain,
    )
    for m in members:
        Path(m.dir).mkdir(parents=True, exist_ok=True)
        _write_config(plan, m, keys)
    plan.save()
    return plan


async def create_topics(plan: Plan, wait_s: float = 30.0) -> None:
    """Rule 3 (existing topics are fine); waits until every partition has a leader."""
    admin = AIOKafkaAdminClient(**client_options(plan.kafka()))
    await admin.start()
    try:
        # the same specs (partitions, retention) as a validator's start-up check
        await ensure_topics(admin, validator_topics(plan.kafka(), plan.topic_prefix), timeout_s=wait_s)
    except KafkaSettingsError as exc:
        raise LocalnetError(f"could not create the topics: {exc}") from None
    finally:
        await admin.close()


def internal_prefixes(plan: Plan) -> tuple[str, ...]:
    """Faust's own topics of the validators' apps (changelogs, repartition): `cybermesh-<id>-`."""
    return tuple(f"cybermesh-{m.id}-" for m in plan.members)


async def stale_topics(plan: Plan) -> list[str]:
    """Topics a NEW chain must not inherit: the ledger topic and the apps' Faust topics (a
    changelog would restore another chain's mempool; the ledger would mix two chains)."""
    admin = AIOKafkaAdminClient(**client_options(plan.kafka()))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    ledger = plan.topic(topics.LEDGER_BLOCKS)
    return sorted(t for t in existing if t == ledger or t.startswith(internal_prefixes(plan)))


async def delete_topics(plan: Plan) -> list[str]:
    """Delete this localnet's topics (rule 3) and its apps' Faust topics; returns their names."""
    admin = AIOKafkaAdminClient(**client_options(plan.kafka()))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        ours = {n for n, _ in plan.topic_names()}
        doomed = sorted(t for t in existing if t in ours or t.startswith(internal_prefixes(plan)))
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


def start_broker() -> tuple[str, bool]:
    """`scripts/kafka start` (reuses a running broker); returns (bootstrap, started_by_us)."""
    script = ROOT / "scripts" / "kafka"
    if not script.exists():
        raise LocalnetError(
            f"{script} not found (not a source checkout): pass --bootstrap HOST:PORT"
        )
    running = (
        subprocess.run(
            [str(script), "status"], capture_output=True, text=True, check=False
        ).returncode
        == 0
    )
    done = subprocess.run([str(script), "start"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LocalnetError(
            f"scripts/kafka start failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    return done.stdout.strip().splitlines()[-1], not running


def stop_broker() -> None:
    subprocess.run([str(ROOT / "scripts" / "kafka"), "stop"], check=False)


# --- processes -----------------------------------------------------------------------------


def worker_command(m: Member) -> list[str]:
    faust = Path(sys.executable).with_name("faust")
    head = [str(faust)] if faust.exists() else [sys.executable, "-m", "faust"]
    return [*head, "-A", "cybermesh.app", "worker", "-l", "info",
            "--web-port", str(m.web_port), "--web-bind", "127.0.0.1"]  # fmt: skip


def read_pid(m: Member) -> int | None:
    try:
        return int(Path(m.pid_file).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _pid_start(m: Member) -> int | None:
    """The start time (clock ticks after boot) recorded next to the pid, if any."""
    try:
        fields = Path(m.pid_file).read_text().split()
        return int(fields[1]) if len(fields) > 1 else None
    except (FileNotFoundError, ValueError):
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of a process from /proc, None when there is no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def is_worker(pid: int, started: int | None = None) -> bool:
    """The pid is alive and is the worker we started (not a reused pid).

    Identity is the start time recorded in the pid file when there is one (Faust may retitle
    its process, so the command line is only the fallback for pid files without it)."""
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X", "x"):
        return False
    if started is not None:
        return stat[1] == started
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"cybermesh.app" in cmdline and b"worker" in cmdline


def worker_alive(m: Member) -> int | None:
    """The pid of m's running worker, or None."""
    pid = read_pid(m)
    return pid if pid is not None and is_worker(pid, _pid_start(m)) else None


def start_worker(m: Member) -> int:
    """Rule 4; returns the pid (already running: its pid)."""
    pid = worker_alive(m)
    if pid is not None:
        return pid
    env = dict(os.environ)
    env["CYBERMESH_CONFIG"] = m.config
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    for name in [k for k in env if k.startswith("CYBERMESH_") and k != "CYBERMESH_CONFIG"]:
        env.pop(name)  # the TOML file is the whole configuration
    env["PYTHONFAULTHANDLER"] = (
        "1"  # a crash in native code (RocksDB, libsodium) leaves a traceback in the log
    )
    with open(m.log, "ab") as log:
        proc = subprocess.Popen(
            worker_command(m), cwd=m.dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    stat = _proc_stat(proc.pid)
    Path(m.pid_file).write_text(f"{proc.pid} {stat[1]}\n" if stat else f"{proc.pid}\n")
    return proc.pid


def stop_worker(m: Member, grace_s: float = 20.0) -> str:
    """Rule 5; returns "stopped" | "killed" | "not running"."""
    pid = worker_alive(m)
    started = _pid_start(m)
    if pid is None:
        Path(m.pid_file).unlink(missing_ok=True)
        return "not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_worker(pid, started):
            Path(m.pid_file).unlink(missing_ok=True)
            return "stopped"
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    while is_worker(pid, started):
        time.sleep(0.1)
    Path(m.pid_file).unlink(missing_ok=True)
    return "killed"


# --- status --------------------------------------------------------------------------------

_HEIGHT_METRIC = re.compile(r"^(cybermesh_[a-z_]*height[a-z_]*)(?:\{[^}]*\})?\s+([0-9.eE+-]+)$")


def _get(port: int, path: str, token: str | None = None, timeout_s: float = 2.0) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout_s) as r:
        body: bytes = r.read()
        return body


def heights_from_metrics(text: str) -> dict[str, int]:
    """Gauges named cybermesh_*height* (e.g. committed height, projection height)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        match = _HEIGHT_METRIC.match(line.strip())
        if match and not match.group(1).endswith(("_created", "_total")):
            out[match.group(1)] = max(out.get(match.group(1), 0), int(float(match.group(2))))
    return out


def counter_sum(text: str, name: str) -> int | None:
    """Sum of a Prometheus counter over its labels (None when absent)."""
    total = None
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total = (total or 0) + int(float(line.rsplit(None, 1)[1]))
    return total


def member_status(m: Member, token: str | None = None) -> dict[str, Any]:
    """pid alive, web answering, mempool size, heights the worker exposes (None when not).
    `token`: an operator bearer token (default: one signed with the network's key, rule 6)."""
    pid = read_pid(m)
    alive = worker_alive(m) is not None
    row: dict[str, Any] = {"id": m.id, "pid": pid if alive else None, "pid_file_pid": pid, "alive": alive, "web_port": m.web_port,
                           "web": False, "ready": None, "mempool": None, "admitted": None, "already_committed": None,
                           "committed_txs": None,
                           "height": None, "heights": {}, "log": m.log}  # fmt: skip
    if not alive:
        return row
    if token is None:
        with contextlib.suppress(OSError, ValueError):
            token = issue_token(Path(m.dir).parent)
    try:
        pool = json.loads(_get(m.web_port, "/mempool/?txs=0", token))
        row.update(web=True, ready=pool.get("ready"), mempool=pool.get("count"))
    except (OSError, ValueError):
        return row
    try:
        metrics = _get(m.web_port, "/metrics", token).decode()
    except (OSError, ValueError):
        metrics = ""
    heights = heights_from_metrics(metrics)
    row["admitted"] = counter_sum(metrics, "cybermesh_admitted_total")
    row["already_committed"] = counter_sum(metrics, "cybermesh_ingest_already_committed_total")
    row["committed_txs"] = counter_sum(metrics, "cybermesh_committed_txs_total")
    row["heights"] = heights
    if "cybermesh_height" in heights:  # the commit path's gauge: last committed height
        row["height"] = heights["cybermesh_height"]
    else:
        committed = [v for k, v in heights.items() if "projection" not in k]
        row["height"] = max(committed) if committed else None
    return row


def exit_status(pid: int | None) -> str:
    """` (exit code N)` / ` (signal S)` of a child worker that exited, if this process started it."""
    if pid is None:
        return ""
    deadline = time.monotonic() + 5.0  # a leader thread can be a zombie while others still run
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return " (not a child of this process: exit status unknown)"
        if done != 0:
            break
        if time.monotonic() > deadline:
            stat = _proc_stat(pid)
            return f" (still present in state {stat[0]})" if stat else ""
        time.sleep(0.1)
    if os.WIFSIGNALED(status):
        return f" (signal {os.WTERMSIG(status)})"
    return f" (exit code {os.WEXITSTATUS(status)})"


def _hint(m: Member) -> str:
    """Advice for a start-up failure recognised in the worker's log (else "")."""
    try:
        tail = Path(m.log).read_bytes()[-20_000:].decode("utf-8", "replace")
    except OSError:
        return ""
    if "ConsistencyError" in tail and "changelog" in tail:
        return (" (its local table state is ahead of its changelog topic on the broker: the broker was reset"
                " or the topics deleted; `cybermesh localnet down --purge` then `up` starts a fresh network)")
    return ""


def wait_ready(plan: Plan, timeout_s: float) -> list[str]:
    """Wait until every worker answers /mempool/ with ready=true; return the problems left."""
    deadline = time.monotonic() + timeout_s
    pending = {m.id: m for m in plan.members}
    problems: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        token = issue_token(plan.dir)
        for mid, m in list(pending.items()):
            st = member_status(m, token)
            if not st["alive"]:
                status = exit_status(st["pid_file_pid"])
                if worker_alive(m) is not None:  # a transient misreading of /proc: still running
                    continue
                problems[mid] = f"{mid} exited{status}; see {m.log}{_hint(m)}"
                pending.pop(mid)
            elif st["web"] and st["ready"]:
                pending.pop(mid)
        time.sleep(0.5)
    for mid, m in pending.items():
        problems[mid] = f"{mid} not ready after {timeout_s:.0f} s; see {m.log}"
    return [problems[k] for k in sorted(problems)]
