"""The forward's address checks (containers/forward/files/forward_guard.py, used by the relay
myonion_forward.py), on the host's Python: what a target may resolve to, and how the container's
own network is read from /proc."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from pathlib import Path

import pytest

from tests.templates.forward_relay_module import guard_module, relay_module

FWD = guard_module()
RELAY = relay_module()
ip = ipaddress.ip_address
net = ipaddress.ip_network

#: the test network's fixed node block of 10.213.5.0/24, as myonion.targets renders it
TESTNET = (net("10.213.5.201/32"), net("10.213.5.202/31"), net("10.213.5.204/30"),
           net("10.213.5.208/28"), net("10.213.5.224/28"), net("10.213.5.240/29"),
           net("10.213.5.248/31"), net("10.213.5.250/32"), net("172.20.0.2/32"))
HOST = (net("192.168.1.5/32"), net("172.17.0.1/32"), net("2001:db8:1::5/128"))
GUARD = FWD.Guard(host=HOST, testnet=TESTNET)
ALLOWING = FWD.Guard(host=HOST, testnet=TESTNET, allow_this_machine=True)
LOCAL = FWD.LocalView(own=frozenset({ip("172.17.0.7"), ip("fd00:17::7")}),
                      broadcast=frozenset({ip("172.17.255.255")}),
                      gateways=frozenset({ip("172.17.0.1"), ip("fd00:17::1"),
                                          ip("10.0.3.1")}))


@pytest.mark.parametrize(("address", "reason"), [
    # loopback, every spelling that reaches it
    ("127.0.0.1", "loopback"), ("127.1.2.3", "loopback"), ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1: loopback"),
    ("::ffff:7f00:1", "IPv4-mapped 127.0.0.1: loopback"),
    ("::ffff:127.9.9.9", "IPv4-mapped 127.9.9.9: loopback"),
    ("64:ff9b::7f00:1", "NAT64 127.0.0.1: loopback"),
    ("2002:7f00:1::1", "6to4 127.0.0.1: loopback"),
    ("::7f00:1", "IPv4-compatible"),
    # unspecified: connecting to it reaches this host
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("::", "unspecified"),
    ("::ffff:0.0.0.0", "IPv4-mapped 0.0.0.0: unspecified"),
    # cloud metadata and link-local
    ("169.254.169.254", "cloud metadata"), ("169.254.170.2", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"), ("192.0.0.192", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("::ffff:169.254.169.254", "IPv4-mapped 169.254.169.254: a cloud metadata"),
    ("169.254.1.1", "link-local"), ("169.254.255.255", "link-local"), ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"), ("febf::1", "link-local"),
    # multicast, broadcast, reserved
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("ff05::1:3", "multicast"), ("255.255.255.255", "broadcast"), ("240.0.0.1", "reserved"),
    ("172.17.255.255", "broadcast address of this container's network"),
    # this container itself
    ("172.17.0.7", "this container's own address"), ("fd00:17::7", "this container's own"),
    ("::ffff:172.17.0.7", "IPv4-mapped 172.17.0.7: this container's own address"),
    # the Docker host: the container's gateways and this machine's addresses
    ("172.17.0.1", "gateway"), ("10.0.3.1", "gateway"), ("fd00:17::1", "gateway"),
    ("192.168.1.5", "an address of this machine"), ("2001:db8:1::5", "an address of this"),
    ("::ffff:192.168.1.5", "IPv4-mapped 192.168.1.5: an address of this machine"),
    # the test network's nodes: authorities, relays, client (and its access-bridge address)
    ("10.213.5.201", "test network"), ("10.213.5.211", "test network"),
    ("10.213.5.250", "test network"), ("172.20.0.2", "test network"),
    ("::ffff:10.213.5.250", "IPv4-mapped 10.213.5.250: a node of the test network"),
    ("nas.lan", "not an IP address"), ("", "not an IP address"),
])
def test_refused(address: str, reason: str) -> None:
    why = FWD.refusal(address, GUARD, LOCAL)
    assert why is not None and reason in why, why


@pytest.mark.parametrize("address", [
    "192.168.1.20", "10.0.0.10", "10.213.5.2", "10.213.5.200", "10.213.5.251", "172.17.0.8",
    "100.64.0.1", "8.8.8.8", "2001:db8::5", "fd12:3456::20", "::ffff:192.168.1.20",
    "64:ff9b::c0a8:114",
])
def test_allowed(address: str) -> None:
    assert FWD.refusal(address, GUARD, LOCAL) is None
    assert FWD.refusal(address, ALLOWING, LOCAL) is None


@pytest.mark.parametrize("address", ["172.17.0.1", "10.0.3.1", "fd00:17::1", "192.168.1.5",
                                     "2001:db8:1::5", "::ffff:192.168.1.5"])
def test_this_machine_when_allowed(address: str) -> None:
    assert FWD.refusal(address, GUARD, LOCAL) is not None
    assert FWD.refusal(address, ALLOWING, LOCAL) is None


@pytest.mark.parametrize("address", [
    "127.0.0.1", "::1", "::ffff:127.0.0.1", "0.0.0.0", "169.254.169.254", "fe80::1",
    "224.0.0.1", "172.17.0.7", "172.17.255.255", "10.213.5.250", "172.20.0.2",
])
def test_never_allowed(address: str) -> None:
    """allow_this_machine opens the host, never loopback, link-local, the container itself
    or the test network."""
    assert FWD.refusal(address, ALLOWING, LOCAL) is not None


# --- the container's own network, from /proc ---------------------------------------------------
FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.17.0.0/16 2 0 2
        +-- 172.17.0.0/29 2 0 2
           |-- 172.17.0.0
              /16 link UNICAST
           |-- 172.17.0.7
              /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.213.5.3
        /32 host LOCAL
"""
IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fd000017000000000000000000000007 04 40 00 80     eth0
fe800000000000000042acfffe110007 04 40 20 80     eth0
"""
ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth1\t0000000A\t0103000A\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
IPV6_ROUTE = (
    "fd000017000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fd000017000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
)
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10002 0 1 1 0
   1: 0100007F:1F91 0100007F:DB58 01 00000000:00000000 00:00000000 00000000 10002 0 0 1 0
"""


