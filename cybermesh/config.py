"""One settings object for a validator, from env vars and a TOML file, validated at startup.

Precedence (highest first): explicit keyword arguments, environment variables
(`CYBERMESH_<FIELD>`, nested with `__`, e.g. `CYBERMESH_KAFKA__BOOTSTRAP`), the TOML file named
by `CYBERMESH_CONFIG` (or passed as `config_file`), then defaults.

A bad value fails with `ConfigError` whose message names the field, e.g.
`kafka.bootstrap: ...`. Secret fields are `SecretStr` and never printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class ConfigError(ValueError):
    """Invalid configuration; the message names every bad field."""


def redact_url(url: str) -> str:
    """`url` with its password replaced by `***` (for logs and repr): never print a DSN raw."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable url>"
    if not password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _readable_file(value: Path | None) -> Path | None:
    """A settings path that must name an existing file (None: not set)."""
    if value is not None and not value.is_file():
        raise ValueError(f"{str(value)!r} is not a readable file")
    return value


class KafkaSettings(BaseModel):
    """Every Kafka client of the validator and the CLI (Faust, aiokafka) is built from this section
    by `cybermesh.kafka.client` (docs/DEPLOY.md). Rules:

    1. `security_protocol` PLAINTEXT (local only), SSL (TLS; a client certificate when
       `ssl_certfile`/`ssl_keyfile` are set) or SASL_SSL (TLS + SCRAM-SHA-512 or PLAIN).
       SASL_PLAINTEXT is refused: SASL passwords never travel without TLS.
    2. The broker's certificate is checked against `ssl_cafile` (else the system CAs), host
       name included unless `ssl_check_hostname = false`.
    3. The SASL password comes from `sasl_password_file` (first line) or `sasl_password` (env
       `CYBERMESH_KAFKA__SASL_PASSWORD`), exactly one of them; it is never logged or printed.
    4. Files named here must exist when the settings are loaded (the error names the field).
    """

    model_config = {"extra": "forbid"}

    bootstrap: str = "127.0.0.1:39092"
    """Comma-separated host:port list."""
    partitions: int = Field(default=1, ge=1, le=1024)
    """Partition count of the ai.* topics, their DLQs and the tables' changelogs (kept equal)."""
    replication_factor: int = Field(default=1, ge=1, le=16)
    """Replication factor of every topic the validator creates (production: 3)."""
    min_insync_replicas: int = Field(default=1, ge=1, le=16)
    """`min.insync.replicas` of the topics the validator creates (production: 2 with RF 3);
    with acks=all a write needs this many replicas."""
    dlq_retention_ms: int = Field(default=7 * 24 * 3_600_000, ge=-1)
    """`retention.ms` of the `<ai topic>.dlq` topics (-1 = forever)."""
    control_retention_ms: int = Field(default=30 * 24 * 3_600_000, ge=-1)
    """`retention.ms` of the control.*.v1 topics (derived data: replay re-creates it)."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates (None: the system CAs)."""
    ssl_certfile: Path | None = None
    """PEM client certificate (mutual TLS); needs `ssl_keyfile`."""
    ssl_keyfile: Path | None = None
    """PEM private key of `ssl_certfile` (unencrypted; keep it 0600)."""
    ssl_check_hostname: bool = True
    """Check the broker certificate's host name (SAN) against the bootstrap host."""
    sasl_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr | None = None
    """Prefer `sasl_password_file`; from env CYBERMESH_KAFKA__SASL_PASSWORD only, never in TOML
    files that are committed."""
    sasl_password_file: Path | None = None
    """File whose first line is the SASL password (e.g. a mounted secret)."""
    connect_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)
    """Start-up checks give up on a broker after this long (then refuse to start)."""

    @field_validator("bootstrap")
    @classmethod
    def _hosts(cls, value: str) -> str:
        for part in value.split(","):
            host, sep, port = part.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{part!r} is not host:port")
        return value

    _readable = field_validator(
        "ssl_cafile", "ssl_certfile", "ssl_keyfile", "sasl_password_file"
    )(_readable_file)

    @model_validator(mode="after")
    def _coherent(self) -> KafkaSettings:
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        given = [n for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if getattr(self, n)]
        if given and not tls:
            raise ValueError(f"kafka.{given[0]} is set but kafka.security_protocol is PLAINTEXT")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("kafka.ssl_certfile and kafka.ssl_keyfile go together (mutual TLS)")
        has_password = self.sasl_password is not None or self.sasl_password_file is not None
        if self.security_protocol == "SASL_SSL":
            if not self.sasl_username:
                raise ValueError("kafka.sasl_username is required with security_protocol SASL_SSL")
            if (self.sasl_password is None) == (self.sasl_password_file is None):
                raise ValueError(
                    "kafka.sasl_password_file (or env CYBERMESH_KAFKA__SASL_PASSWORD): give "
                    "exactly one with security_protocol SASL_SSL"
                )
        elif self.sasl_username or has_password:
            raise ValueError(
                "kafka.sasl_username/sasl_password are set but kafka.security_protocol is "
                f"{self.security_protocol} (use SASL_SSL)"
            )
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"kafka.min_insync_replicas {self.min_insync_replicas} > "
                f"kafka.replication_factor {self.replication_factor}"
            )
        return self


