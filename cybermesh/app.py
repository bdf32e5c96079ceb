"""Composition root: the Faust app of one validator (run as `faust -A cybermesh.app worker`).

Configuration comes from cybermesh.config (env CYBERMESH_*, TOML via CYBERMESH_CONFIG). The
app id is `cybermesh-<validator_id>`, so every validator is its own consumer group and sees
every ai.* record. Tables live in RocksDB under data_dir with small caches.

`app` is built on first access (PEP 562 module __getattr__), so importing this module for
`create_app` (tests, tools) needs no configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from prometheus_client import CollectorRegistry

from cybermesh import genesis_io
from cybermesh.admission import Admission, rules_for
from cybermesh.agents.audit import audit_logger
from cybermesh.agents.ingest import Ingest, dlq_topics, register_agents
from cybermesh.agents.ingest_metrics import IngestMetrics
from cybermesh.api.auth.middleware import install as install_access_control
from cybermesh.api.mempool import register_metrics_view, register_views
from cybermesh.api.v1 import register_api
from cybermesh.config import Settings, load_settings
from cybermesh.genesis import Genesis
from cybermesh.kafka.client import faust_options
from cybermesh.mempool import Caps
from cybermesh.tables.mempool import MempoolStore, ReplayStore
from cybermesh.web import register_web
from cybermesh.wire import topics


@dataclass
class Node:
    """The parts of one validator's app that agents, views and tests reach."""

    settings: Settings
    genesis: Genesis
    ingest: Ingest
    mempool: MempoolStore
    replay: ReplayStore
    registry: CollectorRegistry
    agents: dict[str, Any]
    validator: Any = None
    """cybermesh.node.service.Validator (consensus, commit, emit, projection) or None."""


def load_genesis(path: Path) -> Genesis:
    """Read and validate the genesis file (GenesisError names the file and entry)."""
    return genesis_io.load_genesis(path)


def create_app(
    settings: Settings, genesis: Genesis | None = None, *, store: str = "rocksdb://"
) -> faust.App:
    """A validator's Faust app; `app.cybermesh` is its Node."""
    genesis = genesis if genesis is not None else load_genesis(settings.genesis_path)
    ing = settings.ingest
    app = faust.App(
        settings.app_id or f"cybermesh-{settings.validator_id}",
        **faust_options(settings.kafka),  # broker URLs, TLS/SASL credentials, acks=all
        store=store,
        datadir=str(settings.data_dir),
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host=settings.web_bind,
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=max(4096, 2 * ing.batch_size),
        autodiscover=False,
        # a restarted worker rejoins its group only after the dead member's session expires
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        # batch the changelog and DLQ records (linger 0 sent ~2 records per request)
        producer_linger_ms=10,
        producer_max_batch_size=256 * 1024,
        # Faust's default 1 MiB per-partition fetch capped a no-op agent at ~1.4k msg/s here;
        # 16 MiB let it read ~11k msg/s (docs/perf/admission.md)
        consumer_max_fetch_size=16 * 1024 * 1024,
    )
    registry = CollectorRegistry()
    if ing.faust_metrics:
        setup_prometheus_sensors(app, registry=registry, name_prefix="faust")
    else:
        register_metrics_view(app, registry)
    metrics = IngestMetrics(registry)
    replay = ReplayStore(app, settings.kafka.partitions)
    mempool = MempoolStore(
        app,
        Caps(settings.mempool.max_txs, settings.mempool.max_bytes, settings.mempool.max_age_ms),
        settings.kafka.partitions,
        replay,
    )
    adm = settings.admission
    admission = Admission(
        genesis,
        rules_for(
            adm.skew_ms,
            adm.rate_per_s,
            adm.burst,
            {
                topics.ANOMALIES: adm.max_bytes_anomaly,
                topics.EVIDENCE: adm.max_bytes_evidence,
                topics.POLICY: adm.max_bytes_policy,
            },
        ),
    )
    audit_path = settings.data_dir / ing.audit_file if ing.audit_file else None
    ingest = Ingest(
        admission=admission,
        mempool=mempool,
        replay=replay,
        dlqs=dlq_topics(app, ing.topic_prefix),
        validator_id=settings.validator_id,
        metrics=metrics,
        audit=audit_logger(audit_path, settings.validator_id),
        verify_threads=ing.verify_threads,
    )
    agents = register_agents(
        app,
        ingest,
        prefix=ing.topic_prefix,
        batch_size=ing.batch_size,
        within_s=ing.batch_within_ms / 1000,
    )
    register_views(app, mempool)
    register_web(app)
    install_access_control(app, settings.api)  # TLS, authn/authz, limits, headers (docs/AUTH.md)
    validator = None
    if settings.consensus.enabled:
        from cybermesh.node.service import Validator

        validator = Validator(
            settings, genesis, mempool, registry, ingest=ingest, loop=app.loop, beacon=app.beacon
        )
        app.add_dependency(validator)
    app.cybermesh = Node(settings, genesis, ingest, mempool, replay, registry, agents, validator)  # type: ignore[attr-defined]
    register_api(app, app.cybermesh)  # type: ignore[attr-defined]
    return app


_app: faust.App | None = None


def _log_exit() -> None:
    """A worker process says when it exits, so an exit is never silent in its log."""
    import atexit
    import logging
    import os

    pid = os.getpid()
    atexit.register(
        lambda: logging.getLogger("cybermesh").warning("worker process %d exiting", pid)
    )


def checked_start() -> faust.App:
    """The worker's start: settings, genesis, the start-up checks (cybermesh.startup: broker,
    topics, own key in genesis, database migration), then the app. A failed check exits with
    `cybermesh: refusing to start: <setting>: <why>` (exit status 78, EX_CONFIG)."""
    import logging
    import sys

    from cybermesh.config import ConfigError
    from cybermesh.genesis import GenesisError
    from cybermesh.startup import StartupRefused, check

    try:
        settings = load_settings()
        try:
            genesis = load_genesis(settings.genesis_path)
        except GenesisError as exc:
            raise StartupRefused("genesis_path", str(exc)) from None
        check(settings, genesis)
    except (StartupRefused, ConfigError) as exc:
        logging.getLogger("cybermesh").critical("refusing to start: %s", exc)
        print(f"cybermesh: refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(78) from None
    from cybermesh.wire import ed25519

    if ed25519.BACKEND != "native":
        logging.getLogger("cybermesh").warning(
            "Ed25519: the native verifier (cybermesh_native) is not installed; verifying with "
            "libsodium (same decisions, ~1.8x slower): run scripts/install"
        )
    return create_app(settings, genesis)


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            _app = checked_start()
            _log_exit()
        return _app
    raise AttributeError(name)
