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
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, ValidationError, field_validator
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


class KafkaSettings(BaseModel):
    model_config = {"extra": "forbid"}

    bootstrap: str = "127.0.0.1:39092"
    """Comma-separated host:port list."""
    partitions: int = Field(default=1, ge=1, le=1024)
    """Partition count of the ai.* topics and of the tables' changelogs (kept equal)."""
    replication_factor: int = Field(default=1, ge=1, le=16)

    @field_validator("bootstrap")
    @classmethod
    def _hosts(cls, value: str) -> str:
        for part in value.split(","):
            host, sep, port = part.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{part!r} is not host:port")
        return value


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


class Settings(BaseSettings):
    """Validator settings. Field docs say what each one does."""

    model_config = SettingsConfigDict(
        env_prefix="CYBERMESH_", env_nested_delimiter="__", extra="forbid"
    )
    toml_file: ClassVar[str | None] = None

    validator_id: str = "v0"
    """This validator's id in genesis; also the Faust app id suffix."""
    genesis_path: Path = Path("genesis.json")
    consensus_key_path: Path = Path("keys/consensus.key")
    node_key_path: Path = Path("keys/node.key")
    data_dir: Path = Path(".local/data/v0")
    """RocksDB tables, state store and consensus safety data live here."""
    web_port: int = Field(default=6066, ge=1, le=65535)
    db_url: str = "sqlite:///.local/data/v0/projection.db"
    """SQL projection: sqlite:///..., postgresql+psycopg://..., cockroachdb+psycopg://..."""
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    kafka: KafkaSettings = KafkaSettings()
    admission: AdmissionSettings = AdmissionSettings()
    mempool: MempoolSettings = MempoolSettings()
    state: StateSettings = StateSettings()

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