class AdmissionSettings(BaseModel):
    model_config = {"extra": "forbid"}

    skew_ms: int = Field(default=60_000, ge=1_000, le=3_600_000)
    """Allowed |ts - now| for admission; the replay cache keeps nonces for 2 x skew."""
    rate_per_s: int = Field(default=5_000, ge=1)
    """Per-producer token-bucket refill rate."""
    burst: int = Field(default=10_000, ge=1)
    """Per-producer token-bucket capacity."""
    max_bytes_anomaly: int = Field(default=64 * 1024, ge=256)
    max_bytes_evidence: int = Field(default=64 * 1024, ge=256)
    max_bytes_policy: int = Field(default=16 * 1024, ge=256)


class ConsensusSettings(BaseModel):
    """Pacemaker and sync knobs of the consensus core (docs/CONSENSUS.md)."""

    model_config = {"extra": "forbid"}

    base_timeout_ms: int = Field(default=1_000, ge=10, le=600_000)
    """Round timeout after a round that ended with a QC."""
    max_timeout_ms: int = Field(default=30_000, ge=10, le=3_600_000)
    """Cap of the exponentially backed-off round timeout."""
    empty_block_delay_ms: int = Field(default=250, ge=0, le=60_000)
    """An idle leader holds an empty block back this long after entering its round (0 = never;
    docs/CONSENSUS.md "Proposal pacing"). Must be below base_timeout_ms / 2."""
    sync_batch: int = Field(default=64, ge=1, le=256)
    """Blocks asked for (and served) per sync request."""
    keep_committed: int = Field(default=10_000, ge=100)
    """Recent committed blocks kept in memory to serve peers' sync requests."""
    safety_file: str = "consensus/safety.pb"
    """Safety data file, relative to data_dir (fsync'd before every vote/timeout)."""
    enabled: bool = True
    """Run consensus, execution and the commit path in the worker (False: ingest only)."""
    project: bool = True
    """Project committed blocks into the SQL database at `db_url` (migrated at start)."""
    catch_up: bool = True
    """At start, replay ledger.blocks.v1 above this validator's height before joining
    consensus (peers serve only their last keep_committed blocks; docs/NODE.md)."""
    rejoin_after_ms: int = Field(default=10_000, ge=0, le=3_600_000)
    """Live rejoin: when this node has heard of certified heights well above its committed one
    and its committed height has not moved for this long, pause consensus, catch up from
    ledger.blocks.v1 and rebuild the replica (0 = never; at least 2 * base_timeout_ms;
    docs/NODE.md "Live rejoin")."""

    @model_validator(mode="after")
    def _pacing_below_timeout(self) -> ConsensusSettings:
        if self.empty_block_delay_ms * 2 > self.base_timeout_ms:
            raise ValueError(
                f"empty_block_delay_ms ({self.empty_block_delay_ms}) must be at most half of "
                f"base_timeout_ms ({self.base_timeout_ms}): followers would time out the round"
            )
        if 0 < self.rejoin_after_ms < 2 * self.base_timeout_ms:
            raise ValueError(
                f"rejoin_after_ms ({self.rejoin_after_ms}) must be 0 (off) or at least twice "
                f"base_timeout_ms ({self.base_timeout_ms}): sync gets a few rounds to catch up first"
            )
        return self


class MempoolSettings(BaseModel):
    model_config = {"extra": "forbid"}

    max_txs: int = Field(default=100_000, ge=1)
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    max_age_ms: int = Field(default=600_000, ge=1_000)


