"""Settings: precedence (kwargs > env > TOML > defaults), errors naming the field, unknown keys
rejected, the DSN password kept out of repr, and the checked-in examples load."""

from __future__ import annotations

from pathlib import Path

import pytest

from cybermesh.config import ConfigError, load_settings, redact_url

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CYBERMESH_"):
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    s = load_settings()
    assert (s.kafka.bootstrap, s.admission.skew_ms, s.validator_id) == (
        "127.0.0.1:39092",
        60_000,
        "v0",
    )


def test_precedence_kwargs_over_env_over_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toml(
        tmp_path,
        'validator_id = "from-toml"\nweb_port = 7000\n[kafka]\nbootstrap = "t:1"\n'
        "[admission]\nskew_ms = 5000\n",
    )
    s = load_settings(path)
    assert (s.validator_id, s.web_port, s.kafka.bootstrap, s.admission.skew_ms) == (
        "from-toml",
        7000,
        "t:1",
        5000,
    )
    monkeypatch.setenv("CYBERMESH_WEB_PORT", "7001")
    monkeypatch.setenv("CYBERMESH_KAFKA__BOOTSTRAP", "e:2")
    s = load_settings(path)
    assert (s.validator_id, s.web_port, s.kafka.bootstrap) == ("from-toml", 7001, "e:2")
    assert s.admission.skew_ms == 5000, "env on one nested field keeps the file's siblings"
    s = load_settings(path, web_port=7002)
    assert s.web_port == 7002


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERMESH_CONFIG", str(toml(tmp_path, "[mempool]\nmax_txs = 7\n")))
    assert load_settings().mempool.max_txs == 7


@pytest.mark.parametrize(
    ("env", "value", "field"),
    [
        ("CYBERMESH_KAFKA__BOOTSTRAP", "localhost", "kafka.bootstrap"),
        ("CYBERMESH_KAFKA__BOOTSTRAP", "h:99999", "kafka.bootstrap"),
        ("CYBERMESH_ADMISSION__SKEW_MS", "10", "admission.skew_ms"),
        ("CYBERMESH_ADMISSION__SKEW_MS", "soon", "admission.skew_ms"),
        ("CYBERMESH_WEB_PORT", "0", "web_port"),
        ("CYBERMESH_LOG_LEVEL", "LOUD", "log_level"),
        ("CYBERMESH_MEMPOOL__MAX_TXS", "-1", "mempool.max_txs"),
    ],
)
def test_bad_env_value_names_the_field(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, field: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert f"{field}:" in str(err.value)


def test_bad_toml_value_names_the_field_and_lists_all(tmp_path: Path) -> None:
    path = toml(tmp_path, '[kafka]\nbootstrap = "nope"\npartitions = 0\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "kafka.bootstrap:" in str(err.value) and "kafka.partitions:" in str(err.value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("bogus = 1\n", "bogus"),
        ("[kafka]\nbootstap = 'h:1'\n", "kafka.bootstap"),
        ("[nope]\nx = 1\n", "nope"),
    ],
)
def test_unknown_toml_keys_are_rejected(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"{field}: Extra inputs are not permitted"):
        load_settings(toml(tmp_path, text))


def test_unknown_nested_env_key_and_kwarg_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="bogus"):
        load_settings(bogus=1)
    monkeypatch.setenv("CYBERMESH_ADMISSION__SKEW", "5000")
    with pytest.raises(ConfigError, match=r"admission\.skew: Extra inputs"):
        load_settings()


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings("/nonexistent/cybermesh.toml")


def test_db_password_is_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERMESH_DB_URL", "postgresql+psycopg://app:s3cret-pw@db:5432/cm")
    s = load_settings()
    assert s.db_url.endswith("app:s3cret-pw@db:5432/cm"), "the value itself is intact"
    for text in (repr(s), str(s)):
        assert "s3cret-pw" not in text and "app:***@db:5432" in text
    assert redact_url("sqlite:///x.db") == "sqlite:///x.db"
    assert redact_url("postgresql://u@h/x") == "postgresql://u@h/x"


def test_examples_load(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(EXAMPLES / "cybermesh.toml")
    assert s.consensus_key_path == Path("keys/v0-consensus.key")
    for line in (EXAMPLES / "cybermesh.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            if name == "CYBERMESH_CONFIG":
                value = str(EXAMPLES / "cybermesh.toml")
            monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.validator_id, s.web_port, s.admission.skew_ms, s.mempool.max_txs) == (
        "v1",
        6067,
        30_000,
        50_000,
    )
    assert "change-me" not in repr(s)
