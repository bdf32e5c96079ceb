"""`cybermesh token keygen|issue` and the localnet's API key: tokens the validators accept."""

from __future__ import annotations

import json
import os
import time
import tomllib
from pathlib import Path

import pytest

from cybermesh.api.auth import jwt
from cybermesh.api.auth.middleware import keyring
from cybermesh.cli import main
from cybermesh.commands.token import parse_ttl
from cybermesh.config import ApiSettings, load_settings
from cybermesh.localnet import issue_token, prepare


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("CYBERMESH_")]:
        monkeypatch.delenv(name)


def api_from_entry(entry: str) -> ApiSettings:
    """The api settings a validator gets by pasting the keygen entry into its TOML."""
    return ApiSettings(**tomllib.loads(entry.replace("[[api.jwt_keys]]", "[[jwt_keys]]")))


def verify(token: str, api: ApiSettings, now: int | None = None) -> jwt.Claims:
    return jwt.verify(token, keyring(api), audience=api.audience, issuer=api.issuer,
                      now_s=now or int(time.time()), leeway_s=api.leeway_s)  # fmt: skip


@pytest.mark.parametrize("alg", ["EdDSA", "HS256"])
def test_keygen_then_issue_gives_a_token_the_settings_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alg: str
) -> None:
    key = tmp_path / "api.key"
    assert main(["token", "keygen", "--out", str(key), "--alg", alg, "--kid", "k1"]) == 0
    entry = capsys.readouterr().out
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().strip() not in entry  # the secret or seed is never printed
    api = api_from_entry(entry)
    assert main(["token", "issue", "--role", "viewer", "--ttl", "1h", "--kid", "k1", "--alg", alg,
                 "--key", str(key), "--sub", "alice"]) == 0  # fmt: skip
    token = capsys.readouterr().out.strip()
    claims = verify(token, api)
    assert (claims.subject, claims.role, claims.kid) == ("alice", "viewer", "k1")
    assert 3590 <= claims.expires_at - int(time.time()) <= 3600
    assert main(["token", "keygen", "--out", str(key), "--alg", alg]) == 1  # never overwritten


def test_issue_with_the_wrong_key_or_audience_is_refused_by_the_validator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["token", "keygen", "--out", str(tmp_path / "a.key"), "--kid", "a"])
    api = api_from_entry(capsys.readouterr().out)
    main(["token", "keygen", "--out", str(tmp_path / "b.key"), "--kid", "b"])
    capsys.readouterr()
    main(["token", "issue", "--role", "admin", "--kid", "a", "--key", str(tmp_path / "b.key")])
    with pytest.raises(jwt.TokenError, match="bad_signature"):
        verify(capsys.readouterr().out.strip(), api)
    main(
        [
            "token",
            "issue",
            "--role",
            "admin",
            "--kid",
            "a",
            "--key",
            str(tmp_path / "a.key"),
            "--aud",
            "x",
        ]
    )
    with pytest.raises(jwt.TokenError, match="wrong_audience"):
        verify(capsys.readouterr().out.strip(), api)


def test_issue_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "token",
                "issue",
                "--role",
                "viewer",
                "--ttl",
                "forever",
                "--localnet-dir",
                str(tmp_path),
            ]
        )
        == 1
    )
    assert main(["token", "issue", "--role", "viewer", "--localnet-dir", str(tmp_path)]) == 1
    assert "localnet up" in capsys.readouterr().err
    (tmp_path / "short").write_text("x" * 10)
    assert (
        main(
            [
                "token",
                "issue",
                "--role",
                "viewer",
                "--alg",
                "HS256",
                "--key",
                str(tmp_path / "short"),
            ]
        )
        == 1
    )


def test_parse_ttl() -> None:
    assert [parse_ttl(t) for t in ("90", "90s", "15m", "1h", "7d")] == [90, 90, 900, 3600, 604800]
    for bad in ("0", "-1", "1w", "91d", "1.5h", ""):
        with pytest.raises(ValueError):
            parse_ttl(bad)


def test_localnet_configures_access_control_and_issues_tokens_it_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = prepare(tmp_path / "net", 2, bootstrap="127.0.0.1:39999", base_port=46500, db_url=None)
    apis = [load_settings(m.config).api for m in plan.members]
    assert all(a.auth == "jwt" and len(a.jwt_keys) == 1 for a in apis) and apis[0] == apis[1]
    seed = (tmp_path / "net" / "keys" / "api.jwt.key").read_text().strip()
    assert seed not in Path(plan.members[0].config).read_text()  # only the public key
    claims = verify(issue_token(plan.dir, role="operator"), apis[0])
    assert (claims.role, claims.kid) == ("operator", apis[0].jwt_keys[0].kid)
    # `token issue` without --key uses the localnet's key; --url gives the web view's address
    assert main(["token", "issue", "--role", "viewer", "--localnet-dir", plan.dir, "--json",
                 "--url", "http://127.0.0.1:46500"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["url"] == f"http://127.0.0.1:46500/ui/#token={out['token']}"
    assert verify(out["token"], apis[0]).role == "viewer"
    # the key survives another prepare (tokens stay valid across down + up)
    again = prepare(tmp_path / "net", 2, bootstrap="127.0.0.1:39999", base_port=46500, db_url=None)
    assert load_settings(again.members[0].config).api == apis[0]
