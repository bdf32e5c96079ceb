"""Kafka client options from the `kafka` settings section (`KafkaSettings`).

Every Kafka client of the project is built from these functions: the Faust app, the node's
emitter, `cybermesh produce`, `cybermesh replay`, the localnet topic admin and the start-up checks.

Rules:
1. `client_options(k)`: keyword arguments for aiokafka's producer, consumer and admin client:
   `bootstrap_servers`, `security_protocol`, and for SSL/SASL_SSL an `ssl_context` (rule 2), for
   SASL_SSL `sasl_mechanism`, `sasl_plain_username`, `sasl_plain_password` (rule 3).
2. `ssl_context(k)`: TLS 1.2+, the broker's certificate verified against `ssl_cafile` (or the
   system CAs), host name checked unless `ssl_check_hostname = false`; a client certificate is
   loaded when `ssl_certfile`/`ssl_keyfile` are set.
3. `sasl_password(k)`: the first line of `sasl_password_file`, else `sasl_password`; read when a
   client is built (a rotated file is picked up on restart), never logged.
4. `producer_options(k)`: `client_options` + `enable_idempotence=True` and `acks="all"`.
5. `faust_options(k)`: `broker` (`kafka://host:port` URLs: the scheme selects Faust's aiokafka
   transport; TLS and SASL come from the credentials, not from the scheme), `broker_credentials`
   (`SSLCredentials` or `SASLCredentials` carrying the rule-2 context; None for PLAINTEXT) and
   `producer_acks=-1` (acks=all for changelog and DLQ writes).
NOTE: the option dicts hold the password: never log them; `describe(k)` is the loggable form.
"""

from __future__ import annotations

import ssl
from typing import Any

from cybermesh.config import KafkaSettings


class KafkaSettingsError(ValueError):
    """A `kafka.*` setting that cannot be used; `setting` names it."""

    def __init__(self, setting: str, detail: str) -> None:
        super().__init__(f"{setting}: {detail}")
        self.setting = setting


def bootstrap_servers(k: KafkaSettings) -> list[str]:
    return [h.strip() for h in k.bootstrap.split(",") if h.strip()]


def ssl_context(k: KafkaSettings) -> ssl.SSLContext | None:
    """Rule 2 (None for PLAINTEXT)."""
    if k.security_protocol == "PLAINTEXT":
        return None
    try:
        ctx = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(k.ssl_cafile) if k.ssl_cafile else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise KafkaSettingsError("kafka.ssl_cafile", f"{k.ssl_cafile}: not a PEM CA file ({exc})") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = k.ssl_check_hostname
    if k.ssl_certfile is not None and k.ssl_keyfile is not None:
        try:
            ctx.load_cert_chain(str(k.ssl_certfile), str(k.ssl_keyfile))
        except (OSError, ssl.SSLError) as exc:
            raise KafkaSettingsError(
                "kafka.ssl_certfile",
                f"{k.ssl_certfile} with key {k.ssl_keyfile}: cannot load ({exc})",
            ) from None
    return ctx


def sasl_password(k: KafkaSettings) -> str:
    """Rule 3."""
    if k.sasl_password_file is not None:
        try:
            lines = k.sasl_password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise KafkaSettingsError(
                "kafka.sasl_password_file", f"{k.sasl_password_file}: {exc.strerror}"
            ) from None
        if not lines or not lines[0]:
            raise KafkaSettingsError("kafka.sasl_password_file", f"{k.sasl_password_file} is empty")
        return lines[0]
    if k.sasl_password is not None:
        return k.sasl_password.get_secret_value()
    raise KafkaSettingsError("kafka.sasl_password_file", "no SASL password configured")


def client_options(k: KafkaSettings) -> dict[str, Any]:
    """Rule 1."""
    opts: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(k),
        "security_protocol": k.security_protocol,
    }
    ctx = ssl_context(k)
    if ctx is not None:
        opts["ssl_context"] = ctx
    if k.security_protocol == "SASL_SSL":
        opts["sasl_mechanism"] = k.sasl_mechanism
        opts["sasl_plain_username"] = k.sasl_username
        opts["sasl_plain_password"] = sasl_password(k)
    return opts


def producer_options(k: KafkaSettings) -> dict[str, Any]:
    """Rule 4."""
    return {**client_options(k), "enable_idempotence": True, "acks": "all"}


def faust_options(k: KafkaSettings) -> dict[str, Any]:
    """Rule 5."""
    import faust

    credentials: Any = None
    ctx = ssl_context(k)
    if k.security_protocol == "SSL":
        credentials = faust.SSLCredentials(ctx)
    elif k.security_protocol == "SASL_SSL":
        credentials = faust.SASLCredentials(
            username=k.sasl_username,
            password=sasl_password(k),
            ssl_context=ctx,
            mechanism=k.sasl_mechanism,
        )
    return {
        "broker": [f"kafka://{h}" for h in bootstrap_servers(k)],
        "broker_credentials": credentials,
        "producer_acks": -1,
    }


def describe(k: KafkaSettings) -> str:
    """A loggable one-line summary (no secrets)."""
    out = f"{k.bootstrap} {k.security_protocol}"
    if k.security_protocol != "PLAINTEXT":
        out += f" ca={k.ssl_cafile or 'system'}"
        if k.ssl_certfile:
            out += f" client-cert={k.ssl_certfile}"
    if k.security_protocol == "SASL_SSL":
        out += f" {k.sasl_mechanism} user={k.sasl_username}"
    return out
