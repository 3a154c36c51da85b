"""The forward template's options: the target is a plain host name or IPv4 address, and names
that are loopback or the test network's anyway are refused at once (a first filter for a clear
message at share time: what the target resolves to is checked by the relay at every connection,
see test_forward_guard.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from myonion.build import render
from myonion.errors import OptionError
from myonion.templates import TemplateRegistry
from tests.templates.forward_relay_module import relay_module

SPEC = TemplateRegistry().get("forward")


@pytest.mark.parametrize("host", ["homeassistant", "192.168.1.20", "10.0.0.10", "cam-1.lan",
                                  "myonion-fwdtarget-123", "host0", "NAS.local",
                                  "myonion-testnetwork", "localhostess", "ip6.lan"])
def test_targets_accepted(host: str) -> None:
    assert SPEC.validate({"target_host": host, "target_port": "8123"})["target_port"] == 8123


@pytest.mark.parametrize("host", [
    "localhost", "LOCALHOST", "foo.localhost", "localhost.localdomain", "127.0.0.1", "127.1",
    "0.0.0.0", "169.254.169.254", "2130706433", "0x7f000001", "0177.0.0.1", "10.0177.0.1",
    "1.2.3", "::1", "[::1]", "ip6-localhost", "IP6-LOOPBACK", "ip6-allnodes", "localhost6",
    "localhost6.localdomain6", "myonion-testnet-client", "MYONION-TESTNET-auth1",
    "myonion-testnet", "a:80", "a b", "a;id", "$(id)", "-oProxyCommand", "x.", ".x",
    "a" * 64, "a\nb", "host/path", "user@host",
])
def test_targets_refused(host: str) -> None:
    with pytest.raises(OptionError):
        SPEC.validate({"target_host": host, "target_port": "80"})


@pytest.mark.parametrize("port", ["0", "65536", "-1", "http"])
def test_ports_refused(port: str) -> None:
    with pytest.raises(OptionError):
        SPEC.validate({"target_host": "nas", "target_port": port})


def test_rendered_files(tmp_path: Path) -> None:
    service = {"name": "f", "network": "local", "mode": "ephemeral"}
    values = SPEC.validate({"target_host": "nas.lan", "target_port": 8123})
    guard = {"host": ["192.168.1.5"], "testnet": ["10.213.5.250/32"]}
    files = render.render_runtime_files(SPEC, service, values, guard=guard)
    assert set(files) == {"torrc", "forward.json"}
    assert SPEC.ports[0].virtual == 80 and SPEC.ports[0].protocol == "tcp"
    assert values["allow_this_machine"] is False and values["idle_timeout"] == 600
    # the relay reads back what myonion rendered
    path = tmp_path / "forward.json"
    path.write_text(files["forward.json"])
    cfg = relay_module().load_config(str(path))
    assert (cfg.host, cfg.port, cfg.max_connections) == ("nas.lan", 8123, 32)
    assert cfg.guard.allow_this_machine is False
    assert [str(n) for n in cfg.guard.host] == ["192.168.1.5/32"]
    assert [str(n) for n in cfg.guard.testnet] == ["10.213.5.250/32"]
    # on the Tor network there is no test network to refuse; the host's addresses stay
    tor = render.render_runtime_files(SPEC, {**service, "network": "tor"}, SPEC.validate(
        {"target_host": "nas.lan", "target_port": 8123, "allow_this_machine": "true"}),
        guard=guard)
    assert json.loads(tor["forward.json"])["testnet_addresses"] == []
    assert json.loads(tor["forward.json"])["host_addresses"] == ["192.168.1.5"]
    assert json.loads(tor["forward.json"])["allow_this_machine"] is True


def test_healthcheck_is_the_relays_own_check() -> None:
    assert SPEC.healthcheck["test"][1:] == [
        "python3", "/usr/local/lib/myonion/myonion_forward.py", "check"]
    assert SPEC.layer == "python"
