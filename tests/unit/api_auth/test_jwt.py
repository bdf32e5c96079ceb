"""JWS/JWT verification (cybermesh/api/auth/jwt.py): RFC vectors and every refusal rule."""

from __future__ import annotations

import base64
import json

import nacl.signing
import pytest

from cybermesh.api.auth import jwt
from cybermesh.api.auth.jwt import SigningKey, TokenError, VerificationKey

NOW = 1_800_000_000
AUD = "cybermesh-api"
ED_SEED = bytes(range(32))
HS_SECRET = b"s" * 32
ED = SigningKey("ed-1", "EdDSA", ED_SEED)
HS = SigningKey("hs-1", "HS256", HS_SECRET)
KEYS = {k.kid: k.verification_key() for k in (ED, HS)}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(key: SigningKey = ED, **claims: object) -> str:
    body = {"sub": "alice", "role": "viewer", "aud": AUD, "iat": NOW, "nbf": NOW, "exp": NOW + 3600}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.sign_jws({"alg": key.alg, "kid": key.kid}, json.dumps(body).encode(), key)


def verify(tok: str, now: int = NOW, **kw: object) -> jwt.Claims:
    args: dict[str, object] = {"audience": AUD, "now_s": now, "leeway_s": 30}
    args.update(kw)
    return jwt.verify(tok, KEYS, **args)  # type: ignore[arg-type]


def reason(tok: str, now: int = NOW, **kw: object) -> str:
    with pytest.raises(TokenError) as info:
        verify(tok, now, **kw)
    return info.value.reason


# --- RFC vectors ---------------------------------------------------------------------------


def test_rfc8037_a4_ed25519_vector_signs_and_verifies() -> None:
    d = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    expected = ("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
                "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")  # fmt: skip
    assert bytes(nacl.signing.SigningKey(d).verify_key) == x
    key = SigningKey("rfc", "EdDSA", d)
    signed = jwt.sign_jws({"alg": "EdDSA"}, b"Example of Ed25519 signing", key)
    # our header serialization equals the RFC's here ({"alg":"EdDSA"}), so the bytes match
    assert signed == expected
    header, payload = jwt.verify_jws(expected, VerificationKey("rfc", "EdDSA", x))
    assert header == {"alg": "EdDSA"} and payload == b"Example of Ed25519 signing"


def test_rfc7515_a1_hs256_vector_verifies_and_a_flipped_bit_does_not() -> None:
    k = base64.urlsafe_b64decode(
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow=="
    )
    tok = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
           "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
           "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")  # fmt: skip
    key = VerificationKey("rfc", "HS256", k)
    header, payload = jwt.verify_jws(tok, key)
    assert header == {"typ": "JWT", "alg": "HS256"}
    assert json.loads(payload)["iss"] == "joe"
    with pytest.raises(TokenError, match="bad_signature"):
        jwt.verify_jws(tok[:-2] + ("Xk" if tok[-2:] != "Xk" else "Yk"), key)


# --- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [ED, HS], ids=["EdDSA", "HS256"])
def test_a_valid_token_yields_its_claims(key: SigningKey) -> None:
    claims = verify(token(key, jti="t-1"))
    assert (claims.subject, claims.role, claims.kid, claims.expires_at, claims.token_id) == (
        "alice", "viewer", key.kid, NOW + 3600, "t-1")  # fmt: skip


def test_issue_round_trips_and_several_kids_are_valid_at_once() -> None:
    old = SigningKey("old", "EdDSA", b"\x01" * 32)
    keys = {**KEYS, "old": old.verification_key()}
    for k in (old, ED, HS):
        tok = jwt.issue(k, subject="ops", role="operator", audience=AUD, now_s=NOW, ttl_s=60, issuer="me")
        c = jwt.verify(tok, keys, audience=AUD, issuer="me", now_s=NOW + 59)
        assert (c.subject, c.role, c.kid, c.issuer) == ("ops", "operator", k.kid, "me")


def test_audience_may_be_a_list_and_leeway_applies() -> None:
    assert verify(token(aud=["other", AUD])).subject == "alice"
    assert verify(token(), now=NOW + 3600 + 29).subject == "alice"  # within 30 s leeway
    assert verify(token(nbf=NOW + 20, iat=NOW + 20)).subject == "alice"


# --- refused -------------------------------------------------------------------------------


def test_expiry_and_time_claims() -> None:
    assert reason(token(), now=NOW + 3600 + 30) == "expired"
    assert reason(token(exp=None)) == "missing_claim"
    assert reason(token(exp="tomorrow")) == "malformed"
    assert reason(token(exp=True)) == "malformed"
    assert reason(token(nbf=NOW + 31)) == "not_yet_valid"
    assert reason(token(iat=NOW + 31)) == "issued_in_future"


