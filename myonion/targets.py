"""Addresses a relay made by myonion must never connect to, as known on this machine.

The forward template's relay checks, at every connection, what its target resolves to (see
``containers/forward/files/myonion_forward.py``). Some of what it must refuse cannot be seen from
inside its container: this machine's own addresses (the Docker host's, e.g. its LAN address)
and the addresses of the test network's nodes (whose client holds every private service's
client key). They are collected here when a service's files are rendered and handed to the
template as ``guard.host`` and ``guard.testnet``; nothing is read unless a template asks.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import cached_property
from pathlib import Path

from myonion import testnet
from myonion.runtime.base import LABEL_ROLE, Runtime
from myonion.testnet import access as testnet_access

log = logging.getLogger(__name__)

PROC_NET = Path("/proc/net")


def parse_fib_trie_local(text: str) -> list[str]:
    """The addresses that /proc/net/fib_trie marks LOCAL (this machine's own IPv4 addresses)."""
    found: list[str] = []
    last = ""
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "|--":
            last = words[1]
        elif words and words[0].startswith("/") and words[-1] == "LOCAL" and last:
            found.append(last)
    return found


def parse_if_inet6(text: str) -> list[str]:
    """The addresses in /proc/net/if_inet6 (this machine's own IPv6 addresses)."""
    return [str(ipaddress.IPv6Address(int(line.split()[0], 16)))
            for line in text.splitlines() if line.strip()]


def _sorted(addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> list[str]:
    return [str(a) for a in sorted(addresses, key=lambda a: (a.version, int(a)))]


def host_addresses(proc: Path = PROC_NET) -> list[str]:
    """This machine's own addresses (IPv4 and IPv6), without loopback and link-local ones (a
    relay refuses those anyway). Empty, with a log line, where /proc cannot tell (not Linux)."""
    texts = []
    for name, parse in (("fib_trie", parse_fib_trie_local), ("if_inet6", parse_if_inet6)):
        try:
            texts.extend(parse((proc / name).read_text()))
        except OSError as e:
            log.info("this machine's addresses: %s/%s cannot be read (%s)", proc, name, e)
    found = {ipaddress.ip_address(t) for t in texts}
    return _sorted({a for a in found if not (a.is_loopback or a.is_link_local)})


def _node_block(address: ipaddress.IPv4Address,
                relays: int = 0) -> list[ipaddress.IPv4Network]:
    """Every fixed node address (authorities, relays, client) of the test network /24 that
    ``address`` is in, for a network of ``relays`` relays: nodes not running now are covered
    too."""
    net = ipaddress.ip_network(f"{address}/24", strict=False)
    first = net.network_address + testnet.lowest_host(relays)
    last = net.network_address + testnet_access.CLIENT_HOST
    return [n for n in ipaddress.summarize_address_range(first, last)
            if isinstance(n, ipaddress.IPv4Network)]


def _relays(labels: dict[str, str]) -> int:
    """How many relays a node's network was made with (its label; 0 if it has none)."""
    try:
        return max(0, min(int(labels.get(testnet.LABEL_RELAYS, "0")), testnet.MAX_RELAYS))
    except ValueError:
        return 0


def testnet_addresses(runtime: Runtime) -> list[str]:
    """The addresses of every test network's nodes on this engine: each node's address on each
    of its networks (the client's access bridge too), and the block of fixed node addresses of
    each test network. Networks (CIDR) and addresses, sorted."""
    nets: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for info in runtime.list_containers({LABEL_ROLE: ""}):
        role = info.labels.get(LABEL_ROLE, "")
        if testnet.LABEL_NODE not in info.labels or not role.startswith(testnet.ROLE_PREFIX):
            continue
        home = info.labels.get(testnet.LABEL_INSTANCE, testnet.NETWORK)
        for network, text in info.ip_addresses.items():
            if not text:
                continue
            address = ipaddress.ip_address(text)
            nets.add(ipaddress.ip_network(address))
            if network == home and isinstance(address, ipaddress.IPv4Address):
                nets.update(_node_block(address, _relays(info.labels)))
    return [str(n) for n in ipaddress.collapse_addresses(n for n in nets if n.version == 4)] + [
        str(n) for n in ipaddress.collapse_addresses(n for n in nets if n.version == 6)]


class GuardAddresses:
    """What a template's relay must refuse, as jinja2 sees it (``guard.host``,
    ``guard.testnet``): read on first use only, so templates that do not ask cost nothing.
    ``runtime`` is the engine to list the test network's nodes on (None: not on the test
    network, no nodes to refuse)."""

    def __init__(self, runtime: Runtime | None) -> None:
        self.runtime = runtime

    @cached_property
    def host(self) -> list[str]:
        return host_addresses()

    @cached_property
    def testnet(self) -> list[str]:
        return testnet_addresses(self.runtime) if self.runtime is not None else []
