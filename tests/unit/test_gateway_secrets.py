"""Device secrets myonion makes and keeps (gateway_secrets), what a deployment file passes from
one service to another (``${NAME.tokens}`` and the like), and secrets from examples refused."""

from __future__ import annotations

import json
import stat
import textwrap
from pathlib import Path

import pytest

from myonion import deploy, gateway_secrets, keys
from myonion.cli import main
from myonion.deploy import references
from myonion.errors import OptionError
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.templates import TemplateRegistry

REGISTRY = TemplateRegistry()
RECEIVER = REGISTRY.get("iot-receiver")
BRIDGE = REGISTRY.get("mqtt-bridge")
ADDRESS = keys.generate_onion_key().address  # a real one: client lines check it


def test_a_device_given_by_its_id_gets_a_secret_and_keeps_it() -> None:
    values = RECEIVER.validate({"devices": "kitchen\n# a comment\ngarden:garden-t0k3n-for-tests"})
    done = gateway_secrets.complete(RECEIVER, values)
    kitchen = gateway_secrets.secrets_by_device(RECEIVER, done)["kitchen"]
    assert kitchen and len(kitchen) == 32 and RECEIVER.validate(done)  # valid as given
    assert done["devices"].split("\n")[1:] == ["# a comment", "garden:garden-t0k3n-for-tests"]
    # made again with the same devices (and one more): kitchen keeps its secret
    again = gateway_secrets.complete(RECEIVER, RECEIVER.validate(
        {"devices": "kitchen\ngarden:garden-t0k3n-for-tests\ncellar"}), done)
    secrets = gateway_secrets.secrets_by_device(RECEIVER, again)
    assert secrets["kitchen"] == kitchen and secrets["cellar"] not in (None, kitchen)
    # removed and added again: a new one (the old one is revoked)
    gone = gateway_secrets.complete(RECEIVER, RECEIVER.validate({"devices": "garden"}), again)
    back = gateway_secrets.complete(RECEIVER, RECEIVER.validate({"devices": "kitchen"}), gone)
    assert gateway_secrets.secrets_by_device(RECEIVER, back)["kitchen"] != kitchen
    # only comparing: nothing is made
    compared = gateway_secrets.complete(RECEIVER, RECEIVER.validate({"devices": "new"}),
                                        generate=False)
    assert compared["devices"] == "new"


def test_generated_secrets_are_unique_and_random() -> None:
    made = {gateway_secrets.generate_secret() for _ in range(200)}
    assert len(made) == 200 and all(len(s) == 32 for s in made)


@pytest.mark.parametrize("value", [
    "kitchen:kitchen-token-0123456789", "kitchen:change-me-kitchen-token-01",
    "a:correct-horse-battery-staple\nb", "kitchen:CHANGEME-0123456789abc",
    "kitchen:your-device-token-here00",
])
def test_a_secret_from_the_examples_is_refused(value: str) -> None:
    with pytest.raises(OptionError, match="published in myonion's examples") as e:
        RECEIVER.validate({"devices": value})
    assert "myonion secrets" in (e.value.hint or "")


def test_a_known_secret_is_refused_in_every_secret_option() -> None:
    route = f"kitchen http://{ADDRESS}/api/v1/readings/kitchen kitchen-token-0123456789"
    for given in ({"routes": route}, {"devices": "kitchen:correct-horse-battery"},
                  {"receiver_tokens": "kitchen:change-me-kitchen-token-01"}):
        with pytest.raises(OptionError, match="published"):
            BRIDGE.validate(given)
    # not in a comment, and not in options that are no secrets
    assert BRIDGE.validate({"devices": "# change-me-broker-password\nkitchen"})


