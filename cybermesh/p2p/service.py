"""The p2p transport (and the consensus driver) as a `mode.Service` inside the Faust worker.

    svc = P2PService(transport, settings.p2p.listen, driver=driver)
    app.add_dependency(svc)                      # in cybermesh.app.create_app
    registry.register(P2PCollector(transport, driver))

Rules:
1. Started and stopped with the app, on the app's event loop (one loop: no thread, no trio).
2. Start order: transport (listen + dial), then the driver; stop order is the reverse.
3. A driver failure crashes the service (and so the worker): consensus must not silently stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mode
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cybermesh.p2p.driver import ConsensusDriver
from cybermesh.p2p.multiaddr import Multiaddr
from cybermesh.p2p.transport import Transport


class P2PService(mode.Service):
    def __init__(
        self,
        transport: Transport,
        listen: str | Multiaddr | None,
        *,
        driver: ConsensusDriver | None = None,
        **kwargs: Any,
    ) -> None:
        self.transport = transport
        self.listen = listen
        self.driver = driver
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.transport.start(self.listen)
        if self.driver is not None:
            await self.driver.start()
            self.add_future(self._watch_driver())

    async def _watch_driver(self) -> None:
        assert self.driver is not None
        try:
            await self.driver.wait()
        except Exception as exc:  # noqa: BLE001 - rule 3: crash the service
            await self.crash(exc)

    async def on_stop(self) -> None:
        if self.driver is not None:
            await self.driver.stop()
        await self.transport.stop()


class P2PCollector(Collector):
    """Prometheus view of the transport (and driver) counters: `cybermesh_p2p_<name>_total`,
    plus gauges `cybermesh_p2p_inbound_queue` and `cybermesh_p2p_connected_peers`."""

    def __init__(self, transport: Transport, driver: ConsensusDriver | None = None) -> None:
        self.transport = transport
        self.driver = driver

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        counters = dict(self.transport.metrics)
        if self.driver is not None:
            counters.update(self.driver.metrics)
        for name in sorted(counters):
            yield CounterMetricFamily(
                f"cybermesh_p2p_{name}", f"p2p counter {name} (docs/P2P.md)", counters[name]
            )
        yield GaugeMetricFamily(
            "cybermesh_p2p_inbound_queue",
            "messages waiting for the consensus driver",
            self.transport.inbound.qsize(),
        )
        yield GaugeMetricFamily(
            "cybermesh_p2p_connected_peers",
            "allowlisted peers with an open connection",
            len(self.transport.connected_peers()),
        )
