"""The one function family that turns the `kafka` settings into client options (no broker).

Rules of cybermesh.kafka.client and cybermesh.kafka.topics, checked on their outputs; the
real handshakes are in tests/integration/deploy/test_deploy_secure_kafka.py.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

from cybermesh.config import ConfigError, KafkaSettings, load_settings
from cybermesh.kafka.check import explain
from cybermesh.kafka.client import client_options, faust_options, producer_options
from cybermesh.kafka.topics import validator_topics

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    """A real PEM CA certificate (made with the stdlib-independent cryptography package)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def sasl(ca: Path, tmp_path: Path, **over: Any) -> KafkaSettings:
    pw = tmp_path / "pw"
    pw.write_text("s3cret-pw\nignored second line\n")
    base: dict[str, Any] = {
        "bootstrap": "k1:9093,k2:9093", "security_protocol": "SASL_SSL", "ssl_cafile": str(ca),
        "sasl_username": "validator-1", "sasl_password_file": str(pw),
    }
    return load_settings(kafka={**base, **over}).kafka


def test_plaintext() -> None:
    k = KafkaSettings(bootstrap="a:1, b:2")
    assert client_options(k) == {"bootstrap_servers": ["a:1", "b:2"], "security_protocol": "PLAINTEXT"}
    f = faust_options(k)
    assert f == {"broker": ["kafka://a:1", "kafka://b:2"], "broker_credentials": None, "producer_acks": -1}


def test_sasl_ssl_scram(ca: Path, tmp_path: Path) -> None:
    k = sasl(ca, tmp_path)
    opts = client_options(k)
    assert opts["security_protocol"] == "SASL_SSL"
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert opts["sasl_plain_username"] == "validator-1"
    assert opts["sasl_plain_password"] == "s3cret-pw"  # first line of the file
    ctx = opts["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "test CA"),),)]
    creds = faust_options(k)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.password == "s3cret-pw" and creds.ssl_context is not None
    assert "s3cret" not in repr(creds) and "s3cret" not in repr(k) and "s3cret" not in str(load_settings(kafka={
        "security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": "s3cret"}))


def test_plain_mechanism_and_env_password(ca: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERMESH_KAFKA__SASL_PASSWORD", "from-env")
    k = load_settings(kafka={"security_protocol": "SASL_SSL", "ssl_cafile": str(ca),
                             "sasl_mechanism": "PLAIN", "sasl_username": "u"}).kafka
    opts = client_options(k)
    assert opts["sasl_mechanism"] == "PLAIN" and opts["sasl_plain_password"] == "from-env"


def test_ssl_and_producer_idempotence(ca: Path) -> None:
    k = load_settings(kafka={"security_protocol": "SSL", "ssl_cafile": str(ca), "ssl_check_hostname": False}).kafka
    opts = producer_options(k)
    assert opts["enable_idempotence"] is True and opts["acks"] == "all"
    assert opts["security_protocol"] == "SSL" and not opts["ssl_context"].check_hostname
    assert "sasl_mechanism" not in opts
    creds = faust_options(k)["broker_credentials"]
    assert isinstance(creds, faust.SSLCredentials) and creds.context.check_hostname is False


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "kafka.sasl_username is required"),
        ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "kafka.sasl_password_file (or env"),
        ({"security_protocol": "SASL_PLAINTEXT"}, "kafka.security_protocol: Input should be 'PLAINTEXT', 'SSL' or 'SASL_SSL'"),
        ({"sasl_username": "u", "sasl_password": "p"}, "security_protocol is PLAINTEXT (use SASL_SSL)"),
        ({"ssl_cafile": "/nonexistent/ca.pem"}, "kafka.ssl_cafile: Value error, '/nonexistent/ca.pem' is not a readable file"),
        ({"sasl_mechanism": "GSSAPI"}, "kafka.sasl_mechanism"),
        ({"replication_factor": 1, "min_insync_replicas": 2}, "kafka.min_insync_replicas 2 > kafka.replication_factor 1"),
    ],
)
def test_bad_kafka_settings_name_the_field(kafka: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(kafka=kafka)
    assert message in str(exc.value)


def test_topic_specs() -> None:
    k = KafkaSettings(partitions=6, replication_factor=3, min_insync_replicas=2,
                      dlq_retention_ms=86_400_000, control_retention_ms=-1)
    specs = {s.name: s for s in validator_topics(k, "p-")}
    assert sorted(specs) == sorted(
        ["p-ai.anomalies.v1", "p-ai.evidence.v1", "p-ai.policy.v1", "p-ai.anomalies.v1.dlq",
         "p-ai.evidence.v1.dlq", "p-ai.policy.v1.dlq", "p-ledger.blocks.v1", "p-control.commits.v1",
         "p-control.reputation.v1", "p-control.policy.v1", "p-control.evidence.v1"])
    assert all(s.replication == 3 and s.configs["min.insync.replicas"] == "2" for s in specs.values())
    assert specs["p-ai.anomalies.v1"].partitions == 6
    assert specs["p-ai.policy.v1.dlq"].partitions == 6
    assert specs["p-ai.policy.v1.dlq"].configs["retention.ms"] == "86400000"
    ledger = specs["p-ledger.blocks.v1"]
    assert ledger.partitions == 1
    assert ledger.configs["retention.ms"] == "-1" and ledger.configs["retention.bytes"] == "-1"
    assert ledger.configs["cleanup.policy"] == "delete"
    assert int(ledger.configs["max.message.bytes"]) >= 16 * 1024 * 1024
    assert specs["p-control.commits.v1"].partitions == 1
    assert specs["p-control.commits.v1"].configs["retention.ms"] == "-1"


def test_explain_names_the_setting(ca: Path, tmp_path: Path) -> None:
    k = sasl(ca, tmp_path)
    refused = KafkaConnectionError("x")
    refused.__cause__ = ConnectionRefusedError(111, "refused")
    assert str(explain("k1:9093", refused, k)).startswith("kafka.bootstrap: no Kafka broker answers at k1:9093")
    bad = SaslAuthenticationFailed("Authentication failed")
    assert str(explain("k1:9093", bad, k)).startswith("kafka.sasl_password_file: the broker at k1:9093 refused")
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "unable to get local issuer certificate"
    assert str(explain("k1:9093", cert, k)) == (
        f"kafka.ssl_cafile: the certificate of the broker at k1:9093 is not trusted by {ca} "
        "(unable to get local issuer certificate)")

    mismatch = ssl.SSLCertVerificationError(1, "certificate verify failed")
    mismatch.verify_code = 62
    mismatch.verify_message = "Hostname mismatch, certificate is not valid for 'k1'."
    assert str(explain("k1:9093", mismatch, k)).startswith(
        "kafka.ssl_check_hostname: the certificate of the broker at k1:9093 does not name that host")
    plain = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    plain.reason = "WRONG_VERSION_NUMBER"
    assert str(explain("k1:9093", plain, k)).startswith("kafka.security_protocol: TLS handshake with k1:9093 failed")
