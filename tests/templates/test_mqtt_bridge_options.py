"""The mqtt-bridge template's routes and broker users are validated before anything runs."""

from __future__ import annotations

import pytest

from myonion.build import render
from myonion.errors import OptionError
from myonion.templates import TemplateRegistry
from tests.ports import free_port

SPEC = TemplateRegistry().get("mqtt-bridge")
ONION = "a" * 55 + "d.onion"
ROUTE = f"kitchen http://{ONION}/api/v1/readings/kitchen kitchen-token-0123456789"
USERS = "sensors:correct-horse-battery"


def valid(**given: str) -> dict:
    return SPEC.validate({"routes": ROUTE, "lan_users": USERS, **given})


@pytest.mark.parametrize("routes", [
    ROUTE, f"# routes\n{ROUTE}\r\ngarden http://{ONION}:8080/x garden-token-0123456789\n",
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


@pytest.mark.parametrize("users", [
    "_bridge:correct-horse-battery", "sensors:short", "sensors:with space inside",
    "sensors", ":correct-horse-battery", "Sensors:correct-horse-battery", "# only a comment",
])
def test_lan_users_refused(users: str) -> None:
    with pytest.raises(OptionError):
        valid(lan_users=users)


def test_secrets_hidden_and_acl() -> None:
    values = valid()
    shown = SPEC.public_options(values)
    assert shown["routes"] == shown["lan_users"] == "(hidden)"
    files = render.render_runtime_files(
        SPEC, {"name": "b", "network": "local", "mode": "ephemeral"}, values)
    assert "allow_anonymous false" in files["mosquitto.conf"]
    assert "topic read readings/+" in files["acl"]
    # LAN users write the topics of routed devices only (no retained messages elsewhere)
    writes = [line for line in files["acl"].splitlines() if line.startswith("pattern write")]
    assert writes == ["pattern write readings/kitchen"]
    routes = f"# a comment\n{ROUTE}\r\n  garden http://{ONION}/x garden-token-0123456789\n"
    acl = render.render_runtime_files(SPEC, {"name": "b", "network": "local", "mode": "ephemeral"},
                                      valid(routes=routes, topic_prefix="home"))["acl"]
    assert [line for line in acl.splitlines() if not line.startswith("#")] == [
        "user _bridge", "topic read home/+", "", "pattern write home/kitchen",
        "pattern write home/garden"]
    assert "SocksPort 127.0.0.1:9050" in files["torrc"]


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
    assert SPEC.published(valid(lan_port="1883")) == {"1883/tcp": ("127.0.0.1", 1883)}
    port = free_port()
    assert SPEC.published(valid(lan_port=str(port), lan_address="192.168.1.20")) == {
        "1883/tcp": ("192.168.1.20", port)}
    with pytest.raises(OptionError, match="only applies when 'lan_port' is given"):
        valid(lan_address="0.0.0.0")
    with pytest.raises(OptionError, match="must be an IP address"):
        valid(lan_port="1883", lan_address="0.0.0.0:1883")
