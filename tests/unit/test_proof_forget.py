"""The proof of a service started again at its address: the test network's client visits as
someone who never came before (it forgets its old descriptor first), and a proof attempt
that hangs makes it forget too; how the client is told."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.services import readiness
from myonion.testnet import Testnet, clients
from myonion.tor import probes
from tests.fakes import FakeTestnet

ADDRESS = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion"
OTHER = "7vpyuf3vzuqlcqlx45f5m5kplli5ly36k2oj33iunafyejrtpawabeyd.onion"


def _prove(manager: Manager, testnet: FakeTestnet, site: Path, known: str | None,
           published: str, monkeypatch: pytest.MonkeyPatch, network: str = "local") -> list[str]:
    """The calls the test network had seen when the check began, proving ``published`` for a
    service whose record knew ``known``."""
    name = manager.share("site", {"dir": str(site)}, wait=False, persistent=True).name
    record = dataclasses.replace(manager.store.get(name), address=known,  # type: ignore[type-var]
                                 network=network)
    seen: list[str] = []

    def check(ctx: Any, rec: Any, template: Any, address: str, health: Any,
              timeout: float = 60.0) -> readiness.CheckResult:
        seen.extend(testnet.calls)
        return readiness.CheckResult(rec.name, address, True, 0.1)

    monkeypatch.setattr(readiness, "check", check)
    readiness.prove_works(manager.context, record, manager.registry.get("site"), published,
                          0.0, 60.0, {})
    return seen


def test_an_address_served_before_is_proven_by_a_client_that_forgot_it(
        manager: Manager, testnet: FakeTestnet, site: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert "forget_onions" in _prove(manager, testnet, site, ADDRESS, ADDRESS, monkeypatch)


def test_a_new_address_needs_no_forgetting(manager: Manager, testnet: FakeTestnet,
                                           site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a first share, and an ephemeral service whose restart gave it a new key
    assert _prove(manager, testnet, site, None, ADDRESS, monkeypatch) == []
    testnet.calls.clear()
    assert _prove(manager, testnet, site, OTHER, ADDRESS, monkeypatch) == []


def test_the_check_lets_only_the_test_networks_client_forget(
        manager: Manager, testnet: FakeTestnet, runtime: FakeRuntime, site: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[object] = []

    def run_until(spec: Any, proxy: Any, address: str, timeout: float,
                  stuck: Any = None) -> probes.ProbeResult:
        given.append(stuck)
        return probes.ProbeResult(spec.what, True, True, "nginx answers 200", 0.1, 200)

    monkeypatch.setattr(probes, "run_until", run_until)
    monkeypatch.setattr(readiness, "socks_for", lambda ctx, network: ("127.0.0.1", 1))
    name = manager.share("site", {"dir": str(site)}, wait=False).name
    record = manager.store.get(name)
    assert record is not None
    template = manager.registry.get("site")
    for network in ("local", "tor"):
        readiness.check(manager.context, dataclasses.replace(record, network=network),
                        template, ADDRESS, None)
    assert given == [testnet.forget_onions, None]


def test_the_client_is_told_through_its_own_loopback_with_its_own_cookie(
        monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = FakeRuntime()
    net = Testnet(runtime)
    calls: list[tuple[str, list[str], str | None]] = []
    answer = [0, "250 OK\r\n250 OK\r\n250 OK\r\n650 SIGNAL NEWNYM\r\n"]

    def exec_(name: str, command: list[str], user: str | None = None) -> tuple[int, str]:
        calls.append((name, command, user))
        return answer[0], str(answer[1])

    monkeypatch.setattr(runtime, "exec", exec_)
    monkeypatch.setattr(clients, "client_container", lambda ctx: "myonion-testnet-client")
    assert net.forget_onions() is True
    name, command, user = calls[0]
    assert name == "myonion-testnet-client" and user is None  # as the client's own user
    script = command[-1]
    assert "/dev/tcp/127.0.0.1/9051" in script and "SIGNAL NEWNYM" in script
    assert "SETEVENTS SIGNAL" in script  # it waits until tor has done it
    assert "control_auth_cookie" in script  # read inside: no secret in the argv
    # tor refused (a wrong cookie), or a network made before the client had a control port
    for refused in ([0, "515 Authentication failed\r\n"], [1, "connection refused"],
                    [0, "250 OK\r\n250 OK\r\n250 OK\r\n"]):  # no word that it was done
        answer[:] = refused
        assert net.forget_onions() is False
