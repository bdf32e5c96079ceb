"""The Noise XX state machine, checked against an independent implementation (noiseprotocol,
installed with libp2p) byte for byte, plus its failure rules."""

from __future__ import annotations

import hashlib

import pytest
from noise.connection import Keypair, NoiseConnection

from cybermesh.p2p.noise import PROTOCOL_NAME, CipherState, HandshakeXX, NoiseError


def k(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def reference(initiator: bool, static: bytes, ephemeral: bytes) -> NoiseConnection:
    conn = NoiseConnection.from_name(PROTOCOL_NAME)
    if initiator:
        conn.set_as_initiator()
    else:
        conn.set_as_responder()
    conn.set_keypair_from_private_bytes(Keypair.STATIC, static)
    conn.set_keypair_from_private_bytes(Keypair.EPHEMERAL, ephemeral)
    conn.start_handshake()
    return conn


def ours(initiator: bool, static: bytes, ephemeral: bytes) -> HandshakeXX:
    return HandshakeXX(initiator=initiator, static_private=static, ephemeral_private=ephemeral)


@pytest.mark.filterwarnings("ignore:One of ephemeral keypairs is already set:UserWarning")
@pytest.mark.parametrize("we_initiate", [True, False])
def test_handshake_and_transport_match_noiseprotocol(we_initiate: bool) -> None:
    i_s, i_e, r_s, r_e = k("is"), k("ie"), k("rs"), k("re")
    me = ours(we_initiate, *((i_s, i_e) if we_initiate else (r_s, r_e)))
    ref = reference(not we_initiate, *((r_s, r_e) if we_initiate else (i_s, i_e)))
    # The same keys on the reference's own initiator/responder produce identical bytes.
    twin = reference(we_initiate, *((i_s, i_e) if we_initiate else (r_s, r_e)))
    payloads = [b"", b"payload-2", b"payload-3"]
    for step, payload in enumerate(payloads):
        my_turn = (step % 2 == 0) == we_initiate
        if my_turn:
            msg = me.write_message(payload)
            assert msg == bytes(twin.write_message(payload))
            assert bytes(ref.read_message(msg)) == payload
        else:
            msg = bytes(ref.write_message(payload))
            assert me.read_message(msg) == payload
            twin.read_message(msg)
    assert me.is_complete and ref.handshake_finished
    assert me.handshake_hash == ref.get_handshake_hash()
    send, recv = me.split()
    for n in range(3):
        data = b"to-ref-%d" % n * 100
        assert bytes(ref.decrypt(send.encrypt(b"", data))) == data
        back = b"from-ref-%d" % n
        assert recv.decrypt(b"", bytes(ref.encrypt(back))) == back


def run_pair(tamper_step: int | None = None) -> tuple[HandshakeXX, HandshakeXX]:
    a = ours(True, k("a-s"), k("a-e"))
    b = ours(False, k("b-s"), k("b-e"))
    for step in range(3):
        src, dst = (a, b) if step % 2 == 0 else (b, a)
        msg = bytearray(src.write_message(b"p%d" % step))
        if step == tamper_step:
            msg[-1] ^= 1
        dst.read_message(bytes(msg))
    return a, b


def test_remote_statics_are_learned() -> None:
    a, b = run_pair()
    assert a.remote_static == b.s_pub and b.remote_static == a.s_pub


@pytest.mark.parametrize("step", [1, 2])
def test_tampered_handshake_message_fails(step: int) -> None:
    with pytest.raises(NoiseError):
        run_pair(tamper_step=step)


def test_out_of_order_messages_fail() -> None:
    a = ours(True, k("a-s"), k("a-e"))
    with pytest.raises(NoiseError):
        a.read_message(bytes(64))
    a.write_message(b"")
    with pytest.raises(NoiseError):
        a.write_message(b"")
    with pytest.raises(NoiseError):
        a.split()


def test_low_order_ephemeral_is_rejected() -> None:
    b = ours(False, k("b-s"), k("b-e"))
    b.read_message(bytes(32))  # all-zero "public key": msg 1 is unauthenticated
    with pytest.raises(NoiseError):
        b.write_message(b"")  # ee = DH(e, 0) = 0


def test_transport_tamper_replay_and_reorder_fail() -> None:
    a, b = run_pair()
    a_send, _ = a.split()
    _, b_recv = b.split()
    c1, c2 = a_send.encrypt(b"", b"one"), a_send.encrypt(b"", b"two")
    with pytest.raises(NoiseError):
        b_recv.decrypt(b"", c2)  # out of order
    fresh = CipherState(b_recv.key)
    assert fresh.decrypt(b"", c1) == b"one"
    with pytest.raises(NoiseError):
        fresh.decrypt(b"", c1)  # replay
    assert fresh.n == 1


def test_nonce_exhaustion() -> None:
    c = CipherState(bytes(32))
    c.n = 2**64 - 1
    with pytest.raises(NoiseError):
        c.encrypt(b"", b"x")
