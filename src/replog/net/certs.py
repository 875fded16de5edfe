"""Make a throwaway CA and one certificate per node, for trying TLS and for the tests (`replog certs`).

An operator with a real PKI uses its certificates instead; these exist so that TLS is one command away.
Each node certificate names the node (its DNS name in a compose network, e.g. `master`) and every IP and
extra name given, plus `localhost` and 127.0.0.1, and may serve and dial (server and client auth): a node
presents the same certificate when it dials its peers, which is what mutual TLS checks. `client.pem` is
for CLI and library clients of a cluster with `tls_client_auth: true`. Keys are written 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CLIENT_NAME", "DEFAULT_NODES", "Written", "split_hosts", "write_certs"]

DEFAULT_NODES = ("master", "secondary-0", "secondary-1")
CLIENT_NAME = "client"
VALID_DAYS = 825  # The longest validity some TLS clients accept for a leaf certificate.
ALWAYS_NAMES = ("localhost",)
ALWAYS_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class Written:
    """What write_certs made: the CA's files and each name's (certificate, key) pair."""

    ca_file: Path
    ca_key_file: Path
    certs: dict[str, tuple[Path, Path]]


def split_hosts(hosts: Sequence[str]) -> tuple[list[str], list[str]]:
    """Node names (each gets a certificate) and IP addresses (in every certificate), in the order given."""
    names: list[str] = []
    ips: list[str] = []
    for host in (h.strip() for h in hosts):
        if not host:
            continue
        try:
            ips.append(str(ipaddress.ip_address(host)))
        except ValueError:
            names.append(host)
    return list(dict.fromkeys(names)), list(dict.fromkeys(ips))


def write_certs(directory: Path, hosts: Sequence[str] = DEFAULT_NODES) -> Written:
    """A fresh CA in `directory` (ca.pem, ca-key.pem), `<name>.pem`/`<name>-key.pem` per name and for the client.

    Names in `hosts` that are IP addresses go into every certificate instead of getting their own.
    """
    names, ips = split_hosts(hosts)
    if not names:
        names = list(DEFAULT_NODES)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"replog test CA {os.urandom(4).hex()}")])
    now = datetime.datetime.now(datetime.UTC)
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )  # digital_signature, key_cert_sign, crl_sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, ca_key_file = directory / "ca.pem", directory / "ca-key.pem"
    _write(ca_file, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(ca_key_file, _key_bytes(ca_key), private=True)
    certs = {}
    for name in [*names, CLIENT_NAME]:
        sans = [name, *ALWAYS_NAMES] if name != CLIENT_NAME else [name]
        addresses = [*ips, *ALWAYS_IPS] if name != CLIENT_NAME else []
        certs[name] = _leaf(directory, name, sans, addresses, ca_cert, ca_key, now)
    return Written(ca_file, ca_key_file, certs)


def _leaf(
    directory: Path,
    name: str,
    dns_names: list[str],
    ips: list[str],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(dns_names)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys(ips)]
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if name != CLIENT_NAME:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )  # Python 3.13's strict verification asks for it.
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}-key.pem"
    _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(key_file, _key_bytes(key), private=True)
    return cert_file, key_file


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Create with the final mode, so a key is never readable by others, not even for a moment."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
