"""Multiaddr text parsing for the forms a validator listens on and dials.

Accepted (rule 1): `/ip4/<a.b.c.d>/tcp/<port>`, `/ip6/<addr>/tcp/<port>`,
`/dns|dns4|dns6/<name>/tcp/<port>`, each optionally followed by `/p2p/<peer id>`.
Rules:
1. Only the forms above; anything else raises MultiaddrError naming the address.
2. Ports are 0..65535 (0 = ephemeral, for listening).
3. `/ipfs/` is accepted as the legacy name of `/p2p/`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cybermesh.p2p.peer_id import PeerId, PeerIdError


class MultiaddrError(ValueError):
    """A multiaddr this transport cannot use."""


@dataclass(frozen=True)
class Multiaddr:
    proto: str
    """ip4, ip6, dns, dns4 or dns6."""
    host: str
    port: int
    peer_id: PeerId | None = None

    @classmethod
    def parse(cls, text: str) -> Multiaddr:
        parts = text.split("/")
        if len(parts) not in (5, 7) or parts[0] != "" or parts[3] != "tcp":
            raise MultiaddrError(f"{text!r}: expected /ip4|ip6|dns*/HOST/tcp/PORT[/p2p/ID]")
        proto, host, port_s = parts[1], parts[2], parts[4]
        try:
            if proto == "ip4":
                host = str(ipaddress.IPv4Address(host))
            elif proto == "ip6":
                host = str(ipaddress.IPv6Address(host))
            elif proto not in ("dns", "dns4", "dns6") or not host:
                raise MultiaddrError(f"{text!r}: unsupported protocol /{proto}")
        except ipaddress.AddressValueError as exc:
            raise MultiaddrError(f"{text!r}: bad {proto} address: {exc}") from exc
        if not port_s.isdigit() or int(port_s) > 65535:
            raise MultiaddrError(f"{text!r}: bad tcp port {port_s!r}")
        peer = None
        if len(parts) == 7:
            if parts[5] not in ("p2p", "ipfs"):
                raise MultiaddrError(f"{text!r}: expected /p2p/ID after the port")
            try:
                peer = PeerId.from_string(parts[6])
            except PeerIdError as exc:
                raise MultiaddrError(f"{text!r}: {exc}") from exc
        return cls(proto, host, int(port_s), peer)

    def with_peer(self, peer_id: PeerId) -> Multiaddr:
        return Multiaddr(self.proto, self.host, self.port, peer_id)

    def __str__(self) -> str:
        base = f"/{self.proto}/{self.host}/tcp/{self.port}"
        return f"{base}/p2p/{self.peer_id}" if self.peer_id else base
