"""The demo's OPC UA certificates (``tvilling demo``): the line PLC's and the platform client's, self-signed, made at
first start in the demo's data directory and reused after. Secure by default (G8): the demo never runs the PLC
without SignAndEncrypt, so it needs key pairs without asking anyone to make them."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# The line PLC's application URI (virtual_plant/opcua_plc.py; not imported, house rule 8) and the one the platform's
# OPC UA clients present (ingestion and commands): each certificate must carry its side's URI.
PLC_URI = "urn:tvilling:virtual-plant:line-plc"
CLIENT_URI = "urn:tvilling:ingest"
CERT_DAYS = 365
CERT_RENEW_S = 86400.0  # a certificate this close to expiry is made again at start


@dataclass(frozen=True)
class DemoCertificates:
    """The demo's OPC UA key pairs: the line PLC (server) and the platform (client). Trust is mutual: the PLC
    trusts the client certificates in ``trust_dir``; the platform pins ``plc_cert``."""

    plc_cert: Path
    plc_key: Path
    client_cert: Path
    client_key: Path
    trust_dir: Path


def _still_valid(cert: Path, key: Path) -> bool:
    from cryptography import x509

    if not (cert.exists() and key.exists()):
        return False
    try:
        parsed = x509.load_der_x509_certificate(cert.read_bytes())
    except ValueError:
        return False
    return parsed.not_valid_after_utc.timestamp() - datetime.now(UTC).timestamp() > CERT_RENEW_S


def opcua_certificates(data_dir: Path) -> DemoCertificates:
    """Self-signed certificates for the line PLC and the platform client under ``data_dir/opcua``, made on first
    start and reused after (new ones only when missing or about to expire). Keys are written owner-only and never
    leave the data directory (``data/`` is git-ignored)."""
    from asyncua.crypto.cert_gen import (
        dump_private_key_as_pem,
        generate_private_key,
        generate_self_signed_app_certificate,
    )
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID

    root = data_dir / "opcua"
    certs = DemoCertificates(plc_cert=root / "plc" / "line-plc.der", plc_key=root / "keys" / "line-plc.pem",
                             client_cert=root / "trusted-clients" / "tvilling-demo.der",
                             client_key=root / "keys" / "tvilling-demo.pem", trust_dir=root / "trusted-clients")
    for cert, key, name, uri, usage in (
            (certs.plc_cert, certs.plc_key, "tvilling-demo-line-plc", PLC_URI, ExtendedKeyUsageOID.SERVER_AUTH),
            (certs.client_cert, certs.client_key, "tvilling-demo-platform", CLIENT_URI,
             ExtendedKeyUsageOID.CLIENT_AUTH)):
        if _still_valid(cert, key):
            continue
        private = generate_private_key()
        made = generate_self_signed_app_certificate(
            private, name, {}, [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost"),
                                # asyncua warns about a certificate that does not name this host
                                x509.DNSName(socket.gethostname()),
                                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], [usage], days=CERT_DAYS)
        cert.parent.mkdir(parents=True, exist_ok=True)
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(dump_private_key_as_pem(private))
        cert.write_bytes(made.public_bytes(Encoding.DER))
    return certs
