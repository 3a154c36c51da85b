"""The CA myonion makes for each gateway (gateway_tls): kept beside the service's other secrets,
a server certificate for the names devices use, handed to the container like every secret
file; its file and fingerprint shown to the user."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from myonion import gateway_tls
from myonion.cli import main
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime

ONION = "http://" + "a" * 55 + "d.onion"
BRIDGE = {"devices": "kitchen", "receiver": ONION,
          "receiver_tokens": "kitchen:kitchen-t0k3n-for-tests"}


def openssl(*args: str, data: str | None = None) -> str:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, text=True,
                          check=True).stdout


def test_a_ca_once_and_a_server_certificate_for_the_names(tmp_path: Path) -> None:
    folder = gateway_tls.ensure(tmp_path, "gw", ["pi.local", "192.168.1.20", "localhost"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes == {"ca.key": 0o600, "ca.crt": 0o644, "server.key": 0o600,
                     "server.crt": 0o644}
    ca, server = folder / "ca.crt", folder / "server.crt"
    assert "OK" in openssl("verify", "-CAfile", str(ca), str(server))
    text = openssl("x509", "-in", str(server), "-noout", "-text")
    assert "DNS:pi.local" in text and "IP Address:192.168.1.20" in text
    assert "TLS Web Server Authentication" in text
    assert "CA:TRUE, pathlen:0" in openssl("x509", "-in", str(ca), "-noout", "-text")
    # the fingerprint as openssl prints it
    printed = openssl("x509", "-in", str(ca), "-noout", "-fingerprint", "-sha256")
    assert gateway_tls.fingerprint(ca.read_text()) == "SHA256:" + printed.split("=", 1)[1].strip()
    # the same names: nothing made again; other names: a new server certificate, same CA
    before = (ca.read_bytes(), server.read_bytes())
    gateway_tls.ensure(tmp_path, "gw", ["pi.local", "192.168.1.20", "localhost"])
    assert (ca.read_bytes(), server.read_bytes()) == before
    gateway_tls.ensure(tmp_path, "gw", ["pi.local", "192.168.1.21"])
    assert ca.read_bytes() == before[0] and server.read_bytes() != before[1]
    assert "OK" in openssl("verify", "-CAfile", str(ca), str(server))


def test_the_names_are_the_given_ones_or_this_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    names = gateway_tls.server_names("gw", {"lan_tls_names": "pi.lan 10.0.0.5"})
    assert names == ["pi.lan", "10.0.0.5", "myonion-gw", "localhost", "127.0.0.1"]
    monkeypatch.setattr(gateway_tls, "host_addresses", lambda: ["192.168.1.20"])
    names = gateway_tls.server_names("gw", {"lan_address": "192.168.1.20"})
    host = socket.gethostname().lower()
    assert names[:3] == [host, f"{host}.local", "192.168.1.20"] and "myonion-gw" in names
    # Docker's bridges are no LAN addresses of this machine
    assert not any(a.startswith("172.17.") for a in gateway_tls.host_addresses())


def test_a_gateway_gets_its_certificates_as_runtime_files(
        manager: Manager, runtime: FakeRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    manager.share("mqtt-bridge", BRIDGE, name="gw", wait=False)
    service = manager.store.root / "gw"
    conf = service / "conf"
    assert stat.S_IMODE((conf / "tls_server.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((conf / "tls_server.crt").stat().st_mode) == 0o644
    assert (conf / "tls_ca.crt").read_text() == (service / "tls" / "ca.crt").read_text()
    ca_key = (service / "tls" / "ca.key").read_text()
    # the CA's key stays on the host: in no rendered file, nowhere in the container's spec
    assert not any(ca_key.splitlines()[1] in p.read_text() for p in conf.iterdir())
    spec, _ = runtime.containers["myonion-gw"]
    assert not any(str(service / "tls") in m.source for m in spec.mounts)
    monkeypatch.setattr("myonion.cli.common.manager", lambda reporter=None: manager)
    assert main(["secrets", "gw", "--json", "--ca-file", str(tmp_path / "ca.crt")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tls"]["fingerprint"] == gateway_tls.fingerprint(
        (service / "tls" / "ca.crt").read_text())
    assert (tmp_path / "ca.crt").read_text() == shown["tls"]["ca_pem"]
    assert [d["device"] for d in shown["devices"]] == ["kitchen"]
    assert main(["secrets", "gw", "--qr", "ca"]) == 0
    assert "CA fingerprint: SHA256:" in capsys.readouterr().out


def test_plaintext_only_when_asked(manager: Manager, runtime: FakeRuntime) -> None:
    manager.share("mqtt-bridge", {**BRIDGE, "lan_tls": "false"}, name="gwplain", wait=False)
    conf = manager.store.root / "gwplain" / "conf"
    assert not (conf / "tls_server.key").exists()
    assert not (manager.store.root / "gwplain" / "tls").exists()
