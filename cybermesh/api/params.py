"""Parsing of the API's path and query parameters (pure; docs/API.md "Errors").

Rules:
1. Every malformed value raises `BadParameter(name, message)`; the message names the
   parameter and quotes (a bounded prefix of) the value given.
2. Hex accepts upper and lower case, no `0x`, an even number of digits; a hash is exactly 32
   bytes (64 digits).
3. `limit` is an integer in 1..cap (default when absent); heights are integers >= 1.
4. Integers are plain decimal (an optional leading `-` where negatives are allowed), at most
   19 digits: no `+`, spaces, underscores or other Unicode digits.
"""

from __future__ import annotations

import re
from typing import Final

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
_INT = re.compile(r"-?[0-9]{1,19}\Z")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*\Z")
I64_MAX: Final = 2**63 - 1


class BadParameter(ValueError):
    """A malformed request parameter (-> 400 `bad_parameter`)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class NotFound(LookupError):
    """The thing asked for does not exist (-> 404 `not_found`)."""


class NotReady(RuntimeError):
    """The part of the node an answer needs is not running (-> 503 `not_ready`)."""


def shown(value: str) -> str:
    """The value as quoted in a message (bounded, repr-escaped)."""
    return repr(value[:80] + ("..." if len(value) > 80 else ""))


def parse_int(name: str, raw: str, *, minimum: int = -I64_MAX, maximum: int = I64_MAX) -> int:
    """Rule 4, within [minimum, maximum]."""
    if not _INT.match(raw):
        raise BadParameter(name, f"must be an integer, got {shown(raw)}")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise BadParameter(name, f"must be in {minimum}..{maximum}, got {value}")
    return value


def parse_limit(raw: str | None, *, default: int = DEFAULT_LIMIT, cap: int = MAX_LIMIT) -> int:
    """Rule 3."""
    if raw is None:
        return default
    if not _INT.match(raw) or not 1 <= int(raw) <= cap:
        raise BadParameter("limit", f"must be an integer in 1..{cap}, got {shown(raw)}")
    return int(raw)


def parse_height(name: str, raw: str) -> int:
    """A block height: integer >= 1."""
    return parse_int(name, raw, minimum=1)


def parse_hex(name: str, raw: str, *, max_bytes: int = 4096) -> bytes:
    """Rule 2 (any length up to `max_bytes`)."""
    if len(raw) > 2 * max_bytes:
        raise BadParameter(name, f"longer than {max_bytes} bytes")
    if not _HEX.match(raw):
        raise BadParameter(name, f"must be hex (an even number of 0-9a-f digits), got {shown(raw)}")
    return bytes.fromhex(raw)


def parse_hash(name: str, raw: str) -> bytes:
    """Rule 2: exactly 32 bytes."""
    if len(raw) != 64:
        raise BadParameter(name, f"must be 64 hex digits (32 bytes), got {len(raw)} characters")
    return parse_hex(name, raw)


def parse_bool(name: str, raw: str | None) -> bool | None:
    """`true`/`false` (also 1/0); None when absent."""
    if raw is None:
        return None
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise BadParameter(name, f"must be true or false, got {shown(raw)}")


MAX_ID_CHARS: Final = 256
"""Longest id accepted in a path or query (percent-encoded it stays within aiohttp's 8190-byte request line)."""
MAX_CURSOR_BYTES: Final = 1024


def parse_text_id(name: str, raw: str, *, max_chars: int = MAX_ID_CHARS) -> str:
    """A producer-chosen id: non-empty, at most `max_chars` characters, valid UTF-8."""
    if not raw:
        raise BadParameter(name, "must not be empty")
    if len(raw) > max_chars:
        raise BadParameter(name, f"longer than {max_chars} characters")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise BadParameter(name, "is not valid UTF-8") from None
    return raw


def parse_evidence_cursor(raw: str | None) -> tuple[int, int] | None:
    """`<height>.<tx_index>` (exclusive, newest-first order); None when absent."""
    if raw is None:
        return None
    parts = raw.split(".")
    if len(parts) != 2 or not all(_INT.match(p) and not p.startswith("-") for p in parts):
        raise BadParameter("cursor", f"must be '<height>.<tx_index>', got {shown(raw)}")
    return int(parts[0]), int(parts[1])


def parse_entity_cursor(raw: str | None) -> bytes | None:
    """Hex of the last entity id's UTF-8 bytes (exclusive); None when absent."""
    if raw is None:
        return None
    if not raw:
        raise BadParameter("cursor", "must not be empty")
    return parse_hex("cursor", raw, max_bytes=MAX_CURSOR_BYTES)
