"""`cybermesh token keygen|issue`: keys and bearer tokens for the validator's API (docs/AUTH.md).

    cybermesh token keygen --out FILE [--alg EdDSA|HS256] [--kid K] [--json]
    cybermesh token issue --role ROLE [--ttl 1h] [--sub NAME] [--key FILE --kid K]
        [--alg EdDSA|HS256] [--aud A] [--iss I] [--localnet-dir D] [--url BASE] [--json]

keygen: EdDSA writes an Ed25519 seed file (0600, never overwritten; the same format as
`cybermesh keygen`) and prints the `[[api.jwt_keys]]` TOML entry with its PUBLIC key for the
validators' settings; HS256 writes a random 32-byte secret as 64 hex chars (0600) and prints the
entry naming that file (the validators need a copy of the file).
issue: prints a token (stdout, nothing else) signed with `--key` under `--kid`. Without --key it
uses the local network's key (`<localnet-dir>/keys/api.jwt.key`, made by `cybermesh localnet
up`). --ttl: seconds or a number with s/m/h/d (at most 90d). --url BASE prints
`BASE/ui/#token=...` instead (the web view reads the token from the URL fragment, which the
browser never sends to the server).
Exit codes: 0 ok; 1 bad input or unreadable key.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from cybermesh.api.auth import jwt
from cybermesh.keys import KeyFileError, read_seed, write_seed

ROLES = ("viewer", "operator", "admin")
MAX_TTL_S = 90 * 86400
_TTL = re.compile(r"^([0-9]+)([smhd]?)$")


def register(sub: Any) -> None:
    p = sub.add_parser("token", help="API keys and bearer tokens (keygen, issue)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    actions = p.add_subparsers(dest="token_command", required=True)
    kg = actions.add_parser("keygen", help="a new JWT signing key and its [[api.jwt_keys]] entry")
    kg.add_argument(
        "--out", required=True, type=Path, help="key file to create (never overwritten)"
    )
    kg.add_argument("--alg", choices=jwt.ALGS, default="EdDSA")
    kg.add_argument("--kid", help="key id (default: derived from the key)")
    kg.add_argument("--json", action="store_true")
    kg.set_defaults(func=run_keygen)
    iss = actions.add_parser("issue", help="print a bearer token")
    iss.add_argument("--role", required=True, help=f"role claim ({', '.join(ROLES)} by default)")
    iss.add_argument("--ttl", default="1h", help="lifetime: seconds or N[s|m|h|d] (default 1h)")
    iss.add_argument("--sub", help="subject (default: cli:<user>)")
    iss.add_argument("--key", type=Path, help="signing key file (EdDSA seed or HS256 secret)")
    iss.add_argument("--kid", help="key id (default with --localnet-dir: the localnet's)")
    iss.add_argument("--alg", choices=jwt.ALGS, default="EdDSA")
    iss.add_argument("--aud", default="cybermesh-api", help="audience (api.audience)")
    iss.add_argument("--iss", default="", help="issuer (api.issuer, if the validators set one)")
    iss.add_argument("--localnet-dir", type=Path, default=Path(".local/localnet"))
    iss.add_argument("--url", help="print BASE/ui/#token=... instead of the bare token")
    iss.add_argument("--json", action="store_true")
    iss.set_defaults(func=run_issue)


def _fail(message: str) -> int:
    print(f"token: {message}", file=sys.stderr)
    return 1


def parse_ttl(text: str) -> int:
    """Seconds of `90`, `90s`, `15m`, `1h`, `7d`; ValueError when bad or above 90 days."""
    match = _TTL.match(text.strip())
    if not match:
        raise ValueError(f"--ttl {text!r}: expected seconds or N followed by s, m, h or d")
    seconds = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    if not 0 < seconds <= MAX_TTL_S:
        raise ValueError(f"--ttl {text!r}: must be 1 s .. 90 d")
    return seconds


def default_kid(key: jwt.SigningKey) -> str:
    """A kid from the key: `ed-<8 hex of the public key>` / `hs-<8 hex of SHA-256(secret)>`."""
    import hashlib

    if key.alg == "EdDSA":
        return "ed-" + key.verification_key().material.hex()[:8]
    return "hs-" + hashlib.sha256(key.secret).hexdigest()[:8]


def read_signing_key(path: Path, alg: jwt.Alg, kid: str | None) -> jwt.SigningKey:
    """The key in `path` (EdDSA: a seed file; HS256: the secret, whitespace stripped)."""
    if alg == "EdDSA":
        key = jwt.SigningKey("", "EdDSA", read_seed(path))
    else:
        try:
            secret = path.read_bytes().strip()
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot read: {exc.strerror}") from None
        if len(secret) < jwt.MIN_SECRET_BYTES:
            raise KeyFileError(f"{path}: an HS256 secret needs >= {jwt.MIN_SECRET_BYTES} bytes")
        key = jwt.SigningKey("", "HS256", secret)
    return jwt.SigningKey(kid or default_kid(key), key.alg, key.secret)


def toml_entry(key: jwt.SigningKey, path: Path) -> str:
    """The `[[api.jwt_keys]]` entry that verifies tokens of `key` (no secret in it)."""
    lines = ["[[api.jwt_keys]]", f'kid = "{key.kid}"', f'alg = "{key.alg}"']
    if key.alg == "EdDSA":
        lines.append(f'public_key = "{key.verification_key().material.hex()}"')
    else:
        lines.append(f"secret_file = {json.dumps(str(path.resolve()))}")
    return "\n".join(lines)


def run_keygen(args: argparse.Namespace) -> int:
    try:
        if args.alg == "EdDSA":
            seed = secrets.token_bytes(32)
            write_seed(args.out, seed)
            key = jwt.SigningKey("", "EdDSA", seed)
        else:
            secret = secrets.token_hex(32).encode()
            try:
                fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return _fail(f"{args.out}: already exists; refusing to overwrite a key file")
            with os.fdopen(fd, "wb") as f:
                f.write(secret + b"\n")
            key = jwt.SigningKey("", "HS256", secret)
    except (KeyFileError, OSError) as exc:
        return _fail(str(exc))
    key = jwt.SigningKey(args.kid or default_kid(key), key.alg, key.secret)
    entry = toml_entry(key, args.out)
    if args.json:
        print(json.dumps({"path": str(args.out), "kid": key.kid, "alg": key.alg, "toml": entry}))
    else:
        print(entry)
    return 0


def run_issue(args: argparse.Namespace) -> int:
    try:
        ttl = parse_ttl(args.ttl)
        if args.key is not None:
            key = read_signing_key(args.key, args.alg, args.kid)
        else:
            from cybermesh.localnet import API_KEY_FILE, api_key

            if not (args.localnet_dir / "keys" / API_KEY_FILE).exists():
                return _fail(f"no --key and no localnet API key in {args.localnet_dir}/keys "
                             "(run `cybermesh localnet up` or pass --key FILE --kid K)")  # fmt: skip
            key = api_key(args.localnet_dir)
            if args.kid:
                key = jwt.SigningKey(args.kid, key.alg, key.secret)
    except (ValueError, KeyFileError) as exc:
        return _fail(str(exc))
    if args.role not in ROLES:
        print(f"token: note: {args.role!r} is not a default role; the validators grant it "
              "nothing unless their api.roles list it", file=sys.stderr)  # fmt: skip
    now = int(time.time())
    subject = args.sub or f"cli:{getpass.getuser()}"
    token = jwt.issue(key, subject=subject, role=args.role, audience=args.aud, now_s=now,
                      ttl_s=ttl, issuer=args.iss, token_id=secrets.token_hex(8))  # fmt: skip
    out = f"{args.url.rstrip('/')}/ui/#token={token}" if args.url else token
    if args.json:
        print(json.dumps({"token": token, "url": out if args.url else None, "kid": key.kid,
                          "sub": subject, "role": args.role, "aud": args.aud, "exp": now + ttl}))  # fmt: skip
    else:
        print(out)
    return 0