def test_audience_issuer_subject() -> None:
    assert reason(token(aud="someone-else")) == "wrong_audience"
    assert reason(token(aud=None)) == "wrong_audience"
    assert reason(token(aud=[1, 2])) == "wrong_audience"
    assert reason(token(iss="mallory"), issuer="me") == "wrong_issuer"
    assert reason(token(), issuer="me") == "wrong_issuer"
    assert reason(token(sub=None)) == "missing_claim"
    assert reason(token(sub="")) == "missing_claim"
    assert reason(token(role=["admin"])) == "malformed"


def test_unknown_kid_and_wrong_key() -> None:
    stranger = SigningKey("ed-1", "EdDSA", b"\x09" * 32)  # same kid, another key
    assert reason(token(stranger)) == "bad_signature"
    assert reason(token(SigningKey("nope", "EdDSA", ED_SEED))) == "unknown_kid"
    head = b64(json.dumps({"alg": "EdDSA"}).encode())
    assert reason(f"{head}.{token().split('.', 1)[1]}") == "unknown_kid"


def test_tampered_payload_or_signature() -> None:
    h, p, s = token().split(".")
    forged = b64(json.dumps({"sub": "alice", "role": "admin", "aud": AUD, "exp": NOW + 3600}).encode())
    assert reason(f"{h}.{forged}.{s}") == "bad_signature"
    flipped = bytearray(base64.urlsafe_b64decode(s + "=="))
    flipped[10] ^= 1
    assert reason(f"{h}.{p}.{b64(bytes(flipped))}") == "bad_signature"
    assert reason(f"{h}.{p}.") == "bad_signature"


def test_alg_none_and_alg_confusion_are_refused() -> None:
    body = token().split(".")[1]
    none_head = b64(json.dumps({"alg": "none", "kid": "ed-1"}).encode())
    assert reason(f"{none_head}.{body}.") == "alg_not_allowed"
    # HS256 with the Ed25519 PUBLIC key as the HMAC secret, under the EdDSA kid
    pub = KEYS["ed-1"].material
    confused = jwt.sign_jws({"alg": "HS256", "kid": "ed-1"}, base64.urlsafe_b64decode(body + "=="),
                            SigningKey("ed-1", "HS256", pub))  # fmt: skip
    assert reason(confused) == "alg_not_allowed"
    # an EdDSA header under the HS256 kid
    assert reason(token(SigningKey("hs-1", "EdDSA", ED_SEED))) == "alg_not_allowed"


@pytest.mark.parametrize(
    "bad",
    ["", "a.b", "a.b.c.d", "!!!.e30.", "eyJhbGciOiJFZERTQSJ9=.e30.", "W10.e30.",
     b64(b'{"alg":"EdDSA","kid":"ed-1","kid":"hs-1"}') + ".e30.", "x" * 9000],
)  # fmt: skip
def test_malformed_tokens(bad: str) -> None:
    assert reason(bad) == "malformed"


def test_crit_header_is_refused() -> None:
    key = ED
    tok = jwt.sign_jws({"alg": "EdDSA", "kid": "ed-1", "crit": ["exp"]},
                       token().split(".")[1].encode(), key)  # fmt: skip
    assert reason(tok) == "malformed"


def test_non_canonical_base64_is_refused() -> None:
    h, p, s = token().split(".")
    # the last char of a 64-byte signature carries 4 unused bits: set one of them
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twisted = s[:-1] + alphabet[alphabet.index(s[-1]) | 1]
    assert twisted != s
    assert reason(f"{h}.{p}.{twisted}") == "malformed"


def test_keys_never_show_their_secret() -> None:
    assert "s" * 32 not in repr(HS) + repr(HS.verification_key())
    with pytest.raises(ValueError):
        VerificationKey("short", "HS256", b"x" * 31)


def test_the_verifier_remembers_good_tokens_only_and_still_checks_time_and_audience() -> None:
    verifier = jwt.TokenVerifier(KEYS, size=2)
    good = token()
    first = verifier.signed_claims(good)
    assert verifier.signed_claims(good) is first  # remembered: no second verification
    rules = {"audience": AUD, "issuer": "", "leeway_s": 0}
    assert jwt.checked(first, now_s=NOW, **rules).subject == "alice"  # type: ignore[arg-type]
    with pytest.raises(TokenError, match="expired"):  # time rules still apply to a remembered token
        jwt.checked(verifier.signed_claims(good), now_s=NOW + 3600, **rules)  # type: ignore[arg-type]
    with pytest.raises(TokenError, match="wrong_audience"):
        jwt.checked(verifier.signed_claims(good), audience="other", issuer="", now_s=NOW, leeway_s=0)
    h, _, s = good.split(".")
    forged = b64(json.dumps({"sub": "alice", "role": "admin", "aud": AUD, "exp": NOW + 3600}).encode())
    for _ in range(2):  # a bad token is refused every time (never remembered)
        with pytest.raises(TokenError, match="bad_signature"):
            verifier.signed_claims(f"{h}.{forged}.{s}")
    for i in range(3):  # bounded
        verifier.signed_claims(token(sub=f"u{i}"))
    assert len(verifier._seen) == 2
