"""The forward template's target must be a plain host name or IPv4 address elsewhere."""

from __future__ import annotations

import pytest

from myonion.build import render
from myonion.errors import OptionError
from myonion.templates import TemplateRegistry

SPEC = TemplateRegistry().get("forward")


@pytest.mark.parametrize("host", ["homeassistant", "192.168.1.20", "10.0.0.10", "cam-1.lan",
                                  "myonion-fwdtarget-123", "host0", "NAS.local"])
def test_targets_accepted(host: str) -> None:
    assert SPEC.validate({"target_host": host, "target_port": "8123"})["target_port"] == 8123


@pytest.mark.parametrize("host", [
    "localhost", "LOCALHOST", "foo.localhost", "localhost.localdomain", "127.0.0.1", "127.1",
    "0.0.0.0", "169.254.169.254", "2130706433", "0x7f000001", "0177.0.0.1", "10.0177.0.1",
    "1.2.3", "::1", "[::1]", "a:80", "a b", "a;id", "$(id)", "-oProxyCommand", "x.", ".x",
    "a" * 64, "a\nb", "host/path", "user@host",
])
def test_targets_refused(host: str) -> None:
    with pytest.raises(OptionError):
        SPEC.validate({"target_host": host, "target_port": "80"})


@pytest.mark.parametrize("port", ["0", "65536", "-1", "http"])
def test_ports_refused(port: str) -> None:
    with pytest.raises(OptionError):
        SPEC.validate({"target_host": "nas", "target_port": port})


def test_rendered_files() -> None:
    files = render.render_runtime_files(
        SPEC, {"name": "f", "network": "local", "mode": "ephemeral"},
        SPEC.validate({"target_host": "nas.lan", "target_port": 8123}))
    assert "TARGET_HOST=nas.lan\nTARGET_PORT=8123\n" in files["forward.env"]
    assert "/dev/tcp/nas.lan/8123" in files["healthcheck.sh"]
    assert SPEC.ports[0].virtual == 80 and SPEC.ports[0].protocol == "tcp"
