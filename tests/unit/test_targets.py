"""What myonion hands a relay to refuse: this machine's addresses and the test network's nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from myonion import targets, testnet
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_ROLE, ContainerSpec
from myonion.runtime.fake import FakeRuntime

FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.17.0.0/16 2 0 2
           |-- 172.17.0.0
              /16 link UNICAST
           |-- 172.17.0.1
              /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
     +-- 192.168.1.0/24 2 0 2
           |-- 192.168.1.5
              /32 host LOCAL
Local:
     +-- 192.168.1.0/24 2 0 2
           |-- 192.168.1.5
              /32 host LOCAL
"""
IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
20010db8000100000000000000000005 02 40 00 00     wlan0
fe800000000000000042c1fffe7b9dcf 05 40 20 80  docker0
"""


def test_host_addresses(tmp_path: Path) -> None:
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text(IF_INET6)
    # loopback and link-local are refused by the relay anyway; broadcast is no host address
    assert targets.host_addresses(tmp_path) == ["172.17.0.1", "192.168.1.5", "2001:db8:1::5"]


def test_host_addresses_where_proc_tells_nothing(tmp_path: Path) -> None:
    assert targets.host_addresses(tmp_path) == []


def test_host_addresses_of_this_machine() -> None:
    """This machine (Linux) has at least Docker's bridge address; never loopback."""
    found = targets.host_addresses()
    assert found and "127.0.0.1" not in found


def node(runtime: FakeRuntime, name: str, role: str, addresses: dict[str, str],
         instance: str | None = testnet.NETWORK) -> None:
    labels = {LABEL_ROLE: f"{testnet.ROLE_PREFIX}-{role}", testnet.LABEL_NODE: name}
    if instance:
        labels[testnet.LABEL_INSTANCE] = instance
    runtime.images.add("x")  # a container needs an image the engine has (tests/contract)
    runtime.create(ContainerSpec(name=f"myonion-testnet-{name}", image="x", labels=labels))
    runtime.containers[f"myonion-testnet-{name}"][1].ip_addresses = addresses


def test_testnet_addresses(runtime: FakeRuntime) -> None:
    node(runtime, "auth1", "authority", {testnet.NETWORK: "10.213.5.201"})
    node(runtime, "client", "client", {testnet.NETWORK: "10.213.5.250",
                                       testnet.ACCESS_NETWORK: "172.20.0.2"}, instance=None)
    node(runtime, "relay1", "relay", {testnet.NETWORK: ""})  # stopped: no address now
    # a service on the test network is not a node
    runtime.images.add("x")
    runtime.create(ContainerSpec(name="myonion-web", image="x", labels={LABEL_ROLE: "service"}))
    runtime.containers["myonion-web"][1].ip_addresses = {testnet.NETWORK: "10.213.5.2"}
    found = targets.testnet_addresses(runtime)
    # every fixed node address of the /24 (nodes not running included), and the client's
    # address on its access bridge
    assert found == ["10.213.5.201/32", "10.213.5.202/31", "10.213.5.204/30", "10.213.5.208/28",
                     "10.213.5.224/28", "10.213.5.240/29", "10.213.5.248/31", "10.213.5.250/32",
                     "172.20.0.2/32"]
    assert not any(a.startswith("10.213.5.2/") for a in found)


def test_testnet_addresses_of_a_network_with_many_relays(runtime: FakeRuntime) -> None:
    """Relays past the 39th sit below the authorities (.200 down): the guard covers them,
    stopped ones too, but no address a network of fewer relays leaves to services."""
    node(runtime, "auth1", "authority", {testnet.NETWORK: "10.213.5.201"})
    runtime.containers["myonion-testnet-auth1"][1].labels[testnet.LABEL_RELAYS] = "60"
    found = targets.testnet_addresses(runtime)
    assert found[:2] == ["10.213.5.180/30", "10.213.5.184/29"]
    assert found[-1] == "10.213.5.250/32"
    runtime.containers["myonion-testnet-auth1"][1].labels[testnet.LABEL_RELAYS] = "3"
    assert targets.testnet_addresses(runtime)[0] == "10.213.5.201/32"


def test_guard_reads_nothing_until_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(targets, "host_addresses", lambda: calls.append("host") or ["1.2.3.4"])
    guard = targets.GuardAddresses(None)
    assert calls == []
    assert guard.host == ["1.2.3.4"] and guard.host == ["1.2.3.4"] and calls == ["host"]
    assert guard.testnet == []


def test_manager_hands_them_to_the_forward(manager: Manager, runtime: FakeRuntime,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "host_addresses", lambda: ["192.168.1.5"])
    node(runtime, "client", "client", {testnet.NETWORK: "10.213.5.250"})
    view = manager.share("forward", {"target_host": "nas.lan", "target_port": 8123},
                         name="fwd", wait=False)
    conf = json.loads((manager.store.root / view.name / "conf" / "forward.json").read_text())
    assert conf["host_addresses"] == ["192.168.1.5"]
    assert "10.213.5.250/32" in conf["testnet_addresses"]
    assert conf["allow_this_machine"] is False
    assert conf["target_host"] == "nas.lan" and conf["target_port"] == 8123
    assert container_name("fwd") in runtime.containers
