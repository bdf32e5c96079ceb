"""Start-up checks against the Kafka cluster, with errors that name the setting to fix.

Rules:
1. `probe(k)` opens one connection per bootstrap host, in order, with the security settings
   (TLS handshake, SASL login) until one succeeds; when none does it raises
   `KafkaSettingsError` for the first host's failure, explained by `explain`.
2. `explain(host, exc, k)` maps a connection failure to the setting that fixes it:
   untrusted certificate -> kafka.ssl_cafile; host name not in the certificate ->
   kafka.ssl_check_hostname; refused client certificate -> kafka.ssl_certfile; SASL login
   refused -> kafka.sasl_password_file (or kafka.sasl_password); unknown mechanism ->
   kafka.sasl_mechanism; a TLS/plaintext mix-up -> kafka.security_protocol; nothing listening
   or a timeout -> kafka.bootstrap. Secrets never appear in the message.
"""

from __future__ import annotations

import asyncio
import ssl

from cybermesh.config import KafkaSettings
from cybermesh.kafka.client import KafkaSettingsError, bootstrap_servers, client_options

HOST_MISMATCH = (62, 64)
"""OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH."""


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def explain(host: str, exc: BaseException, k: KafkaSettings) -> KafkaSettingsError:
    """Rule 2."""
    from aiokafka import errors

    chain = _chain(exc)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            code, why = getattr(e, "verify_code", None), getattr(e, "verify_message", None) or str(e)
            if code in HOST_MISMATCH or "mismatch" in why.lower():
                return KafkaSettingsError(
                    "kafka.ssl_check_hostname",
                    f"the certificate of the broker at {host} does not name that host "
                    f"({why}); use the name in its certificate in kafka.bootstrap",
                )
            return KafkaSettingsError(
                "kafka.ssl_cafile",
                f"the certificate of the broker at {host} is not trusted by "
                f"{k.ssl_cafile or 'the system CA store'} ({why})",
            )
        if isinstance(e, ssl.SSLError):
            reason = str(getattr(e, "reason", None) or e).lower()
            if "certificate" in reason and ("unknown" in reason or "required" in reason or "bad" in reason):
                return KafkaSettingsError(
                    "kafka.ssl_certfile",
                    f"the broker at {host} refused our client certificate "
                    f"({k.ssl_certfile or 'none given'}): {e.reason}",
                )
            return KafkaSettingsError(
                "kafka.security_protocol",
                f"TLS handshake with {host} failed ({e.reason or e}); is {host} a "
                f"{k.security_protocol} listener?",
            )
        if isinstance(e, errors.UnsupportedSaslMechanismError):
            return KafkaSettingsError(
                "kafka.sasl_mechanism",
                f"the broker at {host} does not offer SASL {k.sasl_mechanism}",
            )
        if isinstance(e, errors.SaslAuthenticationFailed | errors.AuthenticationFailedError):
            setting = "kafka.sasl_password_file" if k.sasl_password_file else "kafka.sasl_password"
            return KafkaSettingsError(
                setting,
                f"the broker at {host} refused the SASL {k.sasl_mechanism} login of user "
                f"{k.sasl_username!r} (wrong password, or no such user for this mechanism)",
            )
    def find(kind: type[BaseException] | tuple[type[BaseException], ...]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, kind)), None)

    # most specific first: aiokafka wraps the OS error in a KafkaConnectionError
    if find(ConnectionRefusedError) is not None:
        return KafkaSettingsError("kafka.bootstrap", f"no Kafka broker answers at {host} (connection refused)")
    if find((TimeoutError, asyncio.TimeoutError)) is not None:
        return KafkaSettingsError(
            "kafka.bootstrap",
            f"no answer from {host} within {k.connect_timeout_ms} ms (unreachable, or a "
            f"{k.security_protocol} client talking to a listener of another kind: "
            "check kafka.security_protocol)",
        )
    closed = find((ConnectionError, errors.KafkaConnectionError))
    if closed is not None:
        return KafkaSettingsError(
            "kafka.security_protocol",
            f"the broker at {host} accepted the connection and then closed it "
            f"({type(closed).__name__}); is {host} a {k.security_protocol} listener? "
            "(check kafka.bootstrap too)",
        )
    oserror = find(OSError)
    if isinstance(oserror, OSError):
        return KafkaSettingsError("kafka.bootstrap", f"cannot reach {host}: {oserror.strerror or oserror}")
    return KafkaSettingsError("kafka.bootstrap", f"cannot use the broker at {host}: {type(exc).__name__}: {exc}")


async def probe(k: KafkaSettings) -> str:
    """Rule 1: returns the host:port that accepted us."""
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    opts = client_options(k)
    opts.pop("bootstrap_servers")
    first: KafkaSettingsError | None = None
    for host in bootstrap_servers(k):
        name, _, port = host.rpartition(":")
        try:
            async with asyncio.timeout(k.connect_timeout_ms / 1000):
                conn = await create_conn(
                    name, int(port), client_id="cybermesh-check",
                    request_timeout_ms=k.connect_timeout_ms, **opts,
                )
                try:
                    # a real request: a listener of another kind accepts the TCP/TLS connection
                    # and only then hangs up
                    await conn.send(MetadataRequest([], False))
                finally:
                    conn.close()
        except Exception as exc:  # noqa: BLE001 - every failure is explained (rule 2)
            first = first or explain(host, exc, k)
            continue
        return host
    assert first is not None
    raise first


def explain_failure(k: KafkaSettings) -> str:
    """After a client failed: probe again and return the setting-naming explanation (or a note
    that the broker now answers). For CLI error messages."""
    loop = asyncio.new_event_loop()
    try:
        host = loop.run_until_complete(probe(k))
    except KafkaSettingsError as exc:
        return str(exc)
    finally:
        loop.close()
    return f"kafka.bootstrap: the broker at {host} answers a probe now (a transient failure?)"
