"""JWT bearer tokens: JWS compact serialization (RFC 7515) with EdDSA (Ed25519, RFC 8037) or
HS256 (RFC 7518 §3.2), claims checked per RFC 7519. Pure: the time comes in as an argument.

Why our own ~200 lines and not PyJWT: we need only two algorithms and compact form; the key
decides the algorithm (rule 4), which PyJWT leaves to the caller's `algorithms=` list; and it
adds no dependency. RFC 7515 A.1 and RFC 8037 A.4 vectors are in the tests.

Verification rules (`verify`), each failure a `TokenError` with a stable `reason`:
1. At most `MAX_TOKEN_BYTES`; exactly three dot-separated parts of strict base64url (no
   padding, canonical trailing bits); header and payload are JSON objects without duplicate
   keys.                                                                   (`malformed`)
2. The header names a `kid`; it must be a key of the keyring.            (`unknown_kid`)
3. No `crit` header (we understand no extensions).                           (`malformed`)
4. The header `alg` must equal the algorithm configured for that kid: a kid is EdDSA or
   HS256, never both, so an HS256 token signed with an Ed25519 public key as the secret (alg
   confusion) and `alg: none` both fail.                               (`alg_not_allowed`)
5. The signature verifies with that key (HMAC compared in constant time). (`bad_signature`)
6. `exp` is required, a NumericDate, and `now < exp + leeway`.   (`missing_claim`, `expired`)
7. `nbf`, if present: `nbf <= now + leeway`; `iat`, if present: `iat <= now + leeway`.
                                                        (`not_yet_valid`, `issued_in_future`)
8. `aud` (string or list of strings) must contain our audience.         (`wrong_audience`)
9. If an issuer is configured, `iss` must equal it.                       (`wrong_issuer`)
10. `sub` is a non-empty string (the client identity for rate limits and logs); `role` is a
    string (an unknown role is not an error here: it is granted nothing later, a 403).
                                                                         (`missing_claim`)
Only after all of these does the caller see the claims.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final, Literal

import nacl.exceptions
import nacl.signing

Alg = Literal["EdDSA", "HS256"]
ALGS: Final[tuple[Alg, ...]] = ("EdDSA", "HS256")
MAX_TOKEN_BYTES: Final = 8192
MIN_SECRET_BYTES: Final = 32
_B64URL: Final = re.compile(r"^[A-Za-z0-9_-]*$")
KID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,64}$"


class TokenError(ValueError):
    """A token that must be refused; `reason` is a stable code (module docstring)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class VerificationKey:
    """One key a token may be verified with (several at once allow rotation)."""

    kid: str
    """Key id, matched against the token header's `kid`."""
    alg: Alg
    """The only algorithm accepted for this kid (rule 4)."""
    material: bytes
    """EdDSA: the 32-byte Ed25519 public key; HS256: the shared secret (>= 32 bytes)."""

    def __post_init__(self) -> None:
        if self.alg == "EdDSA" and len(self.material) != 32:
            raise ValueError(f"kid {self.kid}: an Ed25519 public key is 32 bytes")
        if self.alg == "HS256" and len(self.material) < MIN_SECRET_BYTES:
            raise ValueError(f"kid {self.kid}: an HS256 secret needs >= {MIN_SECRET_BYTES} bytes")

    def __repr__(self) -> str:  # never print a secret
        return f"VerificationKey(kid={self.kid!r}, alg={self.alg!r})"


