"""TLS for the worker's web server and client-certificate identities (mTLS).

Rules:
1. With `tls_cert`/`tls_key` the server speaks TLS 1.2+ only (Python's server defaults:
   no compression, forward-secret suites).
2. Mode mtls: a client certificate chaining to `client_ca` is REQUIRED in the handshake; mode
   both: it is requested and, when sent, verified (an untrusted one fails the handshake),
   but a client may come without one and present a bearer token instead. Modes jwt/none with
   TLS do not ask for client certificates.
3. The names of a verified client certificate are its subject CN (`CN=<name>`) first, then its
   subjectAltNames in certificate order (`DNS:<name>`, `URI:<uri>`, `email:<addr>`,
   `IP Address:<ip>`). The first name listed in `client_roles` gives the identity and role;
   a certificate none of whose names is listed is authenticated but granted nothing (403).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from cybermesh.config import ApiSettings


def server_context(api: ApiSettings) -> ssl.SSLContext | None:
    """Rules 1-2; None when the settings ask for plain HTTP."""
    if api.tls_cert is None or api.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(api.tls_cert), str(api.tls_key))
    if api.auth in ("mtls", "both") and api.client_ca is not None:
        ctx.load_verify_locations(cafile=str(api.client_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED if api.auth == "mtls" else ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def certificate_names(peercert: Mapping[str, Any] | None) -> list[str]:
    """Rule 3's names, from `SSLSocket.getpeercert()` form (empty without a certificate)."""
    if not peercert:
        return []
    names = [
        f"CN={value}"
        for rdn in peercert.get("subject", ())
        for key, value in rdn
        if key == "commonName"
    ]
    names += [f"{kind}:{value}" for kind, value in peercert.get("subjectAltName", ())]
    return names


def certificate_role(names: list[str], client_roles: Mapping[str, str]) -> tuple[str, str]:
    """(subject, role) of a verified certificate (rule 3); role "" when no name is listed."""
    for name in names:
        if name in client_roles:
            return name, client_roles[name]
    return (names[0] if names else "unnamed-certificate"), ""
