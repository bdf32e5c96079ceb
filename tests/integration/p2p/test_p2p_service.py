"""P2PService starts/stops the transport with a mode.Service lifecycle; P2PCollector exports
the counters to Prometheus."""

from __future__ import annotations

from p2p_helpers import eventually, key
from prometheus_client import CollectorRegistry, generate_latest

from cybermesh.p2p.service import P2PCollector, P2PService
from cybermesh.p2p.transport import CONSENSUS, Transport, TransportConfig


async def test_service_lifecycle_and_metrics() -> None:
    cfg = TransportConfig(backoff_base=0.05, dial_grace=0.2)
    a, b = Transport(key(400), {}, cfg), Transport(key(401), {}, cfg)
    sa, sb = P2PService(a, "/ip4/127.0.0.1/tcp/0"), P2PService(b, "/ip4/127.0.0.1/tcp/0")
    await sa.start()
    await sb.start()
    try:
        a.add_peer(b.peer_id, b.listen_addr)
        b.add_peer(a.peer_id, a.listen_addr)
        await a.send(b.peer_id, CONSENSUS, b"via service")
        assert (await b.recv()).data == b"via service"
        await eventually(lambda: b.is_connected(a.peer_id))
        registry = CollectorRegistry()
        registry.register(P2PCollector(b))
        text = generate_latest(registry).decode()
        assert "cybermesh_p2p_messages_received_total 1.0" in text
        assert "cybermesh_p2p_connected_peers 1.0" in text
    finally:
        await sa.stop()
        await sb.stop()
    assert a.host.connections == [] and b.host.connections == []
