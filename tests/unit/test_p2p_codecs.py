"""Pure p2p codecs: varints, peer ids, multiaddrs, yamux headers, handshake payload, limits."""

from __future__ import annotations

import contextlib
import hashlib

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cybermesh.p2p import yamux_frame as yf
from cybermesh.p2p.limits import TokenBucket, backoff_delay
from cybermesh.p2p.multiaddr import Multiaddr, MultiaddrError
from cybermesh.p2p.noise_payload import (
    SIG_PREFIX,
    BadHandshakePayload,
    HandshakePayload,
    decode_payload,
    encode_payload,
    make_payload,
    verify_payload,
)
from cybermesh.p2p.peer_id import PeerId, PeerIdError, b58decode, b58encode, encode_public_key
from cybermesh.p2p.varint import VarintError, decode_uvarint, encode_uvarint


def signing_key(n: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"unit/%d" % n).digest())


# -- varint ----------------------------------------------------------------------------------
@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_uvarint_roundtrip(n: int) -> None:
    raw = encode_uvarint(n)
    assert decode_uvarint(raw + b"\xff") == (n, len(raw))
    assert decode_uvarint(raw[:-1]) is None


def test_uvarint_known_values_and_rejections() -> None:
    assert encode_uvarint(0) == b"\x00"
    assert encode_uvarint(300) == b"\xac\x02"
    assert decode_uvarint(b"\xac\x02") == (300, 2)
    with pytest.raises(VarintError):
        decode_uvarint(b"\x81\x00")  # non-minimal
    with pytest.raises(VarintError):
        decode_uvarint(b"\xff" * 9)
    with pytest.raises(VarintError):
        encode_uvarint(-1)


# -- peer ids --------------------------------------------------------------------------------
def test_peer_id_of_an_ed25519_key_is_the_identity_multihash() -> None:
    pub = bytes(signing_key(1).verify_key)
    pid = PeerId.from_ed25519(pub)
    assert pid.raw == b"\x00\x24\x08\x01\x12\x20" + pub
    assert str(pid).startswith("12D3KooW")
    assert PeerId.from_string(str(pid)) == pid
    assert pid.ed25519_key() == pub


def test_base58_known_values() -> None:
    assert b58encode(b"\x00\x00\x01") == "112"
    assert b58decode("112") == b"\x00\x00\x01"
    assert b58encode(b"hello world") == "StV1DL6CwTryKyV"


@given(st.binary(max_size=64))
def test_base58_roundtrip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


def test_bad_peer_ids_are_rejected() -> None:
    with pytest.raises(PeerIdError):
        PeerId.from_string("0OIl")  # not base58
    with pytest.raises(PeerIdError):
        PeerId.from_string(b58encode(b"\x00\x05abc"))  # length mismatch
    with pytest.raises(PeerIdError):
        encode_public_key(b"short")
    hashed = PeerId(b"\x12\x20" + bytes(32))
    with pytest.raises(PeerIdError):
        hashed.ed25519_key()


def test_peer_ids_order_by_bytes() -> None:
    ids = sorted(PeerId.from_ed25519(bytes(signing_key(i).verify_key)) for i in range(5))
    assert [p.raw for p in ids] == sorted(p.raw for p in ids)


# -- multiaddr -------------------------------------------------------------------------------
def test_multiaddr_forms() -> None:
    pid = PeerId.from_ed25519(bytes(signing_key(2).verify_key))
    a = Multiaddr.parse(f"/ip4/127.0.0.1/tcp/7100/p2p/{pid}")
    assert (a.proto, a.host, a.port, a.peer_id) == ("ip4", "127.0.0.1", 7100, pid)
    assert str(a) == f"/ip4/127.0.0.1/tcp/7100/p2p/{pid}"
    b = Multiaddr.parse("/ip6/::1/tcp/0")
    assert (b.host, b.port, b.peer_id) == ("::1", 0, None)
    assert Multiaddr.parse(f"/dns4/node-1.example/tcp/1/ipfs/{pid}").peer_id == pid


@pytest.mark.parametrize(
    "text",
    [
        "",
        "/ip4/127.0.0.1",
        "/ip4/300.0.0.1/tcp/1",
        "/ip4/127.0.0.1/udp/1",
        "/ip4/127.0.0.1/tcp/65536",
        "/ip4/127.0.0.1/tcp/x",
        "/ip6/zz::1/tcp/1",
        "/unix/tmp/tcp/1",
        "/ip4/127.0.0.1/tcp/1/p2p/notbase58!",
        "/ip4/127.0.0.1/tcp/1/quic/x",
    ],
)
def test_multiaddr_rejections(text: str) -> None:
    with pytest.raises(MultiaddrError):
        Multiaddr.parse(text)


