"""`cybermesh localnet up|status|down`: a local validator network (docs/LOCALNET.md).

    cybermesh localnet up [--validators 4] [--dir .local/localnet] [--base-port 26100]
        [--db URL] [--bootstrap HOST:PORT] [--topic-prefix P] [--id-prefix v]
        [--partitions 1] [--wait 120] [--json]
    cybermesh localnet status [--dir D] [--json]
    cybermesh localnet down [--dir D] [--grace 20] [--stop-broker] [--purge]

up: keys (consensus + node per validator, producer `load-0` registered for every ai.* topic
with every role), genesis, one TOML config per validator, the broker (`scripts/kafka start`,
reused if running; skipped with --bootstrap), the topics, then one
`faust -A cybermesh.app worker` per validator in the background; waits until every worker's
web server reports its mempool ready, and prints an operator bearer token and the web view's
URL (`http://127.0.0.1:PORT/ui/#token=...`): the workers' API needs a token (docs/AUTH.md;
more with `cybermesh token issue`). Logs: <dir>/logs/<id>.log; pids: <dir>/run/<id>.pid.
status: per validator: pid alive, web port answering, mempool size, committed height (from
the worker's `cybermesh_*height*` gauges, when it exposes them).
down: SIGTERM, wait --grace seconds, SIGKILL; idempotent. --stop-broker also stops the broker
if `up` started it; --purge also deletes the localnet's topics (ai.*, DLQs, control.*, the
ledger, the workers' Faust changelogs) and the directory (keys, genesis, data, logs).
A NEW chain (no genesis in --dir yet) refuses to start on a broker that still holds the ledger
topic or Faust topics of validators with the same ids (another chain's data would leak in).
Exit codes: 0 ok; 1 bad input or a worker failed to start (the message says which, and where
its log is); 3 broker/topic error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from cybermesh import localnet as ln

DEFAULT_DIR = Path(".local/localnet")
UI_TOKEN_TTL_S = 12 * 3600


def register(sub: Any) -> None:
    p = sub.add_parser("localnet", help="run a local validator network (up, status, down)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    actions = p.add_subparsers(dest="localnet_command", required=True)
    up = actions.add_parser("up", help="make keys, genesis, configs; start broker and workers")
    up.add_argument("--validators", type=int, default=4)
    up.add_argument("--base-port", type=int, default=26100, help="web ports from here, libp2p +100 (below the ephemeral port range)")
    up.add_argument("--db", help="one SQL projection URL for all validators (default: SQLite each)")
    up.add_argument("--bootstrap", help="use this broker instead of starting scripts/kafka")
    up.add_argument("--topic-prefix", default="", help="prefix of every topic name (tests)")
    up.add_argument("--id-prefix", default="v", help="validator ids are <prefix>0..n-1")
    up.add_argument("--partitions", type=int, default=1, help="partitions of the ai.* topics")
    up.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the workers")
    up.set_defaults(func=run_up)
    st = actions.add_parser("status", help="pid, web port, mempool, height per validator")
    st.set_defaults(func=run_status)
    down = actions.add_parser("down", help="stop the workers (SIGTERM, then SIGKILL)")
    down.add_argument("--grace", type=float, default=20.0)
    down.add_argument("--stop-broker", action="store_true")
    down.add_argument("--purge", action="store_true", help="delete the directory afterwards")
    down.set_defaults(func=run_down)
    for a in (up, st, down):
        a.add_argument("--dir", type=Path, default=DEFAULT_DIR)
        a.add_argument("--json", action="store_true")


def _fail(code: int, message: str) -> int:
    print(f"localnet: {message}", file=sys.stderr)
    return code


def run_up(args: argparse.Namespace) -> int:
    if not 1 <= args.validators <= 64:
        return _fail(1, f"--validators {args.validators}: must be 1..64")
    if not 1024 <= args.base_port <= 65535 - 100 - args.validators:
        return _fail(1, f"--base-port {args.base_port}: out of range")
    err = Console(stderr=True)
    try:
        if args.bootstrap:
            bootstrap, started = args.bootstrap, False
        else:
            err.print("[bold]==>[/] starting the Kafka broker (scripts/kafka start; reused if running)")
            bootstrap, started = ln.start_broker()
        plan = ln.prepare(
            args.dir, args.validators, bootstrap=bootstrap, base_port=args.base_port, db_url=args.db,
            topic_prefix=args.topic_prefix, id_prefix=args.id_prefix, partitions=args.partitions,
            broker_started=started,
        )  # fmt: skip
        if plan.new_chain:
            stale = asyncio.run(ln.stale_topics(plan))
            if stale:
                Path(plan.genesis).unlink()  # the next `up` checks again
                return _fail(1, f"the broker at {bootstrap} holds topics of another chain with these validator ids: "
                                f"{', '.join(stale[:6])}{' ...' if len(stale) > 6 else ''}. Remove them "
                                "(`localnet down --purge` in that localnet's --dir, or `scripts/kafka stop && "
                                "scripts/kafka reset`), or use another --id-prefix/--topic-prefix")  # fmt: skip
        err.print(f"[bold]==>[/] topics on {bootstrap}")
        asyncio.run(ln.create_topics(plan))
    except ln.LocalnetError as exc:
        return _fail(3 if "kafka" in str(exc).lower() or "topic" in str(exc) else 1, str(exc))
    except (KafkaError, OSError, TimeoutError) as exc:
        return _fail(3, f"broker {args.bootstrap or ''}: {exc!r}")
    for m in plan.members:
        pid = ln.start_worker(m)
        err.print(f"[bold]==>[/] {m.id}: pid {pid}, web http://127.0.0.1:{m.web_port}/mempool/, log {m.log}")
    problems = ln.wait_ready(plan, args.wait)
    rows = [ln.member_status(m) for m in plan.members]
    _print_status(plan, rows, args.json)
    if problems:
        return _fail(1, "; ".join(problems) + " (`cybermesh localnet down` stops the others)")
    if not args.json:
        err.print(f"producer key: {plan.producer_key} (producer id {plan.producer_id}); genesis: {plan.genesis}")
        token = ln.issue_token(plan.dir, role="operator", ttl_s=UI_TOKEN_TTL_S, subject="localnet-operator")
        err.print(f"API: operator bearer token (12 h; docs/AUTH.md): {token}")
        err.print(f"web view: http://127.0.0.1:{plan.members[0].web_port}/ui/#token={token}")
        err.print(f"more tokens: cybermesh token issue --role viewer|operator|admin --ttl 1h --localnet-dir {args.dir}")
    return 0


def _print_status(plan: ln.Plan, rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"dir": plan.dir, "bootstrap": plan.bootstrap, "topic_prefix": plan.topic_prefix,
                          "genesis": plan.genesis, "producer_id": plan.producer_id,
                          "producer_key": plan.producer_key, "validators": rows}))  # fmt: skip
        return
    table = Table(title=f"localnet {plan.dir} (broker {plan.bootstrap})")
    for col in ("id", "pid", "web", "ready", "mempool", "height", "log"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["id"], str(r["pid"] or "-"), f"{r['web_port']} {'up' if r['web'] else 'down'}",
            str(r["ready"]), "-" if r["mempool"] is None else str(r["mempool"]),
            "-" if r["height"] is None else str(r["height"]), r["log"],
        )  # fmt: skip
    Console().print(table)


def run_status(args: argparse.Namespace) -> int:
    try:
        plan = ln.Plan.load(args.dir)
    except ln.LocalnetError as exc:
        return _fail(1, str(exc))
    _print_status(plan, [ln.member_status(m) for m in plan.members], args.json)
    return 0


def run_down(args: argparse.Namespace) -> int:
    try:
        plan = ln.Plan.load(args.dir)
    except ln.LocalnetError as exc:
        if args.dir.exists() or not args.purge:
            print(f"localnet: nothing to stop ({exc})", file=sys.stderr)
        return 0
    results = {m.id: ln.stop_worker(m, args.grace) for m in plan.members}
    if args.json:
        print(json.dumps(results))
    else:
        for mid, what in results.items():
            print(f"{mid}: {what}")
    if args.purge:
        try:
            deleted = asyncio.run(ln.delete_topics(plan))
            print(f"deleted {len(deleted)} topics", file=sys.stderr)
        except (KafkaError, OSError) as exc:
            print(f"localnet: could not delete the topics on {plan.bootstrap}: {exc!r}", file=sys.stderr)
    if args.stop_broker and plan.broker_started:
        ln.stop_broker()
    if args.purge:
        shutil.rmtree(plan.dir, ignore_errors=True)
    return 0
