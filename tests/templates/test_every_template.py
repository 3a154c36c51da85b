"""Run over every template in containers/: the manifest validates, both templates render."""

from __future__ import annotations

from typing import Any

import pytest

from myonion.build import render
from myonion.templates import TemplateRegistry, TemplateSpec

REGISTRY = TemplateRegistry()
IDS = REGISTRY.ids()


def minimal(spec: TemplateSpec) -> dict[str, Any]:
    """Values for the required options, and for the first option of each one_of group."""
    names = {o.name for o in spec.options if o.required} | {g[0] for g in spec.one_of}
    return {o.name: o.default if o.example is None else o.example
            for o in spec.options if o.name in names}


def test_there_are_templates() -> None:
    assert "site" in IDS


def test_the_python_layer_is_python3_on_the_tor_layer() -> None:
    """iot-receiver, mqtt-bridge, onionbalance and forward share one python3 (stored once)."""
    assert {i for i in IDS if REGISTRY.get(i).layer == "python"} == {
        "iot-receiver", "mqtt-bridge", "onionbalance", "forward"}
    dockerfile = render.python_image_context("myonion/tor:x").files["Dockerfile"].decode()
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "FROM myonion/tor:x" and "python3 " in dockerfile + " "
    # no USER: containers start as root only to start tor and the service as two users
    assert not any(line.startswith("USER") for line in lines)
    # the layer's digest names its content: another tor layer, another python layer
    assert (render.python_image_context("myonion/tor:x").digest
            != render.python_image_context("myonion/tor:y").digest)


@pytest.mark.parametrize("template_id", IDS)
@pytest.mark.parametrize("network", ["tor", "local"])
@pytest.mark.parametrize("mode", ["ephemeral", "persistent"])
def test_template_renders(template_id: str, network: str, mode: str) -> None:
    spec = REGISTRY.get(template_id)
    options = spec.validate(minimal(spec))
    python = "myonion/python:x" if spec.layer == "python" else None
    dockerfile = render.template_context(spec, "myonion/tor:x", python).files["Dockerfile"]
    first = next(line for line in dockerfile.decode().splitlines()
                 if line.strip() and not line.startswith("#"))
    assert first == ("FROM myonion/python:x" if python else "FROM myonion/tor:x")
    files = render.render_runtime_files(spec, {"name": "svc", "network": network, "mode": mode},
                                        options)
    torrc = files["torrc"]
    assert spec.onion_ports(options)[0] == spec.ports[0]
    if spec.balance_frontend:
        # an Onionbalance frontend publishes the master descriptor itself (HSPOST): its tor
        # must not publish one of its own under the same key
        assert "HiddenServiceDir" not in torrc and "HiddenServicePort" not in torrc
    else:
        assert "HiddenServiceDir /var/lib/tor/hs" in torrc
        for port in spec.onion_ports(options):
            assert f"HiddenServicePort {port.virtual} 127.0.0.1:{port.target}" in torrc
    # the production torrc is the same on both networks; the test network comes in an include
    assert "TestingTorNetwork" not in torrc and "DirAuthority" not in torrc
    assert "%include /etc/tor/torrc.d/*.conf" in torrc
    # control only over the unix socket with a cookie; no SOCKS, no relay
    assert "ControlPort" not in torrc and "ORPort 0" in torrc
    socks = [line for line in torrc.splitlines() if line.startswith("SocksPort")]
    # only a template whose service goes out through tor gets a SOCKS port, on loopback
    assert socks == (["SocksPort 127.0.0.1:9050 IsolateDestAddr"] if spec.tor_client
                     else ["SocksPort 0"])
    assert "CookieAuthentication 1" in torrc


@pytest.mark.parametrize("template_id", IDS)
def test_examples_are_valid(template_id: str) -> None:
    """Every option's example passes its own validation (required ones need one or a default)."""
    spec = REGISTRY.get(template_id)
    for option in spec.options:
        if option.required or any(option.name == g[0] for g in spec.one_of):
            assert option.example is not None or option.default is not None, option.name
        if option.example is not None:
            given = {**minimal(spec), option.name: option.example}
            for group in spec.one_of:  # the example replaces its group's first option
                if option.name in group:
                    given = {k: v for k, v in given.items() if k not in group or k == option.name}
            spec.validate(given)


def test_public_torrc_has_no_test_settings() -> None:
    spec = REGISTRY.get("site")
    torrc = render.render_runtime_files(
        spec, {"name": "blog", "network": "tor", "mode": "persistent"}, spec.validate({}))["torrc"]
    lines = [line for line in torrc.splitlines() if line and not line.startswith("#")]
    assert not any(line.startswith(("Testing", "DirAuthority", "AssumeReachable"))
                   for line in lines)
    assert "SafeLogging 1" in lines
