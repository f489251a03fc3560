"""Server-certificate checks made before a secure OPC UA session is opened (S-12): validity period and URI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tvilling.adapters.opcua import OpcuaSecurityError, _check_server_certificate

URI = "urn:test:plc"


def _cert(start: datetime, end: datetime, uri: str = URI) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plc")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


def test_valid_certificate_passes() -> None:
    now = datetime.now(UTC)
    _check_server_certificate("opc.tcp://x", _cert(now - timedelta(days=1), now + timedelta(days=1)), URI)


@pytest.mark.parametrize(("offsets", "uri", "expected"), [
    ((-10, -1), URI, "valid only"),  # expired
    ((1, 10), URI, "valid only"),  # not yet valid
    ((-1, 1), "urn:test:impostor", "does not match"),  # wrong URI
])
def test_bad_certificates_are_refused(offsets: tuple[int, int], uri: str, expected: str) -> None:
    now = datetime.now(UTC)
    der = _cert(now + timedelta(days=offsets[0]), now + timedelta(days=offsets[1]), uri)
    with pytest.raises(OpcuaSecurityError, match=expected):
        _check_server_certificate("opc.tcp://x", der, URI)
