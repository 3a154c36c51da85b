#!/usr/bin/python3
"""myonion forward's guard: what an address the target resolves to may not be.

Never, whatever the user allows: loopback (IPv4, IPv6, and IPv4 inside IPv6: ::ffff:127.0.0.1,
NAT64, 6to4), unspecified, link-local and cloud metadata addresses, multicast, broadcast and
reserved ones, this container's own addresses and the test network's nodes. The Docker host
(this machine's addresses, which myonion passes in, and this container's gateways, read from
/proc) only when the user allowed this machine (``allow_this_machine``).

Standard library only; imported by myonion_forward.py (the relay) beside it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

PROC_NET = "/proc/net"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*texts: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


#: refused whatever the user allows, first match names the reason (metadata before link-local)
ALWAYS_REFUSED: tuple[tuple[str, tuple[Network, ...]], ...] = (
    # AWS, GCP, Azure, OpenStack, DigitalOcean, Hetzner (169.254.169.254), AWS ECS tasks,
    # Alibaba Cloud, Oracle Cloud, AWS over IPv6
    ("a cloud metadata address", _nets("169.254.169.254/32", "169.254.170.2/32",
                                       "100.100.100.200/32", "192.0.0.192/32",
                                       "fd00:ec2::254/128")),
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("unspecified (this host)", _nets("0.0.0.0/8", "::/128")),
    ("link-local", _nets("169.254.0.0/16", "fe80::/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("broadcast", _nets("255.255.255.255/32")),
    ("reserved", _nets("240.0.0.0/4")),
    ("an IPv4-compatible IPv6 address (deprecated)", _nets("::/96")),
)
#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, well-known and local)
NAT64 = _nets("64:ff9b::/96", "64:ff9b:1::/48")


@dataclass(frozen=True)
class Guard:
    """What myonion knows at share time: this machine's addresses and the test network's
    nodes (addresses or networks), and whether the user allowed this machine."""

    host: tuple[Network, ...] = ()
    testnet: tuple[Network, ...] = ()
    allow_this_machine: bool = False


@dataclass(frozen=True)
class LocalView:
    """This container's network as it is now: its own addresses, the broadcast addresses of
    its networks and its gateways (the Docker host's side of each bridge)."""

    own: frozenset[Address] = frozenset()
    broadcast: frozenset[Address] = frozenset()
    gateways: frozenset[Address] = frozenset()


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped (a dual-stack socket connects
    to that IPv4 address), NAT64 and 6to4."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if any(ip in net for net in NAT64):
        found.append(("NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    return found


def _plain_refusal(ip: Address, guard: Guard, local: LocalView) -> str | None:
    for reason, nets in ALWAYS_REFUSED:
        if any(ip in net for net in nets if net.version == ip.version):
            return reason
    if any(ip in net for net in guard.testnet if net.version == ip.version):
        return "a node of the test network"
    if ip in local.own:
        return "this container's own address"
    if ip in local.broadcast:
        return "a broadcast address of this container's network"
    if guard.allow_this_machine:
        return None
    if ip in local.gateways:
        return "this container's gateway, the Docker host (allow_this_machine is off)"
    if any(ip in net for net in guard.host if net.version == ip.version):
        return "an address of this machine, the Docker host (allow_this_machine is off)"
    return None


def refusal(address: str, guard: Guard, local: LocalView) -> str | None:
    """Why ``address`` (an IP address, as getaddrinfo gives it) must not be connected to, or
    None if it may. An address that is no IP address is refused."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    reason = _plain_refusal(ip, guard, local)
    if reason is None and isinstance(ip, ipaddress.IPv6Address):
        for kind, inner in embedded_ipv4(ip):
            why = _plain_refusal(inner, guard, local)
            if why is not None:
                return f"{kind} {inner}: {why}"
    return reason


# --- this container's network, from /proc ------------------------------------------------------
def parse_fib_trie(text: str) -> tuple[set[str], set[str]]:
    """The LOCAL (own) and BROADCAST addresses in /proc/net/fib_trie."""
    local: set[str] = set()
    broadcast: set[str] = set()
    last = ""
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "|--":
            last = words[1]
        elif words and words[0].startswith("/") and last:
            if words[-1] == "LOCAL":
                local.add(last)
            elif words[-1] == "BROADCAST":
                broadcast.add(last)
    return local, broadcast


def _ipv6(hex32: str) -> str:
    return str(ipaddress.IPv6Address(int(hex32, 16)))


def parse_if_inet6(text: str) -> set[str]:
    """The addresses in /proc/net/if_inet6 (one a line, 32 hex digits first)."""
    return {_ipv6(line.split()[0]) for line in text.splitlines() if line.strip()}


def parse_route(text: str) -> set[str]:
    """The gateways of the IPv4 routes in /proc/net/route (RTF_GATEWAY set)."""
    found: set[str] = set()
    for line in text.splitlines()[1:]:
        words = line.split()
        if len(words) >= 4 and int(words[3], 16) & 0x2:
            found.add(socket.inet_ntoa(bytes.fromhex(words[2])[::-1]))
    return found


def parse_ipv6_route(text: str) -> set[str]:
    """The next hops of the IPv6 routes in /proc/net/ipv6_route (the non-zero ones)."""
    found: set[str] = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 5 and int(words[4], 16):
            found.add(_ipv6(words[4]))
    return found


def read_proc(path: str, missing_ok: bool = False) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        if missing_ok:  # a kernel without IPv6
            return ""
        raise


def read_local_view(proc: str = PROC_NET) -> LocalView:
    """This container's network now; OSError if /proc cannot be read (then nothing is relayed)."""
    own, broadcast = parse_fib_trie(read_proc(f"{proc}/fib_trie"))
    own |= parse_if_inet6(read_proc(f"{proc}/if_inet6", missing_ok=True))
    gateways = parse_route(read_proc(f"{proc}/route"))
    gateways |= parse_ipv6_route(read_proc(f"{proc}/ipv6_route", missing_ok=True))

    def ips(texts: set[str]) -> frozenset[Address]:
        return frozenset(ipaddress.ip_address(t) for t in texts)

    return LocalView(ips(own), ips(broadcast), ips(gateways))