# -- yamux header ----------------------------------------------------------------------------
@given(st.integers(0, 3), st.integers(0, 0xF), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_yamux_header_roundtrip(typ: int, flags: int, sid: int, length: int) -> None:
    raw = yf.encode_header(typ, flags, sid, length)
    assert len(raw) == yf.HEADER_LEN
    assert yf.decode_header(raw) == yf.Header(typ, flags, sid, length)


def test_yamux_header_layout_and_errors() -> None:
    raw = yf.encode_header(yf.TYPE_WINDOW_UPDATE, yf.FLAG_SYN | yf.FLAG_FIN, 3, 0x40000)
    assert raw == bytes.fromhex("00 01 0005 00000003 00040000")
    with pytest.raises(yf.YamuxProtocolError):
        yf.decode_header(b"\x01" + raw[1:])
    with pytest.raises(yf.YamuxProtocolError):
        yf.decode_header(raw[:1] + b"\x04" + raw[2:])
    assert yf.is_local_id(1, is_client=True) and not yf.is_local_id(2, is_client=True)
    assert yf.is_local_id(2, is_client=False) and not yf.is_local_id(0, is_client=False)


# -- handshake payload -----------------------------------------------------------------------
def test_payload_roundtrip_and_verification() -> None:
    k = signing_key(3)
    static = bytes(range(32))
    p = make_payload(k, static)
    assert decode_payload(encode_payload(p)) == p
    assert verify_payload(p, static) == PeerId.from_ed25519(bytes(k.verify_key))
    assert k.verify_key.verify(SIG_PREFIX + static, p.identity_sig)


def test_payload_signed_over_another_static_key_is_rejected() -> None:
    p = make_payload(signing_key(4), bytes(32))
    with pytest.raises(BadHandshakePayload):
        verify_payload(p, bytes([1]) + bytes(31))


def test_payload_skips_extensions_and_unknown_fields() -> None:
    p = make_payload(signing_key(5), bytes(32))
    ext = b"\x12\x0c/yamux/1.0.0"  # NoiseExtensions{stream_muxers: "/yamux/1.0.0"}
    raw = encode_payload(p) + b"\x22" + bytes([len(ext)]) + ext + b"\x28\x01"
    assert decode_payload(raw) == p


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x0a\x05abc", b"\x0a\x01a", b"\x0a\x01a\x0a\x01a\x12\x01b", b"\x0f"],
)
def test_malformed_payloads_are_rejected(raw: bytes) -> None:
    with pytest.raises(BadHandshakePayload):
        decode_payload(raw)


def test_payload_with_non_ed25519_key_is_rejected() -> None:
    p = make_payload(signing_key(6), bytes(32))
    rsa_like = HandshakePayload(b"\x08\x00\x12\x20" + bytes(32), p.identity_sig)
    with pytest.raises(BadHandshakePayload):
        verify_payload(rsa_like, bytes(32))


# -- limits ----------------------------------------------------------------------------------
def test_token_bucket_spends_and_refills() -> None:
    b = TokenBucket(rate=2.0, burst=3.0)
    assert [b.try_take(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.try_take(0.5) is True  # one token back after 0.5 s at 2/s
    assert b.try_take(0.5) is False
    assert [b.try_take(100.0) for _ in range(4)] == [True, True, True, False]


@given(st.integers(0, 100), st.floats(0.0, 0.999999))
def test_backoff_is_bounded_and_jittered(attempt: int, u: float) -> None:
    d = backoff_delay(attempt, base=0.1, cap=10.0, u=u)
    step = min(10.0, 0.1 * 2**attempt)
    assert step / 2 <= d <= step


# -- hostile input: decoders fail only with their own error types ----------------------------
@given(st.binary(max_size=200))
def test_decoders_reject_garbage_with_their_own_errors(raw: bytes) -> None:
    with contextlib.suppress(VarintError):
        decode_uvarint(raw)
    with contextlib.suppress(BadHandshakePayload):
        decode_payload(raw)
    with contextlib.suppress(PeerIdError):
        PeerId.from_string(b58encode(raw)).ed25519_key()
    if len(raw) >= yf.HEADER_LEN:
        with contextlib.suppress(yf.YamuxProtocolError):
            yf.decode_header(raw[: yf.HEADER_LEN])
