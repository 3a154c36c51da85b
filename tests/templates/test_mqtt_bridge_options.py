"""The mqtt-bridge template's routes and broker users are validated before anything runs."""

from __future__ import annotations

import pytest

from myonion import render
from myonion.errors import OptionError
from myonion.templates import TemplateRegistry

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
    assert "topic read readings/+" in files["acl"] and "pattern write readings/+" in files["acl"]
    assert "SocksPort 127.0.0.1:9050" in files["torrc"]
