"""`cybermesh produce`: sign ai.* events and publish them to Kafka (idempotent, acks=all).

One event (or a list) from flags or JSON:
  cybermesh produce --key FILE --producer-id ID --topic TOPIC
      (--field NAME=VALUE ... | --json '{...}' | --json-file FILE|-) [--payload-text TEXT]

Generated load (realistic anomalies, evidence citing them, some policy):
  cybermesh produce --key FILE --producer-id ID (--count N | --duration S) [--rate R]
      [--seed N] [--topic TOPIC ...]

Common: [--genesis FILE] [--bootstrap HOST:PORT] [--topic-map TOPIC=KAFKA_TOPIC ...]
        [--dry-run] [--out FILE] [--quiet]

Fields use the JSON form of docs/SIGNING.md (bytes as hex, enums by name, integers only).
schema_version, ts, nonce, id, producer_id, pubkey, payload_hash and signature are filled in.
Everything given is validated before anything is sent: an unknown topic, malformed JSON, an
unknown field, a wrong type, an out-of-range value, or (with --genesis) a key that is not the
one registered for --producer-id exits 1 with a message on stderr and publishes nothing.

--dry-run / --out FILE: no Kafka; write each signed record as a JSON line
{"topic", "kafka_topic", "key", "value_hex", "tx_hash"} to FILE (or stdout).
--bootstrap defaults to the settings' kafka.bootstrap (CYBERMESH_KAFKA__BOOTSTRAP, TOML); TLS/SASL
come from the kafka settings (security_protocol, ssl_*, sasl_*; docs/DEPLOY.md).
Exit codes: 0 ok, 1 invalid input (nothing published), 3 Kafka error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cybermesh.config import ConfigError, KafkaSettings, load_settings
from cybermesh.genesis import GenesisError, Producer
from cybermesh.genesis_io import load_genesis
from cybermesh.kafka.check import explain_failure
from cybermesh.kafka.client import client_options
from cybermesh.keys import KeyFileError, load_signing_key
from cybermesh.loadgen import LoadGenerator
from cybermesh.producer import (
    ProduceError,
    Publisher,
    SignedRecord,
    Signer,
    check_registration,
)
from cybermesh.wire.fields import FieldError, parse_field_arg
from cybermesh.wire.topics import AI_TOPICS, MESSAGE_TYPES

EXIT_INVALID = 1
EXIT_KAFKA = 3
ACK_WINDOW = 1000


def make_publisher(
    bootstrap: str, topic_map: dict[str, str], kafka: KafkaSettings | None = None
) -> Publisher:
    """The Kafka side; tests replace this to prove nothing is published on bad input.
    `kafka` (the settings section) supplies TLS/SASL (cybermesh.kafka.client)."""
    options = client_options(kafka) if kafka is not None else {}
    return Publisher(bootstrap, topic_map=topic_map, options=options)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "produce",
        help="sign ai.* events and publish them to Kafka (one from flags/JSON, or a generated load)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--key", required=True, metavar="FILE", help="seed file (cybermesh keygen)")
    p.add_argument("--producer-id", required=True, metavar="ID")
    p.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="TOPIC",
        help="ai.* topic; repeat to restrict a load",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--field", action="append", default=[], metavar="NAME=VALUE")
    src.add_argument("--json", metavar="JSON", help="a JSON object, or a list of objects")
    src.add_argument(
        "--json-file", metavar="FILE", help="file holding --json's value ('-' = stdin)"
    )
    p.add_argument("--payload-text", metavar="TEXT", help="anomaly payload as UTF-8 text")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--count", type=int, metavar="N", help="generate N events")
    load.add_argument("--duration", type=float, metavar="S", help="generate events for S seconds")
    p.add_argument(
        "--rate", type=float, metavar="R", help="events per second (default: as fast as possible)"
    )
    p.add_argument(
        "--seed", type=int, metavar="N", help="seed of the load generator (reproducible content)"
    )
    p.add_argument(
        "--genesis", metavar="FILE", help="check the key and topics against this genesis"
    )
    p.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        help="Kafka bootstrap (default: settings kafka.bootstrap)",
    )
    p.add_argument("--topic-map", action="append", default=[], metavar="TOPIC=KAFKA_TOPIC")
    p.add_argument(
        "--dry-run", action="store_true", help="do not connect to Kafka; write records instead"
    )
    p.add_argument(
        "--out", metavar="FILE", help="write signed records as JSON lines here (implies --dry-run)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


class Plan:
    """What to send, fully validated: fixed records, or a generator and a budget."""

    def __init__(self, signer: Signer, topic_map: dict[str, str]) -> None:
        self.signer = signer
        self.topic_map = topic_map
        self.records: list[SignedRecord] = []
        self.generator: LoadGenerator | None = None
        self.count: int | None = None
        self.duration: float | None = None
        self.rate: float | None = None


def _events(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The events given by --field/--json/--json-file (one or several)."""
    topic = args.topic[0]
    if args.field:
        fields: dict[str, Any] = {}
        for arg in args.field:
            name, value = parse_field_arg(MESSAGE_TYPES[topic], arg)
            if name in fields:
                raise ProduceError(f"--field {name} given twice")
            fields[name] = value
        events: list[Any] = [fields]
    elif args.json is not None or args.json_file is not None:
        where = "--json" if args.json is not None else f"--json-file {args.json_file}"
        if args.json is not None:
            text = args.json
        elif args.json_file == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(args.json_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ProduceError(f"{where}: cannot read: {exc.strerror}") from None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProduceError(f"{where}: malformed JSON: {exc}") from None
        events = value if isinstance(value, list) else [value]
        for i, event in enumerate(events):
            if not isinstance(event, dict):
                raise ProduceError(f"{where}: event #{i + 1} is not a JSON object")
    else:
        events = [{}]
    if args.payload_text is not None:
        for event in events:
            if "payload" in event:
                raise ProduceError("--payload-text and a payload field are both given")
            event["payload"] = args.payload_text.encode("utf-8").hex()
    return events


def _topic_map(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in args.topic_map:
        logical, sep, kafka_topic = item.partition("=")
        if not sep or logical not in AI_TOPICS or not kafka_topic:
            raise ProduceError(
                f"--topic-map {item!r}: expected AI_TOPIC=KAFKA_TOPIC with AI_TOPIC in {list(AI_TOPICS)}"
            )
        out[logical] = kafka_topic
    return out


def prepare(args: argparse.Namespace) -> Plan:
    """Validate every input and build the plan; raises on the first problem, sends nothing."""
    for topic in args.topic:
        if topic not in AI_TOPICS:
            raise ProduceError(f"unknown topic {topic!r} (expected one of {', '.join(AI_TOPICS)})")
    key = load_signing_key(args.key)
    registration: Producer | None = None
    if args.genesis:
        genesis = load_genesis(args.genesis)
        try:
            registration = check_registration(genesis, args.producer_id, bytes(key.verify_key))
        except ProduceError as exc:
            raise ProduceError(f"--key {args.key} / --genesis {args.genesis}: {exc}") from None
    signer = Signer(key, args.producer_id, registration=registration)
    plan = Plan(signer, _topic_map(args))
    is_load = args.count is not None or args.duration is not None
    if is_load:
        if args.field or args.json is not None or args.json_file is not None or args.payload_text:
            raise ProduceError(
                "--count/--duration generate events; do not combine with --field/--json"
            )
        if args.count is not None and args.count < 0:
            raise ProduceError(f"--count must be >= 0, got {args.count}")
        if args.duration is not None and (args.duration <= 0 or args.dry_run or args.out):
            raise ProduceError(
                "--duration must be > 0 and needs Kafka (use --count with --dry-run)"
            )
        if args.rate is not None and args.rate <= 0:
            raise ProduceError(f"--rate must be > 0, got {args.rate}")
        topics = args.topic or sorted(registration.topics if registration else AI_TOPICS)
        if registration is not None:
            for topic in topics:
                if topic not in registration.topics:
                    raise ProduceError(
                        f"producer {args.producer_id!r} may not publish to {topic} (genesis)"
                    )
        seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
        run_id = format(signer.nonces.next(), "x")
        plan.generator = LoadGenerator(random.Random(seed), topics, run_id)
        plan.count, plan.duration, plan.rate = args.count, args.duration, args.rate
        return plan
    if len(args.topic) != 1:
        raise ProduceError(
            "give exactly one --topic for a single event (or --count/--duration for a load)"
        )
    plan.records = [signer.build(args.topic[0], event) for event in _events(args)]
    return plan


def _record_line(record: SignedRecord, kafka_topic: str) -> str:
    return json.dumps(
        {
            "topic": record.topic,
            "kafka_topic": kafka_topic,
            "key": record.key.decode(),
            "id": record.id,
            "nonce": record.nonce,
            "value_hex": record.value.hex(),
            "tx_hash": record.tx_hash.hex(),
        }
    )


def _generated(plan: Plan) -> Iterator[SignedRecord]:
    assert plan.generator is not None
    produced = 0
    while plan.count is None or produced < plan.count:
        topic, fields = plan.generator.next()
        yield plan.signer.build(topic, fields)
        produced += 1


def write_records(plan: Plan, out: IO[str]) -> int:
    """Dry run: write every record as a JSON line; returns how many."""
    n = 0
    records = plan.records if plan.generator is None else _generated(plan)
    for record in records:
        out.write(_record_line(record, plan.topic_map.get(record.topic, record.topic)) + "\n")
        n += 1
    return n


def _progress(quiet: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]produce"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} msg/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
    )


async def publish(
    plan: Plan, bootstrap: str, quiet: bool, kafka: KafkaSettings | None = None
) -> dict[str, Any]:
    """Send the plan's records (or its generated load) and wait for every ack."""
    loop = asyncio.get_running_loop()
    publisher = make_publisher(bootstrap, plan.topic_map, kafka)
    single = plan.generator is None
    pending: list[asyncio.Future[Any]] = []
    acked = 0
    per_topic = dict.fromkeys(AI_TOPICS, 0)
    total = len(plan.records) if single else plan.count
    if total is None and plan.rate and plan.duration:
        total = int(plan.rate * plan.duration)
    async with publisher:
        start = loop.time()
        with _progress(quiet) as progress:
            task = progress.add_task("produce", total=total, rate=0.0)
            for i, record in enumerate(iter(plan.records) if single else _generated(plan)):
                now = loop.time()
                if plan.duration is not None and now - start >= plan.duration:
                    break
                if plan.rate:
                    delay = start + i / plan.rate - now
                    if delay > 0:
                        await asyncio.sleep(delay)
                pending.append(await publisher.send(record))
                per_topic[record.topic] += 1
                if not single and len(pending) >= ACK_WINDOW:
                    await asyncio.gather(*pending)
                    acked += len(pending)
                    pending.clear()
                progress.update(task, advance=1, rate=(i + 1) / max(loop.time() - start, 1e-9))
            await publisher.flush()
            metadata = await asyncio.gather(*pending)
            acked += len(pending)
        elapsed = loop.time() - start
    summary: dict[str, Any] = {
        "published": acked,
        "per_topic": {t: n for t, n in per_topic.items() if n},
        "elapsed_s": round(elapsed, 3),
        "rate_per_s": round(acked / elapsed, 1) if elapsed > 0 else None,
        "bootstrap": bootstrap,
    }
    if single:
        summary["records"] = [
            {
                "topic": r.topic,
                "id": r.id,
                "nonce": r.nonce,
                "tx_hash": r.tx_hash.hex(),
                "partition": md.partition,
                "offset": md.offset,
            }
            for r, md in zip(plan.records, metadata, strict=True)
        ]
    return summary


def run(args: argparse.Namespace) -> int:
    try:
        plan = prepare(args)
        bootstrap = args.bootstrap
        kafka: KafkaSettings | None = None
        if not (args.dry_run or args.out):
            kafka = load_settings().kafka
            if bootstrap:
                kafka = kafka.model_copy(update={"bootstrap": bootstrap})
            bootstrap = kafka.bootstrap
            client_options(kafka)  # a bad TLS/SASL file fails here, before anything is sent
    except (ProduceError, KeyFileError, GenesisError, ConfigError, FieldError, ValueError) as exc:
        print(f"produce: {exc}", file=sys.stderr)
        print("produce: nothing was published", file=sys.stderr)
        return EXIT_INVALID
    if args.dry_run or args.out:
        try:
            with contextlib.ExitStack() as stack:
                out = (
                    stack.enter_context(open(args.out, "w", encoding="utf-8"))
                    if args.out
                    else sys.stdout
                )
                n = write_records(plan, out)
        except (OSError, ProduceError) as exc:
            print(f"produce: {exc}", file=sys.stderr)
            return EXIT_INVALID
        print(
            f"produce: wrote {n} signed record(s) to {args.out or 'stdout'} (dry run, no Kafka)",
            file=sys.stderr,
        )
        return 0
    started = time.monotonic()
    try:
        summary = asyncio.run(publish(plan, bootstrap, args.quiet, kafka))
    except (KafkaError, OSError) as exc:
        print(
            f"produce: Kafka at {bootstrap}: {type(exc).__name__}: {exc} (after {time.monotonic() - started:.1f}s)",
            file=sys.stderr,
        )
        if kafka is not None:
            print(f"produce: {explain_failure(kafka)}", file=sys.stderr)
        return EXIT_KAFKA
    print(json.dumps(summary))
    return 0
