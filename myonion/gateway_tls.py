"""A certificate authority per gateway, so devices on the LAN talk to it over TLS.

A template with a bool option ``lan_tls`` gets, while it is true, a CA of its own made here
(an EC P-256 key and a self-signed certificate, valid 20 years) and a server certificate signed by
it for the names and addresses the option ``lan_tls_names`` gives (else this machine's host name
and LAN addresses, plus the service's container name for devices on its Docker network, and
``localhost``/``127.0.0.1``). Devices pin the CA (its file, or its SHA-256 fingerprint): a new
server certificate, e.g. after the Pi's address changed, needs nothing new on them.

Everything is kept in ``<service dir>/tls/`` (0700): the CA's and the server's keys 0600, the
certificates 0644. The container gets the server's key, its certificate and the CA certificate
as runtime files (``tls_server.key``, 0600 and the service's user's, like every secret file;
``tls_server.crt``, ``tls_ca.crt``); the CA's key never leaves the host.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from myonion.build import hardening
from myonion.templates import TemplateSpec

TLS_OPTION = "lan_tls"
NAMES_OPTION = "lan_tls_names"
CA_YEARS = 20
SERVER_DAYS = 5 * 365
#: interfaces whose addresses are no LAN addresses of this machine (Docker's, VPNs' bridges)
VIRTUAL_PREFIXES = ("lo", "docker", "br-", "veth", "virbr", "cni", "flannel", "vxlan", "tun",
                    "tap", "zt", "wg", "tailscale")
SIOCGIFADDR = 0x8915


@dataclass(frozen=True)
class Authority:
    """A gateway's CA certificate and its fingerprint, as devices and phones need them."""

    cert_pem: str
    fingerprint: str
    path: Path

    def to_dict(self) -> dict[str, Any]:
        return {"ca_file": str(self.path), "ca_pem": self.cert_pem,
                "fingerprint": self.fingerprint}


def wants_tls(template: TemplateSpec, values: dict[str, Any]) -> bool:
    """Whether a service of ``template`` with these options gets a CA and certificates."""
    option = template.option(TLS_OPTION)
    return option is not None and option.type == "bool" and bool(values.get(TLS_OPTION))


def fingerprint(cert_pem: str) -> str:
    """``SHA256:AB:CD:…``, as ``openssl x509 -fingerprint -sha256`` prints it."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return "SHA256:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def host_addresses() -> list[str]:
    """This machine's IPv4 addresses on its real interfaces (not loopback, Docker's bridges,
    or VPNs): the addresses LAN devices reach it at."""
    found: list[str] = []
    for _, name in socket.if_nameindex():
        if name.startswith(VIRTUAL_PREFIXES):
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, \
                contextlib.suppress(OSError):
            packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR,
                                 struct.pack("256s", name[:15].encode()))
            found.append(socket.inet_ntoa(packed[20:24]))
    return sorted(set(found))


def server_names(service: str, values: dict[str, Any]) -> list[str]:
    """The names and addresses the server certificate is for: those of ``lan_tls_names``,
    else this machine's; always the container's name and this machine's loopback."""
    given = str(values.get(NAMES_OPTION) or "").split()
    if given:
        names = given
    else:
        host = socket.gethostname()
        names = [host, f"{host}.local", *host_addresses()]
        address = str(values.get("lan_address") or "")
        if address and address not in ("0.0.0.0", "127.0.0.1", "::"):
            names.append(address)
    names += [f"myonion-{service}", "localhost", "127.0.0.1"]
    return list(dict.fromkeys(n.lower() for n in names if n))


def _subject_names(names: list[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _make_ca(folder: Path, service: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"myonion gateway CA ({service})")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    hardening.write_file(folder / "ca.key", _pem_key(key), secret=True)
    hardening.write_file(folder / "ca.crt", cert.public_bytes(serialization.Encoding.PEM)
                         .decode(), secret=False)


def _server_names_of(path: Path) -> list[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + \
        [str(v) for v in san.get_values_for_type(x509.IPAddress)]


def _make_server(folder: Path, names: list[str]) -> None:
    ca_key = _load_key(folder / "ca.key")
    ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(_subject_names(names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    hardening.write_file(folder / "server.key", _pem_key(key), secret=True)
    hardening.write_file(folder / "server.crt", cert.public_bytes(serialization.Encoding.PEM)
                         .decode(), secret=False)


def ensure(service_dir: Path, service: str, names: list[str]) -> Path:
    """The service's TLS folder, with its CA made once and a server certificate for exactly
    ``names`` (made again when the names change, or when it has less than 30 days left)."""
    folder = service_dir / "tls"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    if not (folder / "ca.key").is_file() or not (folder / "ca.crt").is_file():
        _make_ca(folder, service)
        (folder / "server.crt").unlink(missing_ok=True)
    fresh = False
    with contextlib.suppress(OSError, ValueError, x509.ExtensionNotFound):
        cert = x509.load_pem_x509_certificate((folder / "server.crt").read_bytes())
        left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        fresh = (sorted(_server_names_of(folder / "server.crt")) == sorted(
            str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in names)
            and left > datetime.timedelta(days=30) and (folder / "server.key").is_file())
    if not fresh:
        _make_server(folder, names)
    return folder


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def runtime_files(template: TemplateSpec, service: str, values: dict[str, Any],
                  service_dir: Path) -> dict[str, str]:
    """The TLS files a service's container gets (none unless ``lan_tls`` is on); makes the CA
    and the server certificate when missing or out of date."""
    if not wants_tls(template, values):
        return {}
    folder = ensure(service_dir, service, server_names(service, values))
    return {"tls_server.key": (folder / "server.key").read_text(),
            "tls_server.crt": (folder / "server.crt").read_text(),
            "tls_ca.crt": (folder / "ca.crt").read_text()}


def authority(service_dir: Path) -> Authority | None:
    """The service's CA certificate (None: it has none, TLS was never on)."""
    path = service_dir / "tls" / "ca.crt"
    try:
        pem = path.read_text()
    except OSError:
        return None
    return Authority(pem, fingerprint(pem), path)