class StateSettings(BaseModel):
    """Merkleized state store (docs/STATE.md §8)."""

    model_config = {"extra": "forbid"}

    snapshot_interval: int = Field(default=1_000, ge=0)
    """Export a state snapshot every this many blocks (0 = never)."""
    snapshot_keep: int = Field(default=2, ge=1)
    """Snapshot files kept in <data_dir>/snapshots."""
    retention_versions: int = Field(default=10_000, ge=0)
    """State versions kept readable (proofs, reads at a height); 0 = keep all."""
    node_cache: int = Field(default=1 << 18, ge=1_024)
    """Decoded Merkle pages (16-ary, about 1.1 KB each) cached in memory."""
    sync: bool = False
    """fsync the RocksDB WAL on every block (the block log can replay what a crash loses)."""


class P2PSettings(BaseModel):
    """The libp2p transport (docs/P2P.md). Peers and their addresses come from genesis."""

    model_config = {"extra": "forbid"}

    listen: str = "/ip4/0.0.0.0/tcp/7100"
    """Multiaddr to listen on, /ip4|ip6/HOST/tcp/PORT (port 0 = ephemeral)."""
    max_frame_consensus: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Largest consensus message, bytes; larger inbound frames reset the stream."""
    max_frame_sync: int = Field(default=32 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    """Largest sync request or response, bytes."""
    inbound_queue: int = Field(default=10_000, ge=1)
    """Messages waiting for the consensus driver; when full, readers block (backpressure)."""
    outbound_queue: int = Field(default=1_000, ge=1)
    """Messages per peer and protocol waiting to be sent; when full, the oldest is dropped."""
    rate_per_s: int = Field(default=5_000, ge=1)
    """Inbound messages per second per peer (token-bucket refill); excess is dropped."""
    burst: int = Field(default=10_000, ge=1)
    """Inbound token-bucket capacity per peer."""
    backoff_base_ms: int = Field(default=200, ge=1)
    """First redial delay; doubles per failure (with jitter) up to backoff_cap_ms."""
    backoff_cap_ms: int = Field(default=10_000, ge=1)
    dial_grace_ms: int = Field(default=1_000, ge=0)
    """The peer with the larger id waits this long before its first dial."""

    @field_validator("listen")
    @classmethod
    def _multiaddr(cls, value: str) -> str:
        from cybermesh.p2p.multiaddr import Multiaddr, MultiaddrError

        try:
            addr = Multiaddr.parse(value)
        except MultiaddrError as exc:
            raise ValueError(str(exc)) from None
        if addr.proto not in ("ip4", "ip6"):
            raise ValueError(f"{value!r}: listen on an /ip4 or /ip6 address")
        return value


class IngestSettings(BaseModel):
    """The ingest agents (cybermesh/agents/ingest.py, docs/ADMISSION.md)."""

    model_config = {"extra": "forbid"}

    topic_prefix: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9._-]*$")
    """Kafka topic name = prefix + contract name (e.g. "t1-" + "ai.anomalies.v1"); DLQs follow.
    Signatures always cover the contract name. Empty in production; tests use unique prefixes."""
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    """Records per admission batch (stream.take)."""
    batch_within_ms: int = Field(default=50, ge=1, le=10_000)
    """Longest wait to fill a batch."""
    verify_threads: int = Field(default=0, ge=0, le=64)
    """Threads that verify a batch's Ed25519 signatures beside the event loop (0 = inline).
    On the 2-core test box (broker on the same machine) 2 threads measured no gain: the
    threads wait for the GIL between verifications (docs/perf/admission.md)."""
    faust_metrics: bool = False
    """Also install Faust's Prometheus sensor (per-event stage metrics at /metrics). Off by
    default: it measured ~40% of agent throughput (docs/perf/admission.md)."""
    audit_file: str = "audit.jsonl"
    """Audit log of rejections (JSON lines), relative to data_dir; "" logs to stderr only."""


class DbSettings(BaseModel):
    """Connection options of the SQL projection database at `db_url` (cybermesh/storage/engine.py,
    docs/DEPLOY.md). Rules:

    1. The TLS options (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) are libpq parameters; set
       here they override the same parameters in `db_url`'s query string. CockroachDB in
       production: `sslmode = "verify-full"` with the cluster CA and a client certificate.
    2. `statement_timeout_ms` and `application_name` are sent at connect time (libpq `options`
       `-c statement_timeout=...`, `application_name`), so they hold for every statement.
    3. Pool: `pool_size` connections kept, `max_overflow` more on demand, each recycled after
       `pool_recycle_s` and checked (pre-ping) before use.
    4. `migrate_on_start`: None = migrate a SQLite file (private to this validator) and REFUSE
       to start on a server database (PostgreSQL/CockroachDB, possibly shared) that is not at
       the newest revision (run `cybermesh db upgrade`); true/false = always/never migrate.
    SQLite ignores 1-3.
    """

    model_config = {"extra": "forbid"}

    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    sslrootcert: Path | None = None
    """CA certificate(s) of the database server (PEM)."""
    sslcert: Path | None = None
    """Client certificate (PEM), e.g. CockroachDB's client.<user>.crt."""
    sslkey: Path | None = None
    """Private key of `sslcert` (0600)."""
    statement_timeout_ms: int = Field(default=30_000, ge=0)
    """Server-side statement timeout (0 = none)."""
    connect_timeout_s: int = Field(default=5, ge=1, le=300)
    pool_size: int = Field(default=2, ge=1, le=100)
    max_overflow: int = Field(default=2, ge=0, le=100)
    pool_recycle_s: int = Field(default=1_800, ge=-1)
    """Reconnect connections older than this (-1 = never); keep it below load-balancer idle cuts."""
    pool_timeout_s: int = Field(default=30, ge=1)
    """Wait this long for a free pooled connection before failing."""
    application_name: str = Field(default="cybermesh", max_length=63, pattern=r"^[A-Za-z0-9._-]+$")
    migrate_on_start: bool | None = None

    _readable = field_validator("sslrootcert", "sslcert", "sslkey")(_readable_file)

    @model_validator(mode="after")
    def _coherent(self) -> DbSettings:
        if (self.sslcert is None) != (self.sslkey is None):
            raise ValueError("db.sslcert and db.sslkey go together (client certificate)")
        if self.sslmode in ("verify-ca", "verify-full") and self.sslrootcert is None:
            raise ValueError(f"db.sslrootcert is required with db.sslmode {self.sslmode}")
        return self


