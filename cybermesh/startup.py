"""Start-up checks of a validator worker: refuse to start, naming the setting, instead of
failing later with a stack trace (issue 9, docs/DEPLOY.md §Start-up checks).

`check(settings, genesis)` runs, in this order, and raises `StartupRefused(setting, detail)` on
the first failure:
1. Genesis identity (consensus enabled; an ingest-only worker is no validator):
   `validator_id` is a validator of the genesis, and the public keys of `consensus_key_path`
   and `node_key_path` are the ones genesis lists for it.
2. Kafka: a bootstrap broker accepts a connection with the security settings (TLS handshake,
   SASL login; cybermesh.kafka.check), then every topic of `validator_topics` exists or is
   created (cybermesh.kafka.topics; a missing topic that cannot be created refuses start-up);
   an existing ledger topic with a finite retention is logged as a warning (replay needs it all).
3. Database (consensus enabled and `consensus.project`): the projection database answers and
   is at the newest migration, or is migrated when `db.migrate_on_start` allows it
   (None: SQLite files yes, server databases no).
4. Ed25519: the verifier in use (cybermesh.wire.ed25519) decides its self-check vectors as
   the acceptance rule says (a different libsodium, or a broken build of the extension, would
   make this validator disagree with the others on signatures: setting `ed25519`).
NOTE: runs before the Faust app is built, on an event loop of its own that it closes again
(Faust makes its own loop later).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from cybermesh.config import Settings
from cybermesh.genesis import Genesis

log = logging.getLogger("cybermesh.startup")


class StartupRefused(RuntimeError):
    """The worker must not start; `setting` names what to fix."""

    def __init__(self, setting: str, detail: str) -> None:
        super().__init__(f"{setting}: {detail}")
        self.setting = setting
        self.detail = detail


def check_genesis(settings: Settings, genesis: Genesis) -> None:
    """Rule 1."""
    from cybermesh.keys import KeyFileError, load_signing_key

    if not settings.consensus.enabled:
        return
    me = genesis.validator(settings.validator_id)
    if me is None:
        ids = ", ".join(v.id for v in genesis.validators)
        raise StartupRefused(
            "validator_id",
            f"{settings.validator_id!r} is not a validator in genesis {settings.genesis_path} "
            f"(validators: {ids})",
        )
    for setting, path, want in (
        ("consensus_key_path", settings.consensus_key_path, me.consensus_pubkey),
        ("node_key_path", settings.node_key_path, me.node_pubkey),
    ):
        try:
            have = bytes(load_signing_key(path).verify_key)
        except KeyFileError as exc:
            raise StartupRefused(setting, str(exc)) from None
        if have != want:
            raise StartupRefused(
                setting,
                f"the key in {path} (public key {have.hex()[:16]}...) is not validator "
                f"{me.id!r}'s key in genesis {settings.genesis_path} ({want.hex()[:16]}...)",
            )


async def check_kafka(settings: Settings) -> list[str]:
    """Rule 2; returns the topics it created."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    from cybermesh.kafka import check
    from cybermesh.kafka.client import KafkaSettingsError, client_options
    from cybermesh.kafka.topics import ensure_topics, ledger_retention_problem, validator_topics
    from cybermesh.wire.topics import LEDGER_BLOCKS

    k = settings.kafka
    try:
        await check.probe(k)
        admin = AIOKafkaAdminClient(**client_options(k), request_timeout_ms=k.connect_timeout_ms)
        try:
            await admin.start()
            created = await ensure_topics(
                admin, validator_topics(k, settings.ingest.topic_prefix),
                timeout_s=max(30.0, k.connect_timeout_ms / 1000),
            )
            problem = await ledger_retention_problem(admin, settings.ingest.topic_prefix + LEDGER_BLOCKS)
            if problem:
                log.warning("%s", problem)
            return created
        finally:
            await admin.close()
    except KafkaSettingsError as exc:
        raise StartupRefused(exc.setting, str(exc).split(": ", 1)[1]) from None
    except (KafkaError, OSError, TimeoutError) as exc:  # after a successful probe: the cluster
        raise StartupRefused(
            "kafka.bootstrap",
            f"the cluster at {k.bootstrap} failed the topic check: {type(exc).__name__}: {exc}",
        ) from None


def should_migrate(settings: Settings) -> bool:
    """Rule 3's migrate decision."""
    if settings.db.migrate_on_start is not None:
        return settings.db.migrate_on_start
    return settings.db_url.startswith("sqlite")


def check_db(settings: Settings) -> None:
    """Rule 3."""
    if not (settings.consensus.enabled and settings.consensus.project):
        return
    from sqlalchemy.exc import SQLAlchemyError

    from cybermesh.storage import migrate
    from cybermesh.storage.engine import redacted

    url = settings.db_url
    try:
        if should_migrate(settings):
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            migrate.upgrade(url, options=settings.db)
            return
        have = migrate.current(url, options=settings.db)
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StartupRefused("db_url", f"cannot use the database {redacted(url)}: {reason}") from None
    head = migrate.head()
    if have != head:
        raise StartupRefused(
            "db_url",
            f"the database {redacted(url)} is at migration {have or '(none)'}, this version "
            f"needs {head}: run `cybermesh db upgrade` first (or set db.migrate_on_start = true)",
        )


def check_ed25519() -> None:
    """Rule 4."""
    from cybermesh.wire import ed25519

    wrong = ed25519.self_check()
    if wrong:
        raise StartupRefused(
            "ed25519",
            f"the {ed25519.BACKEND} verifier decides these self-check vectors against the "
            f"acceptance rule (docs/SIGNING.md §8): {'; '.join(wrong)}",
        )


def check(settings: Settings, genesis: Genesis) -> None:
    """Rules 1-4 (blocking; call before the Faust app starts)."""
    check_genesis(settings, genesis)
    check_ed25519()
    loop = asyncio.new_event_loop()
    try:
        created = loop.run_until_complete(check_kafka(settings))
    finally:
        loop.close()
    if created:
        log.info("created Kafka topics: %s", ", ".join(created))
    check_db(settings)