def test_share_keeps_generated_secrets_0600_and_myonion_secrets_shows_them(
        manager: Manager, runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    manager.share("iot-receiver", {"devices": "kitchen\ngarden"}, name="home", wait=False)
    record = manager.store.get("home")
    assert record is not None
    secrets = gateway_secrets.secrets_by_device(RECEIVER, record.options)
    assert set(secrets) == {"kitchen", "garden"} and None not in secrets.values()
    kept = manager.store.root / "home" / "service.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    devices = manager.store.root / "home" / "conf" / "devices"
    assert stat.S_IMODE(devices.stat().st_mode) == 0o600  # generated secrets are secrets too
    monkeypatch.setattr("myonion.cli.common.manager", lambda reporter=None: manager)
    assert main(["secrets", "home", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {d["device"]: d["secret"] for d in shown["devices"]} == secrets
    assert shown["tls"] is None
    assert main(["secrets", "home", "--qr", "kitchen"]) == 0
    out = capsys.readouterr().out
    assert secrets["kitchen"] in out and ("█" in out or "▀" in out)


def pi_stack(folder: Path, devices: str = "kitchen\\ngarden\\nhealth") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "myonion.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: gw
        services:
          gwgateway:
            template: mqtt-bridge
            options:
              devices: ${{gwrecv.devices}}
              receiver: http://${{gwrecv.address}}
              receiver_tokens: ${{gwrecv.tokens}}
              routes: "garden http://{ADDRESS}/x ${{gwrecv.token.garden}}"
              receiver_auth: ${{gwrecv.client.gw}}
              health: true
          gwrecv:
            template: iot-receiver
            persistent: true
            clients: [owner, gw]
            options:
              devices: "{devices}"
        """))
    return path


def test_a_deployment_passes_the_receivers_tokens_to_the_bridge(
        manager: Manager, runtime: FakeRuntime, tmp_path: Path) -> None:
    path = pi_stack(tmp_path / "stack")
    d = deploy.load(path)
    assert [s.name for s in d.ordered()] == ["gwrecv", "gwgateway"]  # the receiver first
    assert d.services[0].uses == ("gwrecv",) and d.services[0].needs == ("gwrecv",)
    plan = deploy.plan(manager, d)
    assert [(s.service, s.action) for s in plan] == [("gwrecv", "create"),
                                                     ("gwgateway", "create")]
    real_share = manager.share

    def share(*args: object, **kw: object) -> object:
        view = real_share(*args, **kw)  # type: ignore[arg-type]
        if view.name == "gwrecv":  # the fake runtime has no tor: give it an address
            manager.store.update("gwrecv", address=ADDRESS)
            return manager.status("gwrecv")
        return view

    manager.share = share  # type: ignore[method-assign]
    tasks: list[dict] = []
    real_task = runtime.run_task

    def run_task(*args: object, **kw: object) -> tuple[int, str]:
        tasks.append(dict(kw.get("files") or {}))  # type: ignore[arg-type]
        return real_task(*args, **kw)  # type: ignore[arg-type]

    runtime.run_task = run_task  # type: ignore[method-assign]
    deploy.up(manager, d, wait=False)
    receiver, bridge = manager.store.get("gwrecv"), manager.store.get("gwgateway")
    assert receiver is not None and bridge is not None
    tokens = gateway_secrets.secrets_by_device(RECEIVER, receiver.options)
    assert bridge.options["receiver"] == f"http://{ADDRESS}"
    assert bridge.options["receiver_tokens"] == "\n".join(f"{k}:{v}" for k, v in tokens.items())
    assert tokens["garden"] in bridge.options["routes"]
    # the gateway's tor gets the receiver's client key "gw", as tor's own file
    line = manager.client_line("gwrecv", "gw")
    assert bridge.options["receiver_auth"] == line
    put = next(t for t in tasks if any("onion_auth" in k for k in t))
    assert put[f"/conf/onion_auth/{ADDRESS.removesuffix('.onion')}.auth_private"] == (
        (line + "\n").encode(), 0o600)
    assert put["/conf/onion_auth/"] == (b"", 0o700)
    torrc = (manager.store.root / "gwgateway" / "conf" / "torrc").read_text()
    assert "ClientOnionAuthDir /etc/myonion/onion_auth" in torrc
    # the bridge's LAN passwords are its own, not the receiver's tokens
    lan = gateway_secrets.secrets_by_device(BRIDGE, bridge.options)
    assert set(lan) == {"kitchen", "garden", "health"}
    assert not set(lan.values()) & set(tokens.values())
    # nothing changed: nothing to do, and the secrets stay
    assert [s.action for s in deploy.plan(manager, d)] == ["unchanged", "unchanged"]
    assert [s.action for s in deploy.up(manager, d, wait=False)] == ["unchanged", "unchanged"]
    # one line more in the receiver: both are made again, the old secrets kept, one new
    d = deploy.load(pi_stack(tmp_path / "stack", "kitchen\\ngarden\\nhealth\\ncellar"))
    planned = deploy.plan(manager, d)
    assert [s.action for s in planned] == ["recreate", "recreate"]
    assert "device secrets of gwrecv" in planned[1].reason
    deploy.up(manager, d, wait=False)
    receiver, bridge = manager.store.get("gwrecv"), manager.store.get("gwgateway")
    assert receiver is not None and bridge is not None
    now = gateway_secrets.secrets_by_device(RECEIVER, receiver.options)
    assert {k: now[k] for k in tokens} == tokens and now["cellar"]
    assert f"cellar:{now['cellar']}" in bridge.options["receiver_tokens"]
    assert gateway_secrets.secrets_by_device(BRIDGE, bridge.options)["kitchen"] == lan["kitchen"]


@pytest.mark.parametrize(("option", "words"), [
    ("receiver_tokens: ${gwrecv.token.cellar}", "no such device"),
    ("receiver_tokens: ${other.tokens}", "no service of this file"),
    ("receiver_tokens: ${gwrecv.secret}", "no reference myonion knows"),
    ("devices: ${gwgateway.devices}", "its own devices"),
    ("receiver_auth: ${gwrecv.client.nobody}", "none of its clients"),
])
def test_bad_device_references(tmp_path: Path, option: str, words: str) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        services:
          gwrecv:
            template: iot-receiver
            options: {{devices: kitchen}}
          gwgateway:
            template: mqtt-bridge
            options:
              {option}
        """))
    with pytest.raises(deploy.DeploymentError, match=words):
        deploy.load(path)


def test_stand_ins_while_checking() -> None:
    refs, bad = references.parse("${a.address} ${a.token.k} ${a.tokens} ${a.devices} ${a.x}")
    assert [r.kind for r in refs] == ["address", "token", "tokens", "devices"] and bad == ["a.x"]
    assert references.stand_in(refs[2], ["k", "g"]) == (
        f"k:{references.PLACEHOLDER_SECRET}\ng:{references.PLACEHOLDER_SECRET}")
    assert references.stand_in(refs[3], ["k", "g"]) == "k\ng"
    assert references.from_secrets(refs[2], {"k": None}) is None  # not made yet


def test_a_compose_export_refuses_references_and_secrets_it_would_have_to_make(
        manager: Manager, tmp_path: Path) -> None:
    """A Compose file cannot know another service's tokens, nor keep the secrets myonion would
    make: both are refused (a receiver whose devices have their secrets is exported)."""
    with pytest.raises(deploy.DeploymentError, match="device secrets"):
        deploy.export_compose(manager, deploy.load(pi_stack(tmp_path / "stack")),
                              tmp_path / "out" / "compose.yaml")
    path = tmp_path / "one" / "myonion.yaml"
    path.parent.mkdir()
    path.write_text("version: 1\nservices:\n  gwrecv:\n    template: iot-receiver\n"
                    "    options: {devices: \"kitchen\\ngarden:gw-garden-only-in-this-test\"}\n")
    with pytest.raises(deploy.DeploymentError, match="without their secrets"):
        deploy.export_compose(manager, deploy.load(path), tmp_path / "out" / "compose.yaml")
    path.write_text(path.read_text().replace("kitchen\\n",
                                             "kitchen:gw-kitchen-only-in-this-test\\n"))
    result = deploy.export_compose(manager, deploy.load(path), tmp_path / "out" / "compose.yaml")
    assert result.path.is_file()
