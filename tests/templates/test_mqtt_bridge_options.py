"""The mqtt-bridge template's devices, routes and destinations are validated before anything
runs, and render into one identity per device."""

from __future__ import annotations

import pytest

from myonion.build import render
from myonion.errors import OptionError
from myonion.templates import TemplateRegistry
from tests.ports import free_port

SPEC = TemplateRegistry().get("mqtt-bridge")
ONION = "a" * 55 + "d.onion"
ROUTE = f"kitchen http://{ONION}/api/v1/readings/kitchen kitchen-t0k3n-for-tests"
DEVICES = "kitchen:broker-pw-for-tests"
SERVICE = {"name": "b", "network": "local", "mode": "ephemeral"}


def valid(**given: str) -> dict:
    return SPEC.validate({"routes": ROUTE, "devices": DEVICES, **given})


@pytest.mark.parametrize("routes", [
    ROUTE, f"# routes\n{ROUTE}\r\ngarden http://{ONION}:8080/x garden-t0k3n-for-tests\n",
])
def test_routes_accepted(routes: str) -> None:
    assert valid(routes=routes)["routes"] == routes


@pytest.mark.parametrize("routes", [
    "kitchen", f"kitchen http://example.com/x {'t' * 20}", f"kitchen https://{ONION}/ {'t' * 20}",
    f"kitchen http://{ONION}/ short", f"Kitchen http://{ONION}/ {'t' * 20}",
    f"kitchen http://{ONION}/ {'t' * 20} extra", f"kitchen http://{ONION}/?q {'t' * 20}",
    f"kitchen http://user@{ONION}/ {'t' * 20}", f"{ROUTE}\nnonsense",
])
def test_routes_refused(routes: str) -> None:
    with pytest.raises(OptionError):
        valid(routes=routes)


@pytest.mark.parametrize("devices", [
    "_bridge:broker-pw-for-tests", "kitchen:short", "kitchen:with space inside",
    ":broker-pw-for-tests", "Kitchen:broker-pw-for-tests", "kitchen\nuser _bridge",
    "kitchen:change-me-broker-pw", "kitchen:broker-pw-for-tests extra",
])
def test_devices_refused(devices: str) -> None:
    with pytest.raises(OptionError):
        valid(devices=devices)


@pytest.mark.parametrize("devices", ["kitchen", "kitchen\ngarden:broker-pw-for-tests\n# c"])
def test_devices_accepted_without_their_passwords(devices: str) -> None:
    assert valid(devices=devices)["devices"] == devices


def test_secrets_hidden_and_acl() -> None:
    values = valid()
    shown = SPEC.public_options(values)
    assert shown["routes"] == shown["devices"] == "(hidden)"
    files = render.render_runtime_files(SPEC, SERVICE, values)
    assert "allow_anonymous false" in files["mosquitto.conf"]
    assert "listener 1885 127.0.0.1" in files["mosquitto.conf"]  # behind the fronts only
    assert "topic read readings/+" in files["acl"]
    # each device writes its own topic only: no shared users, no patterns for everyone
    acl = [line for line in files["acl"].splitlines() if line and not line.startswith("#")]
    assert acl == ["user _bridge", "topic read readings/+", "user kitchen",
                   "topic write readings/kitchen"]
    assert "pattern" not in files["acl"]
    assert "SocksPort 127.0.0.1:9050" in files["torrc"]


def test_a_receiver_and_its_tokens_make_the_routes() -> None:
    """The deployment file's usual case: every device to one receiver, with its token there;
    a device with a route of its own goes there instead."""
    receiver = f"http://{ONION}"
    other = "http://" + "b" * 55 + "d.onion/api/v1/readings/garden"
    values = valid(routes=f"garden {other} garden-t0k3n-for-tests",
                   devices="kitchen\ngarden\nhealth", receiver=receiver,
                   receiver_tokens="kitchen:kitchen-t0k3n-for-tests\n"
                   "garden:unused-t0k3n-for-tests\nhealth:health-t0k3n-for-tests",
                   health="true")
    routes = render.render_runtime_files(SPEC, SERVICE, values)["routes"]
    lines = [line for line in routes.splitlines() if line and not line.startswith("#")]
    assert lines == [
        f"garden {other} garden-t0k3n-for-tests",
        f"kitchen {receiver}/api/v1/readings/kitchen kitchen-t0k3n-for-tests",
        f"health {receiver}/api/v1/readings/health health-t0k3n-for-tests"]
    acl = render.render_runtime_files(SPEC, SERVICE, values)["acl"]
    assert "user health" not in acl  # the health reports come from the bridge itself


def test_the_options_say_tls_health_and_the_log_bound() -> None:
    settings = render.render_runtime_files(SPEC, SERVICE, valid(health="true",
                                                                 delivery_log="500"))
    import json

    data = json.loads(settings["bridge.json"])
    assert data["lan_tls"] is True and data["health"] is True and data["delivery_log"] == 500
    assert json.loads(render.render_runtime_files(SPEC, SERVICE, valid(lan_tls="false"))[
        "bridge.json"])["lan_tls"] is False


def test_onion_serves_the_status_page_and_the_broker_only_when_asked() -> None:
    service = {"name": "b", "network": "tor", "mode": "ephemeral"}
    torrc = render.render_runtime_files(SPEC, service, valid())["torrc"]
    assert "HiddenServicePort 80 127.0.0.1:8080" in torrc
    assert "HiddenServicePort 1883" not in torrc
    torrc = render.render_runtime_files(SPEC, service, valid(onion_broker="true"))["torrc"]
    # through the bridge's front (port 1884), which throttles failed logins
    assert "HiddenServicePort 80 127.0.0.1:8080\nHiddenServicePort 1883 127.0.0.1:1884" in torrc
    # check and readiness use the first port: always the status page, over HTTP
    assert SPEC.ports[0].virtual == 80 and SPEC.ports[0].protocol == "http"


def test_lan_port_is_published_only_when_given_and_on_loopback_by_default() -> None:
    assert SPEC.published(valid()) == {}
    assert SPEC.published(valid(lan_port="8883")) == {"1883/tcp": ("127.0.0.1", 8883)}
    port = free_port()
    assert SPEC.published(valid(lan_port=str(port), lan_address="192.168.1.20")) == {
        "1883/tcp": ("192.168.1.20", port)}
    # the HTTP door too, on the same address
    assert SPEC.published(valid(lan_http_port="8443", lan_address="0.0.0.0")) == {
        "8088/tcp": ("0.0.0.0", 8443)}
    with pytest.raises(OptionError, match="only applies when 'lan_port' is given"):
        valid(lan_address="0.0.0.0")
    with pytest.raises(OptionError, match="must be an IP address"):
        valid(lan_port="1883", lan_address="0.0.0.0:1883")
