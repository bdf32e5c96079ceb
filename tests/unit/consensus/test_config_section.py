"""The `consensus` settings section: defaults, env override, errors naming the field."""

from __future__ import annotations

import pytest

from cybermesh.config import ConfigError, load_settings


def test_defaults_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().consensus.base_timeout_ms == 1000
    monkeypatch.setenv("CYBERMESH_CONSENSUS__MAX_TIMEOUT_MS", "5000")
    assert load_settings().consensus.max_timeout_ms == 5000


def test_bad_value_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"consensus\.sync_batch"):
        load_settings(consensus={"sync_batch": 0})


def test_a_pacing_delay_above_half_the_round_timeout_is_refused() -> None:
    assert load_settings().consensus.empty_block_delay_ms == 250
    with pytest.raises(ConfigError, match=r"consensus.*empty_block_delay_ms \(600\).*base_timeout_ms \(1000\)"):
        load_settings(consensus={"empty_block_delay_ms": 600})
    assert load_settings(consensus={"empty_block_delay_ms": 0}).consensus.empty_block_delay_ms == 0


def test_rejoin_after_ms_defaults_to_10_s_and_bad_values_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().consensus.rejoin_after_ms == 10_000
    assert load_settings(consensus={"rejoin_after_ms": 0}).consensus.rejoin_after_ms == 0  # off
    monkeypatch.setenv("CYBERMESH_CONSENSUS__REJOIN_AFTER_MS", "4000")
    assert load_settings().consensus.rejoin_after_ms == 4000
    with pytest.raises(ConfigError, match=r"consensus\.rejoin_after_ms"):
        load_settings(consensus={"rejoin_after_ms": -1})
    with pytest.raises(ConfigError, match=r"consensus.*rejoin_after_ms \(1500\).*base_timeout_ms \(1000\)"):
        load_settings(consensus={"rejoin_after_ms": 1500})
