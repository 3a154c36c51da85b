"""Who may use the test network's client: its access bridge and SOCKS lines (pure, no I/O).

The client of the private test network holds the client key of every private service
(``ClientOnionAuthDir``), so its SOCKS port must answer this machine's loopback only, through
the port published on 127.0.0.1. That port lives on the *access bridge*, a second Docker network
(no IP masquerade) whose subnet myonion chooses, so the addresses are known before any tor
starts:

- the bridge's gateway (the host's address on it): connections through the published port come
  from there, whether docker-proxy or iptables carries them. ``SocksPolicy`` accepts it alone.
- the client's fixed address on it: the only one ``SocksPort`` binds. The client's address on
  the internal test network, where every local-mode service lives, has no SOCKS port at all; a
  service that publishes a LAN port also joins the access bridge, at an address of its own,
  which the policy refuses.

A client whose torrc says otherwise (made by an older myonion: ``SocksPort 0.0.0.0`` and
``SocksPolicy accept private:*``) is recognised by :func:`access_of` returning None.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from myonion.errors import TestnetError

SOCKS_PORT = 9050
#: Docker's IPAM gives a bridge made with a subnet (and no gateway) its first address
GATEWAY_HOST = 1
#: the client's host part on the access bridge (services that publish a LAN port get dynamic
#: addresses from the bottom)
CLIENT_HOST = 250


@dataclass(frozen=True)
class Access:
    """The access bridge as the client's torrc and container need it."""

    subnet: str  # a /24
    gateway: str  # this machine's address on the bridge: the only one SOCKS answers
    client: str  # the client's fixed address on the bridge: the only one SOCKS listens on


def access_plan(subnet: str) -> Access:
    """The addresses on an access bridge made on ``subnet`` (a /24 or larger)."""
    net = ipaddress.ip_network(subnet)
    if net.version != 4 or net.prefixlen > 24:
        raise TestnetError(f"The subnet {subnet} cannot hold the test network's access bridge.")
    return Access(str(net), str(net.network_address + GATEWAY_HOST),
                  str(net.network_address + CLIENT_HOST))


def socks_lines(access: Access) -> list[str]:
    """The client's torrc lines that decide who may use its SOCKS port."""
    return [
        f"SocksPort {access.client}:{SOCKS_PORT}",
        f"SocksPolicy accept {access.gateway}/32",
        "SocksPolicy reject *:*",
    ]


def parse_directives(torrc: str) -> list[tuple[str, str]]:
    """(keyword, value) for every directive of a torrc, in order; comments and blank lines
    dropped. Enough for the torrcs rendered here (no line continuations)."""
    found = []
    for raw in torrc.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, *value = line.split(None, 1)
        found.append((keyword, value[0].strip() if value else ""))
    return found


def access_of(torrc: str) -> Access | None:
    """The access bridge a client's torrc is guarded for, or None if its SOCKS port is not
    guarded this way (an older myonion's client, which answers every container)."""
    lines = [f"{k} {v}" for k, v in parse_directives(torrc)
             if k.lower() in ("socksport", "sockspolicy")]
    ports = [line.split(" ", 1)[1] for line in lines if line.lower().startswith("socksport ")]
    if len(ports) != 1:
        return None
    try:
        net = ipaddress.ip_network(f"{ports[0].rsplit(':', 1)[0]}/24", strict=False)
        access = access_plan(str(net))
    except (ValueError, TestnetError):
        return None
    return access if lines == socks_lines(access) else None


def outdated() -> TestnetError:
    """The error for a test network whose client was made by an older myonion."""
    return TestnetError(
        "The local Tor test network was made by an older myonion: its client answers SOCKS "
        "connections from every container on the test network, and it holds the keys of "
        "private services.",
        hint="Run `myonion testnet up`: it makes the client again, for this machine only "
        "(same keys and addresses; running services are not touched).")
