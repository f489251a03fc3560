"""The demo's OPC UA certificates: made at first start in the data directory, reused after, trusted both ways."""

from __future__ import annotations

from pathlib import Path

from asyncua.crypto.cert_gen import generate_private_key, generate_self_signed_app_certificate
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from tvilling.adapters.opcua import OpcuaSettings
from tvilling.cli.demo_certs import CLIENT_URI, PLC_URI, opcua_certificates
from tvilling.virtual_plant.opcua_plc import APPLICATION_URI


def _uris(cert: Path) -> list[str]:
    parsed = x509.load_der_x509_certificate(cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def test_certificates_are_made_once_with_each_sides_uri_and_private_keys(tmp_path: Path) -> None:
    certs = opcua_certificates(tmp_path)
    # Each certificate names its side's application URI (the client's must equal what the platform presents).
    assert _uris(certs.plc_cert) == [PLC_URI] and PLC_URI == APPLICATION_URI
    default_uri = OpcuaSettings(url="opc.tcp://x", security="None").application_uri
    assert _uris(certs.client_cert) == [CLIENT_URI] and default_uri == CLIENT_URI
    # The PLC's trust directory holds the platform's certificate and nothing else (no keys).
    assert sorted(p.name for p in certs.trust_dir.iterdir()) == [certs.client_cert.name]
    for key in (certs.plc_key, certs.client_key):
        assert key.read_bytes().startswith(b"-----BEGIN") and key.stat().st_mode & 0o077 == 0
    before = {p: p.read_bytes() for p in (certs.plc_cert, certs.plc_key, certs.client_cert, certs.client_key)}
    again = opcua_certificates(tmp_path)
    assert again == certs and all(p.read_bytes() == b for p, b in before.items())  # reused, not made again


def test_a_certificate_about_to_expire_is_made_again(tmp_path: Path) -> None:
    certs = opcua_certificates(tmp_path)
    key = generate_private_key()
    short = generate_self_signed_app_certificate(key, "old", {}, [x509.UniformResourceIdentifier(PLC_URI)],
                                                 [ExtendedKeyUsageOID.SERVER_AUTH], days=0)
    certs.plc_cert.write_bytes(short.public_bytes(Encoding.DER))
    client_before = certs.client_cert.read_bytes()
    opcua_certificates(tmp_path)
    renewed = x509.load_der_x509_certificate(certs.plc_cert.read_bytes())
    assert renewed.serial_number != short.serial_number
    assert (renewed.not_valid_after_utc - renewed.not_valid_before_utc).days >= 364
    assert certs.client_cert.read_bytes() == client_before  # the still-valid side is kept