def test_fib_trie() -> None:
    local, broadcast = FWD.parse_fib_trie(FIB_TRIE)
    assert local == {"127.0.0.0", "127.0.0.1", "172.17.0.7", "10.213.5.3"}
    assert broadcast == {"127.255.255.255", "172.17.255.255"}


def test_if_inet6_and_routes() -> None:
    assert FWD.parse_if_inet6(IF_INET6) == {"::1", "fd00:17::7", "fe80::42:acff:fe11:7"}
    assert FWD.parse_route(ROUTE) == {"172.17.0.1", "10.0.3.1"}
    assert FWD.parse_ipv6_route(IPV6_ROUTE) == {"fd00:17::1"}


def test_local_view_from_proc(tmp_path: Path) -> None:
    for name, text in (("fib_trie", FIB_TRIE), ("if_inet6", IF_INET6), ("route", ROUTE),
                       ("ipv6_route", IPV6_ROUTE), ("tcp", TCP)):
        (tmp_path / name).write_text(text)
    view = FWD.read_local_view(str(tmp_path))
    assert ip("172.17.0.7") in view.own and ip("fd00:17::7") in view.own
    assert view.gateways == {ip("172.17.0.1"), ip("10.0.3.1"), ip("fd00:17::1")}
    assert FWD.refusal("10.213.5.3", FWD.Guard(), view) == "this container's own address"
    assert FWD.refusal("10.0.3.1", FWD.Guard(), view).startswith("this container's gateway")
    assert RELAY.listening(8080, str(tmp_path)) and not RELAY.listening(8081, str(tmp_path))
    (tmp_path / "ipv6_route").unlink()
    (tmp_path / "if_inet6").unlink()
    assert FWD.read_local_view(str(tmp_path)).gateways == {ip("172.17.0.1"), ip("10.0.3.1")}
    # without the IPv4 tables nothing is known: an error, so nothing is relayed
    (tmp_path / "route").unlink()
    with pytest.raises(OSError):
        FWD.read_local_view(str(tmp_path))


def test_local_view_of_this_machine() -> None:
    """/proc of the machine the tests run on reads (it is Linux, as the containers are)."""
    view = FWD.read_local_view()
    assert ip("127.0.0.1") in view.own


def test_a_name_is_resolved_and_every_address_checked(caplog: pytest.LogCaptureFixture) -> None:
    """localhost resolves to loopback here too: each of its addresses is refused and logged
    with the address it resolved to; nothing is connected."""
    cfg = RELAY.Config(host="localhost", port=9, guard=FWD.Guard())
    with caplog.at_level(logging.WARNING, logger="myonion-forward"):
        sock, outcome = asyncio.run(RELAY.open_target(cfg, "t"))
    assert sock is None and "resolves to" in outcome and "loopback" in outcome, outcome
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused and all("loopback" in m or "own address" in m for m in refused), refused
    assert any("localhost:9 resolves to 127.0.0.1" in m for m in refused), refused


def test_a_name_that_does_not_resolve(caplog: pytest.LogCaptureFixture) -> None:
    cfg = RELAY.Config(host="no-such-host.invalid", port=80, connect_timeout=5)
    with caplog.at_level(logging.WARNING, logger="myonion-forward"):
        sock, outcome = asyncio.run(RELAY.open_target(cfg, "t"))
    assert sock is None and outcome == "target no-such-host.invalid:80 does not resolve"
    assert "does not resolve" in caplog.text