class JwtKeySettings(BaseModel):
    """One JWT verification key. Several may be configured at once: rotation by `kid`
    (docs/AUTH.md). A token is checked with the key its header's `kid` names, and only with
    that key's `alg`."""

    model_config = {"extra": "forbid"}

    kid: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    """Key id (the `kid` header of tokens signed with this key); unique."""
    alg: Literal["EdDSA", "HS256"]
    """EdDSA (Ed25519; the validator holds only the public key) or HS256 (shared secret)."""
    public_key: str = Field(default="", pattern=r"^([0-9a-fA-F]{64})?$")
    """EdDSA only: the Ed25519 public key, 64 hex chars (public, so it may sit in the TOML)."""
    secret_file: Path | None = None
    """HS256 only: a file holding the shared secret (its bytes, surrounding whitespace
    stripped; at least 32). Secrets are never written inline in settings or logs."""

    @model_validator(mode="after")
    def _material(self) -> JwtKeySettings:
        if self.alg == "EdDSA" and (not self.public_key or self.secret_file is not None):
            raise ValueError(f"kid {self.kid}: EdDSA takes public_key (hex), not secret_file")
        if self.alg == "HS256" and (self.secret_file is None or self.public_key):
            raise ValueError(f"kid {self.kid}: HS256 takes secret_file, not public_key")
        return self


AuthMode = Literal["jwt", "mtls", "both", "none"]