@dataclass(frozen=True)
class SigningKey:
    """A key that issues tokens: EdDSA with a 32-byte seed, HS256 with the shared secret."""

    kid: str
    alg: Alg
    secret: bytes

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"

    def verification_key(self) -> VerificationKey:
        if self.alg == "EdDSA":
            pub = bytes(nacl.signing.SigningKey(self.secret).verify_key)
            return VerificationKey(self.kid, "EdDSA", pub)
        return VerificationKey(self.kid, "HS256", self.secret)


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its bearer."""

    subject: str
    """`sub`: the client identity (rate limits, access log)."""
    role: str
    """`role`: mapped to permissions by the caller ("" when absent)."""
    kid: str
    expires_at: int
    """`exp`, seconds since the epoch (rounded down)."""
    issuer: str = ""
    token_id: str = ""
    """`jti`, if any (logged to tell tokens apart; it is not a secret)."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (rule 1): canonical, so one token has one spelling."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise TokenError("malformed", "not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed", "not base64url") from None
    if b64url_encode(data) != text:
        raise TokenError("malformed", "non-canonical base64url")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise TokenError("malformed", f"duplicate JSON member {key!r}")
        out[key] = value
    return out


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, TokenError):
            raise
        raise TokenError("malformed", f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenError("malformed", f"{what} is not a JSON object")
    return value


def split(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """(header, payload bytes, signing input, signature) of a compact JWS (rule 1)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenError("malformed", f"token longer than {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed", "a JWS compact token has three parts")
    header = _json_object(b64url_decode(parts[0]), "header")
    payload = b64url_decode(parts[1])
    signature = b64url_decode(parts[2])
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def is_valid_signature(key: VerificationKey, signing_input: bytes, signature: bytes) -> bool:
    """Rule 5."""
    if key.alg == "HS256":
        expected = hmac.new(key.material, signing_input, hashlib.sha256).digest()
        return hmac.compare_digest(expected, signature)
    if len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(key.material).verify(signing_input, signature)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def verify_jws(token: str, key: VerificationKey) -> tuple[dict[str, Any], bytes]:
    """(header, payload) of a compact JWS signed by `key` with `key.alg` (rules 1, 3-5)."""
    return _verify_parts(split(token), key)


def _verify_parts(
    parts: tuple[dict[str, Any], bytes, bytes, bytes], key: VerificationKey
) -> tuple[dict[str, Any], bytes]:
    header, payload, signing_input, signature = parts
    if "crit" in header:
        raise TokenError("malformed", "crit header parameters are not supported")
    if header.get("alg") != key.alg:
        raise TokenError("alg_not_allowed", f"kid {key.kid} accepts alg {key.alg} only")
    if not is_valid_signature(key, signing_input, signature):
        raise TokenError("bad_signature", "signature does not verify")
    return header, payload


def _numeric_date(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError("malformed", f"{name} is not a NumericDate")
    return int(value)


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name, "")
    if not isinstance(value, str):
        raise TokenError("malformed", f"{name} is not a string")
    return value


def check_claims(
    claims: dict[str, Any], *, audience: str, issuer: str, now_s: int, leeway_s: int
) -> None:
    """Rules 6-10 on a payload whose signature already verified."""
    exp = _numeric_date(claims, "exp")
    if exp is None:
        raise TokenError("missing_claim", "exp is required")
    if now_s >= exp + leeway_s:
        raise TokenError("expired", f"expired at {exp}")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and nbf > now_s + leeway_s:
        raise TokenError("not_yet_valid", f"not valid before {nbf}")
    iat = _numeric_date(claims, "iat")
    if iat is not None and iat > now_s + leeway_s:
        raise TokenError("issued_in_future", f"issued at {iat}")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in [a for a in auds if isinstance(a, str)]:
        raise TokenError("wrong_audience", "aud does not name this API")
    if issuer and claims.get("iss") != issuer:
        raise TokenError("wrong_issuer", "iss is not the configured issuer")
    if not _string(claims, "sub"):
        raise TokenError("missing_claim", "sub is required")
    _string(claims, "role")


def verify(
    token: str,
    keys: dict[str, VerificationKey],
    *,
    audience: str,
    issuer: str = "",
    now_s: int,
    leeway_s: int = 0,
) -> Claims:
    """The claims of `token` if it passes rules 1-10, else TokenError."""
    return checked(signed_claims(token, keys), audience=audience, issuer=issuer, now_s=now_s,
                   leeway_s=leeway_s)  # fmt: skip


def signed_claims(token: str, keys: dict[str, VerificationKey]) -> tuple[str, dict[str, Any]]:
    """(kid, payload claims) of a token whose signature verifies (rules 1-5; no time rules)."""
    parts = split(token)
    kid = parts[0].get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise TokenError("unknown_kid", "no key with this kid")
    _, payload = _verify_parts(parts, keys[kid])
    return kid, _json_object(payload, "payload")


def checked(
    signed: tuple[str, dict[str, Any]], *, audience: str, issuer: str, now_s: int, leeway_s: int
) -> Claims:
    """Rules 6-10 on the output of `signed_claims`; the Claims of the bearer."""
    kid, claims = signed
    check_claims(claims, audience=audience, issuer=issuer, now_s=now_s, leeway_s=leeway_s)
    jti = claims.get("jti", "")
    return Claims(
        subject=claims["sub"],
        role=claims.get("role", ""),
        kid=kid,
        expires_at=int(claims["exp"]),
        issuer=claims.get("iss", "") if isinstance(claims.get("iss"), str) else "",
        token_id=jti if isinstance(jti, str) else "",
    )


class TokenVerifier:
    """Rules 1-5 with a bounded memory of tokens that already passed them.

    NOTE: a client polling with one token is verified once; the entry is keyed by the token's
    exact text, so any changed byte is verified afresh. Only tokens that passed enter (at most
    `size`, least recently used forgotten first); rules 6-10 (time, audience, issuer, subject)
    are the caller's, on every use (`checked`)."""

    def __init__(self, keys: dict[str, VerificationKey], size: int = 4096) -> None:
        self.keys = dict(keys)
        self.size = size
        self._seen: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()

    def signed_claims(self, token: str) -> tuple[str, dict[str, Any]]:
        hit = self._seen.get(token)
        if hit is not None:
            self._seen.move_to_end(token)
            return hit
        signed = signed_claims(token, self.keys)
        self._seen[token] = signed
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return signed


def sign_jws(header: dict[str, Any], payload: bytes, key: SigningKey) -> str:
    """A compact JWS of `payload` with `header` (whose alg must be key.alg)."""
    if header.get("alg") != key.alg:
        raise ValueError(f"header alg {header.get('alg')!r} is not the key's {key.alg}")
    head = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    signing_input = f"{head}.{b64url_encode(payload)}".encode("ascii")
    if key.alg == "HS256":
        sig = hmac.new(key.secret, signing_input, hashlib.sha256).digest()
    else:
        sig = nacl.signing.SigningKey(key.secret).sign(signing_input).signature
    return f"{signing_input.decode('ascii')}.{b64url_encode(sig)}"


def issue(
    key: SigningKey,
    *,
    subject: str,
    role: str,
    audience: str,
    now_s: int,
    ttl_s: int,
    issuer: str = "",
    token_id: str = "",
) -> str:
    """A token for `subject` with `role`, valid from `now_s` for `ttl_s` seconds."""
    if ttl_s <= 0:
        raise ValueError("ttl must be positive")
    claims: dict[str, Any] = {"sub": subject, "role": role, "aud": audience,
                              "iat": now_s, "nbf": now_s, "exp": now_s + ttl_s}  # fmt: skip
    if issuer:
        claims["iss"] = issuer
    if token_id:
        claims["jti"] = token_id
    header = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
    return sign_jws(header, json.dumps(claims, separators=(",", ":")).encode(), key)
