"""The gateway's commands on the fake runtime: the warning for a receiver anyone can read,
the delivery log read from the gateway's container as its service's user."""

from __future__ import annotations

import json

import pytest

from myonion import cli
from myonion.cli import main
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime

ONION = "http://" + "a" * 55 + "d.onion"


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch: pytest.MonkeyPatch, manager: Manager) -> None:
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)


def test_a_public_receiver_is_shared_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["share", "iot-receiver", "-o", "devices=kitchen", "--name", "home",
                 "--no-wait", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["warnings"]) == 1 and "can read its readings" in shown["warnings"][0]
    assert main(["share", "iot-receiver", "-o", "devices=kitchen", "--name", "home2",
                 "--no-wait"]) == 0
    assert "warning: Anyone who has the address of 'home2'" in capsys.readouterr().err
    # private from the first second, or another template: no warning
    assert main(["share", "iot-receiver", "-o", "devices=kitchen", "--name", "home3",
                 "--client", "me", "--no-wait", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []


def test_deliveries_are_read_in_the_container_as_its_service(
        manager: Manager, runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    manager.share("mqtt-bridge", {"devices": "kitchen", "receiver": ONION,
                                  "receiver_tokens": "kitchen:kitchen-t0k3n-for-tests"},
                  name="gw", wait=False)
    runtime.start("myonion-gw")
    log = {"deliveries": [{"message": 7, "device": "kitchen", "received": 1.0, "done": 2.0,
                           "attempts": 3, "result": "delivered", "detail": "HTTP 201"}],
           "pending": [{"message": 8, "device": "kitchen", "received": 3.0, "attempts": 1,
                        "result": "pending"}]}
    users: list[str | None] = []

    def exec_(name: str, command: list[str], user: str | None = None) -> tuple[int, str]:
        users.append(user)
        return (0, "some noise\n" + json.dumps(log)) if command[-2] == "deliveries" else (1, "")

    monkeypatch.setattr(runtime, "exec", exec_)
    assert main(["deliveries", "gw", "--json", "-n", "5"]) == 0
    assert json.loads(capsys.readouterr().out) == {"service": "gw", **log}
    assert users == ["10002:10002"]  # the queue is the service's, not tor's
    assert main(["deliveries", "gw"]) == 0
    table = capsys.readouterr().out
    assert "kitchen" in table and "delivered" in table and "pending" in table
    assert main(["deliveries", "nobody"]) == 1
    manager.share("iot-receiver", {"devices": "kitchen"}, name="home", wait=False)
    assert main(["deliveries", "home"]) == 1
    assert "keeps no delivery log" in capsys.readouterr().err
