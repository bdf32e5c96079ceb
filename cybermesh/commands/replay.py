"""`cybermesh replay`: rebuild a validator's state (and optionally its SQL projection) from
the committed-block log `ledger.blocks.v1` alone (docs/LEDGER.md).

    cybermesh replay --data-dir DIR [--genesis FILE] [--snapshot FILE] [--db URL]
        [--bootstrap HOST:PORT] [--topic TOPIC] [--validator-id ID] [--json] [--quiet]

1. Reads the topic from the beginning to the end offsets seen at start.
2. Verifies every record (strict decoding, byte-identical duplicates, the qc and the commit
   certificate against the genesis validator set, parent links and heights).
3. Re-executes every block with the StateMachine into a fresh RocksDB state store under
   --data-dir (refused if it already holds state), checking every state_root_hint.
   --snapshot FILE restores that snapshot first and skips the heights it covers.
4. --db URL migrates that database and projects every replayed block into it (as
   --validator-id, default "replay"); blocks already there are verified, not rewritten.
5. Ends with the final height and state root (a JSON object with --json).

Defaults for --genesis, --bootstrap and the topic prefix come from the settings
(CYBERMESH_CONFIG TOML / CYBERMESH_* env). Exit codes: 0 ok; 1 bad input; 2 the ledger or its
re-execution failed verification (the message names the height and the rule); 3 Kafka error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cybermesh.config import ConfigError, load_settings
from cybermesh.genesis import GenesisError
from cybermesh.genesis_io import load_genesis
from cybermesh.kafka.check import explain_failure
from cybermesh.kafka.client import client_options
from cybermesh.ledger.kafka import LedgerTopicMissing, read_ledger
from cybermesh.ledger.replay import Replayer, ReplayFailed
from cybermesh.wire.topics import LEDGER_BLOCKS

EXIT_INVALID = 1
EXIT_VERIFY = 2
EXIT_KAFKA = 3


def register(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="rebuild state (and the SQL projection) from ledger.blocks.v1, verifying everything",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", required=True, type=Path, help="fresh directory for the state store")
    p.add_argument("--genesis", type=Path, help="genesis file (default: settings genesis_path)")
    p.add_argument("--snapshot", type=Path, help="start from this state snapshot file")
    p.add_argument("--db", help="also project into this SQL database URL")
    p.add_argument("--validator-id", default="replay", help="projection progress id [replay]")
    p.add_argument("--bootstrap", help="Kafka bootstrap (default: settings kafka.bootstrap)")
    p.add_argument("--topic", help="ledger topic (default: settings prefix + ledger.blocks.v1)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def _fail(code: int, message: str) -> int:
    print(f"replay: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        genesis = load_genesis(args.genesis or settings.genesis_path)
    except (ConfigError, GenesisError, OSError, ValueError) as exc:
        return _fail(EXIT_INVALID, str(exc))
    bootstrap = args.bootstrap or settings.kafka.bootstrap
    kafka = settings.kafka.model_copy(update={"bootstrap": bootstrap})
    topic = args.topic or settings.ingest.topic_prefix + LEDGER_BLOCKS
    if (args.data_dir / "state").exists():
        return _fail(EXIT_INVALID, f"{args.data_dir} already holds a state store; replay needs a fresh --data-dir")
    from cybermesh.stores.state import StateStore

    store = StateStore.from_settings(args.data_dir, settings.state)
    projection = None
    try:
        if args.snapshot is not None:
            version, root = store.restore(args.snapshot)
            if not args.quiet:
                print(f"restored snapshot {args.snapshot} at height {version}, root {root.hex()}", file=sys.stderr)
        if args.db:
            from cybermesh.storage.engine import make_engine
            from cybermesh.storage.migrate import upgrade
            from cybermesh.storage.sql import SqlStore

            upgrade(args.db, options=settings.db)
            projection = SqlStore(args.db, engine=make_engine(args.db, options=settings.db))
        replayer = Replayer(
            genesis, store.tree, projection=projection, validator_id=args.validator_id, after_commit=store.after_commit
        )
        start = replayer.height
        t0 = time.monotonic()
        records = asyncio.run(
            _consume(replayer, client_options(kafka), topic, quiet=args.quiet or args.json)
        )
        seconds = time.monotonic() - t0
        result = {
            "height": replayer.height,
            "root": replayer.root.hex(),
            "from_height": start,
            "blocks": replayer.height - start,
            "txs": replayer.txs,
            "records": records,
            "duplicates": replayer.reader.duplicates,
            "proof_variants": replayer.reader.proof_variants,
            "topic": topic,
            "seconds": round(seconds, 3),
            "incomplete": replayer.incomplete(),
        }
    except ReplayFailed as exc:
        return _fail(EXIT_VERIFY, f"verification failed at height {exc.height}: {exc.reason}")
    except LedgerTopicMissing as exc:
        return _fail(EXIT_KAFKA, str(exc))
    except KafkaError as exc:
        return _fail(EXIT_KAFKA, f"Kafka at {bootstrap}: {exc!r}; {explain_failure(kafka)}")
    except (OSError, ValueError) as exc:  # e.g. an unreadable or damaged snapshot file
        return _fail(EXIT_INVALID, str(exc))
    finally:
        if projection is not None:
            projection.close()
        store.close()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"replayed to height {result['height']}  root {result['root']}  ({result['blocks']} blocks, {result['txs']} txs, {records} records in {seconds:.1f} s)")
    if result["incomplete"]:
        return _fail(EXIT_VERIFY, f"ledger ends early: {result['incomplete']}")
    return 0


async def _consume(replayer: Replayer, options: dict[str, Any], topic: str, *, quiet: bool) -> int:
    console = Console(stderr=True)
    records = 0
    with Progress(
        TextColumn("replay"), BarColumn(), TextColumn("height {task.fields[height]}  records {task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, disable=quiet, transient=False,
    ) as progress:
        task = progress.add_task("replay", total=None, height=replayer.height)
        async for left, batch in read_ledger(options["bootstrap_servers"], topic, options=options):
            for key, value in batch:
                replayer.feed(key, value)
            records += len(batch)
            progress.update(task, completed=records, total=records + left, height=replayer.height)
    return records
