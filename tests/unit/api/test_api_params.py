"""Parameter parsing of the read API (cybermesh/api/params.py rules 1-4)."""

from __future__ import annotations

import pytest

from cybermesh.api.params import (
    MAX_LIMIT,
    BadParameter,
    parse_bool,
    parse_entity_cursor,
    parse_evidence_cursor,
    parse_hash,
    parse_height,
    parse_hex,
    parse_int,
    parse_limit,
    parse_text_id,
)


def test_limit_default_bounds_and_cap() -> None:
    assert parse_limit(None) == 20
    assert parse_limit("1") == 1 and parse_limit(str(MAX_LIMIT)) == MAX_LIMIT
    for bad in ("0", "-1", str(MAX_LIMIT + 1), "1.0", " 1", "+1", "1_0", "\u0661", "", "abc", "9" * 40):
        with pytest.raises(BadParameter) as exc:
            parse_limit(bad)
        assert exc.value.name == "limit" and str(exc.value).startswith("limit: ")


def test_integers_are_plain_decimal_within_bounds() -> None:
    assert parse_int("n", "-5") == -5 and parse_height("h", "7") == 7
    for bad in ("0", "-1", "1e3", "0x10", "\u0663", "99999999999999999999"):
        with pytest.raises(BadParameter, match=r"^h: "):
            parse_height("h", bad)


def test_hex_and_hashes() -> None:
    assert parse_hex("k", "00Ff") == b"\x00\xff"
    assert parse_hash("x", "AB" * 32) == b"\xab" * 32
    for bad in ("0", "zz", "0x00", "0 0"):
        with pytest.raises(BadParameter, match=r"^k: must be hex"):
            parse_hex("k", bad)
    for bad in ("ab" * 31, "ab" * 33, "g" * 64):
        with pytest.raises(BadParameter, match=r"^x: "):
            parse_hash("x", bad)
    with pytest.raises(BadParameter, match="longer than 2 bytes"):
        parse_hex("k", "000000", max_bytes=2)


def test_flags_cursors_and_ids() -> None:
    assert parse_bool("q", None) is None and parse_bool("q", "true") is True and parse_bool("q", "0") is False
    with pytest.raises(BadParameter, match=r"^q: "):
        parse_bool("q", "yes")
    assert parse_evidence_cursor(None) is None and parse_evidence_cursor("12.3") == (12, 3)
    for bad in ("12", "a.b", "1.2.3", "-1.2", ""):
        with pytest.raises(BadParameter, match=r"^cursor: "):
            parse_evidence_cursor(bad)
    assert parse_entity_cursor("6869") == b"hi"
    for bad in ("", "zz", "123"):
        with pytest.raises(BadParameter, match=r"^cursor: "):
            parse_entity_cursor(bad)
    assert parse_text_id("id", "a/b \u00e9") == "a/b \u00e9"
    for bad in ("", "x" * 257, "\ud800"):
        with pytest.raises(BadParameter, match=r"^id: "):
            parse_text_id("id", bad)