class ApiSettings(BaseModel):
    """Access control of the worker's web server (docs/AUTH.md). Health, readiness and the
    OpenAPI document are always public; every other route needs an identity and a role."""

    model_config = {"extra": "forbid"}

    auth: AuthMode = "jwt"
    """jwt: `Authorization: Bearer <token>`. mtls: TLS client certificate from `client_ca`
    (required in the handshake). both: either one (the TLS layer asks for a certificate but
    does not require it; a bearer token, when sent, decides). none: no authentication, every
    route open (only when set explicitly; logged as a warning at start)."""
    audience: str = Field(default="cybermesh-api", min_length=1)
    """Tokens must carry this in `aud`."""
    issuer: str = ""
    """If set, tokens must carry exactly this `iss`."""
    leeway_s: int = Field(default=60, ge=0, le=600)
    """Clock skew tolerated on exp, nbf and iat."""
    jwt_keys: list[JwtKeySettings] = []
    """Verification keys; in TOML `[[api.jwt_keys]]` tables."""
    tls_cert: Path | None = None
    """Server certificate chain (PEM). With tls_key, the web server speaks HTTPS only."""
    tls_key: Path | None = None
    """Server private key (PEM)."""
    client_ca: Path | None = None
    """CA bundle (PEM) that client certificates must chain to (modes mtls and both)."""
    client_roles: dict[str, str] = {}
    """Client certificate name -> role. Names are `CN=<common name>` or a SAN as
    `DNS:<name>`, `URI:<uri>`, `email:<address>`, `IP Address:<ip>`; the certificate's CN is
    tried first, then its SANs in order; the first name listed here wins."""
    roles: dict[str, list[Literal["read", "ops", "admin", "*"]]] = {
        "viewer": ["read"],
        "operator": ["read", "ops"],
        "admin": ["*"],
    }
    """Role -> permissions (read: chain data; ops: mempool, DLQ, metrics; `*`: all).
    A role not listed here is granted nothing (403)."""
    rate_per_s: int = Field(default=50, ge=1, le=100_000)
    """Requests per second per client (token-bucket refill); excess answers 429."""
    burst: int = Field(default=100, ge=1, le=1_000_000)
    """Token-bucket capacity per client."""
    max_inflight: int = Field(default=64, ge=1, le=10_000)
    """Requests in handlers at once (all clients); over the cap answers 429."""
    max_inflight_per_client: int = Field(default=8, ge=1, le=10_000)
    """Requests in handlers at once per client; over the cap answers 429."""
    max_clients: int = Field(default=10_000, ge=1)
    """Rate-limit buckets remembered (least recently used forgotten first)."""
    access_log: bool = True
    """One JSON line per request on the `cybermesh.access` logger (never tokens or bodies)."""

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @model_validator(mode="after")
    def _consistent(self) -> ApiSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.auth in ("mtls", "both") and (self.tls_cert is None or self.client_ca is None):
            raise ValueError(f"auth = {self.auth!r} needs tls_cert, tls_key and client_ca")
        if self.client_ca is not None and self.tls_cert is None:
            raise ValueError("client_ca needs tls_cert and tls_key (client certificates need TLS)")
        kids = [k.kid for k in self.jwt_keys]
        if len(kids) != len(set(kids)):
            raise ValueError(f"jwt_keys: duplicate kid in {sorted(kids)}")
        unknown = sorted({r for r in self.client_roles.values() if r not in self.roles})
        if unknown:
            raise ValueError(f"client_roles: roles {unknown} are not in roles")
        return self


class Settings(BaseSettings):
    """Validator settings. Field docs say what each one does."""

    model_config = SettingsConfigDict(
        env_prefix="CYBERMESH_", env_nested_delimiter="__", extra="forbid"
    )
    toml_file: ClassVar[str | None] = None

    validator_id: str = "v0"
    app_id: str = Field(default="", max_length=200, pattern=r"^[A-Za-z0-9._-]*$")
    """Faust app id (consumer group, changelog topic names); default `cybermesh-<validator_id>`."""
    """This validator's id in genesis; also the Faust app id suffix."""
    genesis_path: Path = Path("genesis.json")
    consensus_key_path: Path = Path("keys/consensus.key")
    node_key_path: Path = Path("keys/node.key")
    data_dir: Path = Path(".local/data/v0")
    """RocksDB tables, state store and consensus safety data live here."""
    web_port: int = Field(default=6066, ge=1, le=65535)
    web_bind: str = "127.0.0.1"
    """Address the worker's web server (views, /metrics) listens on; 0.0.0.0 in containers."""
    db_url: str = "sqlite:///.local/data/v0/projection.db"
    """SQL projection: sqlite:///..., postgresql+psycopg://..., cockroachdb+psycopg://..."""
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    kafka: KafkaSettings = KafkaSettings()
    admission: AdmissionSettings = AdmissionSettings()
    consensus: ConsensusSettings = ConsensusSettings()
    mempool: MempoolSettings = MempoolSettings()
    state: StateSettings = StateSettings()
    p2p: P2PSettings = P2PSettings()
    ingest: IngestSettings = IngestSettings()
    db: DbSettings = DbSettings()
    api: ApiSettings = ApiSettings()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """repr/str show `db_url` with its password redacted (secrets never logged)."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "db_url" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = cls.toml_file or os.environ.get("CYBERMESH_CONFIG")
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build and validate the settings; raise ConfigError naming each bad field."""
    if config_file is not None and not Path(config_file).is_file():
        raise ConfigError(f"config file: {config_file} does not exist")
    Settings.toml_file = str(config_file) if config_file is not None else None
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"{field}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    finally:
        Settings.toml_file = None
