"""Where the test network's nodes are: the default network's names, ports, fixed addresses,
paths inside a node, the authorities' voting schedule, and the plan of nodes on a subnet (pure,
no I/O)."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from myonion.errors import TestnetError
from myonion.testnet.access import SOCKS_PORT, Access
from myonion.tor import directory

#: the internal Docker network (no route out) that nodes and local-mode services join
NETWORK = "myonion-testnet"
#: a bridge (no IP masquerade) on which the client's SOCKS port is published on 127.0.0.1;
#: local-mode services that publish a LAN port join it too
ACCESS_NETWORK = "myonion-testnet-access"
#: named volume holding ``testnet.conf`` (and the client's copy of the directory in
#: DIRECTORY_SUBDIR); services mount it read-only at /etc/tor/torrc.d
INCLUDE_VOLUME = "myonion-testnet-include"
INCLUDE_FILE = "testnet.conf"
#: the include volume's folder with the copy of the directory the client keeps current
#: (see :mod:`myonion.tor.directory`); services read it next to the include
DIRECTORY_SUBDIR = directory.SUBDIR
PREFIX = "myonion-testnet-"

#: /24s for NETWORK are picked from here, avoiding every subnet Docker already uses
SUBNET_POOL = "10.213.0.0/16"
OR_PORT = 5000
DIR_PORT = 7000
SOCKS_KEY = f"{SOCKS_PORT}/tcp"
#: host part of the fixed addresses (Docker hands out dynamic ones from the bottom up, so the
#: nodes sit at the top of the /24, out of the way of local-mode services joining NETWORK).
#: The client's fixed address is on the access bridge (see myonion.testnet.access).
AUTHORITY_HOST = 201
RELAY_HOST = 211
LAST_HOST = 250
MAX_AUTHORITIES = RELAY_HOST - AUTHORITY_HOST
#: relays that fit above the authorities (.211-.249); the default network's 3 sit there
HIGH_RELAYS = LAST_HOST - RELAY_HOST
#: more relays (bigger networks, e.g. for bench/directory_cost.py) go just below the
#: authorities, from .200 down to LOW_HOST, so .2-.150 stay free for the services' dynamic
#: addresses
LOW_HOST = 151
MAX_RELAYS = HIGH_RELAYS + (AUTHORITY_HOST - LOW_HOST)

UID = 10001
DATA_DIR = "/var/lib/tor"
TORRC = f"{DATA_DIR}/torrc"
RESOLV_CONF = f"{DATA_DIR}/resolv.conf"
#: the client's ClientOnionAuthDir: keys of private (client-authorized) services to check
ONION_AUTH_DIR = f"{DATA_DIR}/onion-auth"
#: the client's control port, on the loopback of its own container only (cookie auth): how
#: ``docker exec`` tells it to forget what it knows of onion services (see clients.forget)
CLIENT_CONTROL_PORT = 9051
EMPTY_GEOIP = "/usr/share/myonion-empty-geoip"

#: the authorities' voting schedule (seconds): a consensus is valid from every multiple of
#: the interval (since midnight UTC) and voted on VOTE_DELAY + DIST_DELAY before it
VOTING_INTERVAL = 10
VOTE_DELAY = 2
DIST_DELAY = 2
#: after its first consensus a network of more relays than LARGE_NETWORK votes every
#: LARGE_VOTING_INTERVAL s: every node fetches each new consensus, and with 30 relays and
#: 10 s that kept 2 cores at a load of 56-130, so that timings there measured the CPU
LARGE_NETWORK = 10
LARGE_VOTING_INTERVAL = 60


#: relays and authorities are directory caches: for each new consensus they make a diff from
#: every older one they keep (each in several compressions), and by default they keep them
#: for 8,192 hours. With a consensus every 10 s an idle network kept 70-75 % of a core busy
#: from its fifth minute on (bench/testnet_idle.py); they keep the last DIFF_CONSENSUSES
#: intervals' only (a client with an older consensus fetches the whole one, a few kB here)
DIFF_CONSENSUSES = 6


def voting_interval(relays: int) -> int:
    """The authorities' voting interval after the first consensus, for a network of
    ``relays`` relays (the first one always comes after VOTING_INTERVAL)."""
    return LARGE_VOTING_INTERVAL if relays > LARGE_NETWORK else VOTING_INTERVAL


#: seconds from deciding to start the nodes to the next vote that the relays need to get their
#: descriptors to the authorities; a vote sooner yields a first consensus without them.
#: Measured: gaps of 1-3 s gave consensuses of 1-4 of 6 routers, 4.5 s or more all 6 on an
#: idle machine; with 4 s, 2 of 10 were thin on a busy one (starting 7 containers took longer).
DESCRIPTOR_LEAD = 5.0

#: node names, roles and volumes do not depend on the subnet: a stand-in to list them
ANY_SUBNET = "10.213.0.0/24"


@dataclass(frozen=True)
class Node:
    """One tor of the test network."""

    name: str  # also its Nickname: auth1, relay1, client
    role: str  # authority | relay | client
    address: str  # fixed IPv4 address: on the test network; the client's on the access bridge
    prefix: str = PREFIX  # the network's name and "-"

    @property
    def container(self) -> str:
        return self.prefix + self.name

    @property
    def volume(self) -> str:
        return self.prefix + self.name


def pick_subnet(used: Iterable[str], pool: str = SUBNET_POOL) -> str:
    """The first /24 of ``pool`` that overlaps none of the ``used`` subnets."""
    taken = []
    for text in used:
        with contextlib.suppress(ValueError):
            taken.append(ipaddress.ip_network(text, strict=False))
    for candidate in ipaddress.ip_network(pool).subnets(new_prefix=24):
        if not any(candidate.version == t.version and candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise TestnetError(
        f"Every /24 in {pool} is already used by a Docker network, so the test network has no "
        "subnet.", hint="Remove unused Docker networks (`docker network prune`) and try again.")


def check_sizes(authorities: int, relays: int) -> None:
    """Raise TestnetError unless the network sizes are ones we can build and use."""
    if not 1 <= authorities <= MAX_AUTHORITIES:
        raise TestnetError(f"A test network needs 1 to {MAX_AUTHORITIES} directory authorities, "
                           f"not {authorities}.", hint="Three is a good number.")
    if not 0 <= relays <= MAX_RELAYS:
        raise TestnetError(
            f"A test network can have 0 to {MAX_RELAYS} relays, not {relays}: their fixed "
            f"addresses must fit its /24 (.{LOW_HOST}-.{AUTHORITY_HOST - 1} and "
            f".{RELAY_HOST}-.{LAST_HOST - 1}) and leave the rest to the services.",
            hint="Three is a good number; up to a few dozen for measurements.")
    if authorities + relays < 4:
        raise TestnetError(
            f"{authorities} authorities and {relays} relays are too few: onion service circuits "
            "need at least 4 relays (authorities count as relays).",
            hint="Use e.g. 3 authorities and 3 relays.")


def plan(subnet: str, authorities: int = 3, relays: int = 3, prefix: str = PREFIX,
         access: Access | None = None) -> list[Node]:
    """The nodes of a network on ``subnet`` (a /24): authorities, relays, then the client (at
    its address on the ``access`` bridge; without one, where it is does not matter)."""
    check_sizes(authorities, relays)
    net = ipaddress.ip_network(subnet)
    if net.prefixlen > 24:
        raise TestnetError(f"The subnet {subnet} is too small for a test network.")

    def addr(host: int) -> str:
        return str(net.network_address + host)

    nodes = [Node(f"auth{i + 1}", "authority", addr(AUTHORITY_HOST + i), prefix)
             for i in range(authorities)]
    nodes += [Node(f"relay{i + 1}", "relay", addr(relay_host(i)), prefix)
              for i in range(relays)]
    nodes.append(Node("client", "client", access.client if access else "", prefix))
    return nodes


def relay_host(index: int) -> int:
    """The host part of relay ``index`` (from 0): upwards from RELAY_HOST, then downwards
    from just below the authorities."""
    if not 0 <= index < MAX_RELAYS:
        raise TestnetError(f"There is no address for relay {index + 1} of a test network.")
    if index < HIGH_RELAYS:
        return RELAY_HOST + index
    return AUTHORITY_HOST - 1 - (index - HIGH_RELAYS)


def lowest_host(relays: int) -> int:
    """The lowest host part a network with ``relays`` relays gives a node (AUTHORITY_HOST
    unless it has more than HIGH_RELAYS)."""
    return min(AUTHORITY_HOST, relay_host(relays - 1)) if relays > 0 else AUTHORITY_HOST


def start_delay(now: float, lead: float = DESCRIPTOR_LEAD) -> float:
    """Seconds to wait before starting the nodes at wall-clock time ``now`` so that the next
    vote is at least ``lead`` seconds away (0 if it already is).

    Votes fall VOTE_DELAY + DIST_DELAY seconds before each multiple of VOTING_INTERVAL. Starting
    just after a vote costs nothing: the consensus that vote would have made lacked the relays.
    """
    vote_phase = (VOTING_INTERVAL - VOTE_DELAY - DIST_DELAY) % VOTING_INTERVAL
    until_vote = (vote_phase - now) % VOTING_INTERVAL
    if until_vote >= lead:
        return 0.0
    return until_vote + 0.1  # just past the vote: the next one is a full interval away

