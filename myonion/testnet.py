"""The private Tor network for ``local`` mode: directory authorities, relays and a client in
containers on one internal Docker network, never connected to the public Tor network.

Every tor started here has ``TestingTorNetwork 1`` and only our own ``DirAuthority`` lines,
generated when :meth:`Testnet.up` makes the network (on a free subnet, so they are rendered
then, never shipped); a network whose volumes survive is started again with the same keys.
Nodes live on :data:`NETWORK` with fixed addresses; it is ``internal`` and its
bridge has no IPv4 address, so containers on it reach each other and nothing else (not even
this machine). The client is also on a second bridge, :data:`ACCESS_NETWORK` (no IP
masquerade), so its SOCKS port can be published on 127.0.0.1. Local-mode services join
:data:`NETWORK` and mount :data:`INCLUDE_VOLUME` (only ``testnet.conf``) read-only at
``/etc/tor/torrc.d``.

Rendering (torrcs, ``DirAuthority`` lines, parsing tool output) is kept in pure functions so it
is unit-testable without Docker; :class:`Testnet` does the I/O. Readiness is read from the node
logs ("Bootstrapped NN%"), so :meth:`Testnet.status` works from any process.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from myonion import paths
from myonion.build import images
from myonion.errors import DockerUnavailable, MyOnionError, TestnetError
from myonion.events import Event, Reporter, Stage, log_reporter
from myonion.runtime.base import (
    LABEL,
    LABEL_NETWORK,
    LABEL_ROLE,
    ContainerInfo,
    ContainerSpec,
    Mount,
    Runtime,
)

log = logging.getLogger(__name__)

#: the internal Docker network (no route out) that nodes and local-mode services join
NETWORK = "myonion-testnet"
#: a normal bridge only the client joins, so its SOCKS port can be published on 127.0.0.1
ACCESS_NETWORK = "myonion-testnet-access"
#: named volume holding only ``testnet.conf``; services mount it read-only at /etc/tor/torrc.d
INCLUDE_VOLUME = "myonion-testnet-include"
INCLUDE_FILE = "testnet.conf"
#: serialises up and down of every process on this machine (one file per test network)
LOCK_DIR = Path(tempfile.gettempdir())
PREFIX = "myonion-testnet-"

#: /24s for NETWORK are picked from here, avoiding every subnet Docker already uses
SUBNET_POOL = "10.213.0.0/16"
OR_PORT = 5000
DIR_PORT = 7000
SOCKS_PORT = 9050
SOCKS_KEY = f"{SOCKS_PORT}/tcp"
#: host part of the fixed addresses (Docker hands out dynamic ones from the bottom up, so the
#: nodes sit at the top of the /24, out of the way of local-mode services joining NETWORK)
AUTHORITY_HOST = 201
RELAY_HOST = 211
CLIENT_HOST = 250
MAX_AUTHORITIES = RELAY_HOST - AUTHORITY_HOST
MAX_RELAYS = CLIENT_HOST - RELAY_HOST

UID = 10001
DATA_DIR = "/var/lib/tor"
TORRC = f"{DATA_DIR}/torrc"
RESOLV_CONF = f"{DATA_DIR}/resolv.conf"
#: the client's ClientOnionAuthDir: keys of private (client-authorized) services to check
ONION_AUTH_DIR = f"{DATA_DIR}/onion-auth"
EMPTY_GEOIP = "/usr/share/myonion-empty-geoip"
NODE_MEMORY = "64m"
NODE_PIDS = 64

ROLE_PREFIX = "testnet"
ROLE_NETWORK = "testnet-network"
ROLE_VOLUME = "testnet-volume"
ROLES = ("authority", "relay", "client")
LABEL_NODE = f"{LABEL}.testnet.node"
#: which test network an object belongs to (its network's name): several can coexist. What
#: belongs to one is told by name (the network, and everything named "<network>-..."), so
#: objects made before this label existed are still found.
LABEL_INSTANCE = f"{LABEL}.testnet.instance"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
LABEL_AUTHORITIES = f"{LABEL}.testnet.authorities"
LABEL_RELAYS = f"{LABEL}.testnet.relays"

#: the authorities' voting schedule (seconds): a consensus is valid from every multiple of
#: the interval (since midnight UTC) and voted on VOTE_DELAY + DIST_DELAY before it
VOTING_INTERVAL = 10
VOTE_DELAY = 2
DIST_DELAY = 2
#: seconds from deciding to start the nodes to the next vote that the relays need to get their
#: descriptors to the authorities; a vote sooner yields a first consensus without them.
#: Measured: gaps of 1-3 s gave consensuses of 1-4 of 6 routers, 4.5 s or more all 6 on an
#: idle machine; with 4 s, 2 of 10 were thin on a busy one (starting 7 containers took longer).
DESCRIPTOR_LEAD = 5.0

BOOTSTRAP_RE = re.compile(r"Bootstrapped (\d{1,3})%")
#: an authority logs this once its first consensus is signed and published
CONSENSUS_RE = re.compile(r"\bPublished (?:ns|microdesc) consensus")
FINGERPRINT_LINE_RE = re.compile(r"^(\w{1,19}) ((?:[0-9A-F]{4} ){9}[0-9A-F]{4})\s*$", re.MULTILINE)
V3IDENT_RE = re.compile(r"^fingerprint ([0-9A-F]{40})\s*$", re.MULTILINE)
SECTION = "@@myonion-node "
POLL = 0.25
#: a relay that lacks the full directory once it is out gets a SIGHUP this often: it resets
#: tor's download back-off, which otherwise delays it by up to a minute (measured)
NUDGE_EVERY = 3.0
#: "enough_dirinfo": a tor at this bootstrap percentage has a live consensus
ENOUGH_DIRINFO = 75
CONSENSUS_FILE = f"{DATA_DIR}/cached-microdesc-consensus"
#: prints two numbers: routers in a tor's consensus, distinct microdescriptors it holds
DIRECTORY_COUNTS = (
    f"cd {DATA_DIR} && grep -c '^r ' cached-microdesc-consensus 2>/dev/null || echo 0; "
    "cat cached-microdescs cached-microdescs.new 2>/dev/null | grep '^id ed25519 ' "
    "| sort -u | wc -l"
)
LOG_TAIL = 40
#: node names, roles and volumes do not depend on the subnet: a stand-in to list them
ANY_SUBNET = "10.213.0.0/24"


# --- the plan: which nodes, where --------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """One tor of the test network."""

    name: str  # also its Nickname: auth1, relay1, client
    role: str  # authority | relay | client
    address: str  # fixed IPv4 address on the test network
    prefix: str = PREFIX  # the network's name and "-"

    @property
    def container(self) -> str:
        return self.prefix + self.name

    @property
    def volume(self) -> str:
        return self.prefix + self.name


@dataclass(frozen=True)
class AuthorityKeys:
    """What the other tors need to trust an authority."""

    name: str
    v3ident: str  # fingerprint of the authority's v3 identity (from its certificate)
    fingerprint: str  # RSA identity fingerprint of its relay keys, 40 hex digits


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
        raise TestnetError(f"A test network can have 0 to {MAX_RELAYS} relays, not {relays}.",
                           hint="Three is a good number.")
    if authorities + relays < 4:
        raise TestnetError(
            f"{authorities} authorities and {relays} relays are too few: onion service circuits "
            "need at least 4 relays (authorities count as relays).",
            hint="Use e.g. 3 authorities and 3 relays.")


def plan(subnet: str, authorities: int = 3, relays: int = 3, prefix: str = PREFIX) -> list[Node]:
    """The nodes of a network on ``subnet`` (a /24): authorities, relays, then the client."""
    check_sizes(authorities, relays)
    net = ipaddress.ip_network(subnet)
    if net.prefixlen > 24:
        raise TestnetError(f"The subnet {subnet} is too small for a test network.")

    def addr(host: int) -> str:
        return str(net.network_address + host)

    nodes = [Node(f"auth{i + 1}", "authority", addr(AUTHORITY_HOST + i), prefix)
             for i in range(authorities)]
    nodes += [Node(f"relay{i + 1}", "relay", addr(RELAY_HOST + i), prefix)
              for i in range(relays)]
    nodes.append(Node("client", "client", addr(CLIENT_HOST), prefix))
    return nodes


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


# --- keys -----------------------------------------------------------------------------------
def keygen_script(authorities: list[Node]) -> str:
    """A bash script making every authority's keys in ``/nodes/<name>`` (run as root with only
    CAP_CHOWN, no network), printing one section per authority, then handing every node's
    directory to the unprivileged user. The tors run here never touch a network: ``--list-
    fingerprint`` exits after making the keys, with the network disabled besides."""
    lines = [
        "set -eu",
        "umask 077",
        ": > /tmp/empty-torrc",
        # a placeholder authority on loopback: TestingTorNetwork refuses the default ones
        "placeholder='placeholder orport=1 no-v2 127.0.0.1:1 " + "0" * 40 + "'",
        "keys() {",
        '  mkdir -p "/nodes/$1/keys"',
        '  (cd "/nodes/$1/keys" && tor-gencert --create-identity-key -m 12 -a "$2:' +
        str(DIR_PORT) + '" --passphrase-fd 0 </dev/null >/dev/null)',
        '  tor --list-fingerprint --orport 1 --datadirectory "/nodes/$1" -f /tmp/empty-torrc '
        '--Nickname "$1" --DisableNetwork 1 --TestingTorNetwork 1 --DirAuthority "$placeholder" '
        '> "/tmp/$1.out" 2>&1',
        '  grep "^fingerprint " "/nodes/$1/keys/authority_certificate" >> "/tmp/$1.out"',
        "}",
    ]
    for node in authorities:
        lines.append(f"keys {node.name} {node.address} &")
    lines.append("for job in $(jobs -p); do wait \"$job\"; done")
    for node in authorities:
        lines.append(f"echo '{SECTION}{node.name}'; cat /tmp/{node.name}.out")
    lines += [
        "rm -f /nodes/*/lock",
        "chmod 0700 /nodes/*",
        f"chown -R {UID}:{UID} /nodes/*",
    ]
    return "\n".join(lines) + "\n"


def parse_fingerprint(output: str) -> tuple[str, str]:
    """(nickname, fingerprint) from ``tor --list-fingerprint`` output (its last such line)."""
    found = FINGERPRINT_LINE_RE.findall(output)
    if not found:
        raise TestnetError("tor --list-fingerprint printed no fingerprint.", detail=output[-2000:])
    nickname, spaced = found[-1]
    return nickname, spaced.replace(" ", "")


def parse_v3ident(certificate: str) -> str:
    """The v3 identity (``fingerprint`` line) of an authority certificate from tor-gencert."""
    match = V3IDENT_RE.search(certificate)
    if not match:
        raise TestnetError("The authority certificate has no fingerprint line.",
                           detail=certificate[-2000:])
    return match.group(1)


def parse_keygen_output(output: str, names: list[str]) -> dict[str, AuthorityKeys]:
    """Every authority's keys from the output of :func:`keygen_script`."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in output.splitlines():
        if line.startswith(SECTION):
            current = line[len(SECTION):].strip()
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    keys = {}
    for name in names:
        if name not in sections:
            raise TestnetError(f"Making the keys of authority {name} printed nothing.",
                               detail=output[-2000:])
        nickname, fingerprint = parse_fingerprint(sections[name])
        if nickname != name:
            raise TestnetError(f"The keys made for {name} carry the nickname {nickname}.",
                               detail=sections[name])
        keys[name] = AuthorityKeys(name, parse_v3ident(sections[name]), fingerprint)
    return keys


# --- torrcs ---------------------------------------------------------------------------------
def dirauthority_line(node: Node, keys: AuthorityKeys) -> str:
    """``DirAuthority NAME orport=P no-v2 v3ident=V3ID IP:DIRPORT RSA_FINGERPRINT``."""
    return (f"DirAuthority {node.name} orport={OR_PORT} no-v2 v3ident={keys.v3ident} "
            f"{node.address}:{DIR_PORT} {keys.fingerprint}")


def dirauthority_lines(nodes: list[Node], keys: dict[str, AuthorityKeys]) -> list[str]:
    return [dirauthority_line(n, keys[n.name]) for n in nodes if n.role == "authority"]


def _network_block(dirauths: list[str]) -> list[str]:
    if not dirauths:
        raise TestnetError("A test network configuration needs at least one DirAuthority line.")
    return [
        "# Only our own authorities: never the public Tor network.",
        "TestingTorNetwork 1",
        *dirauths,
        "PathsNeededToBuildCircuits 0.67",
    ]


def render_include(dirauths: list[str]) -> str:
    """``testnet.conf``: what a local-mode service's tor needs on top of its own torrc."""
    return "\n".join([
        "# myonion private Tor test network (local mode), included by service torrcs.",
        *_network_block(dirauths),
    ]) + "\n"


def render_torrc(node: Node, dirauths: list[str], subnet: str) -> str:
    """The complete torrc of one node (authority, relay or client)."""
    lines = [
        f"# myonion private Tor test network: {node.role} {node.name} at {node.address}",
        *_network_block(dirauths),
        f"DataDirectory {DATA_DIR}",
        f"Nickname {node.name}",
        "Log notice stderr",
        f"GeoIPFile {EMPTY_GEOIP}",
        f"GeoIPv6File {EMPTY_GEOIP}",
        "ShutdownWaitLength 0",
    ]
    if node.role == "client":
        lines += [
            f"SocksPort 0.0.0.0:{SOCKS_PORT}",
            # the published port arrives from the access bridge's gateway (a private address)
            "SocksPolicy accept private:*",
            "SocksPolicy reject *:*",
            # first hops only on the test network's subnet
            f"ReachableAddresses accept {subnet}:*, reject *:*",
            # keys of private services, so `check` can reach them (see Testnet.authorize)
            f"ClientOnionAuthDir {ONION_AUTH_DIR}",
        ]
        return "\n".join(lines) + "\n"
    lines += [
        "SocksPort 0",
        f"Address {node.address}",
        f"ORPort {OR_PORT}",
        f"ContactInfo {node.name}@testnet.myonion.invalid",
        "AssumeReachable 1",
        "ExitRelay 0",
        "ExitPolicy reject *:*",
        "ServerDNSDetectHijacking 0",
        f"ServerDNSResolvConfFile {RESOLV_CONF}",
    ]
    if node.role == "authority":
        lines += [
            f"DirPort {DIR_PORT}",
            "AuthoritativeDirectory 1",
            "V3AuthoritativeDirectory 1",
            f"TestingV3AuthInitialVotingInterval {VOTING_INTERVAL}",
            f"TestingV3AuthInitialVoteDelay {VOTE_DELAY}",
            f"TestingV3AuthInitialDistDelay {DIST_DELAY}",
            f"V3AuthVotingInterval {VOTING_INTERVAL}",
            f"V3AuthVoteDelay {VOTE_DELAY}",
            f"V3AuthDistDelay {DIST_DELAY}",
            "V3AuthNIntervalsValid 2",
            "TestingDirAuthVoteGuard *",
            "TestingDirAuthVoteHSDir *",
        ]
    return "\n".join(lines) + "\n"


def node_files(nodes: list[Node], dirauths: list[str], subnet: str) -> dict[str, tuple[bytes, int]]:
    """Files to put into the volumes (mounted at /nodes/<name> and /include) before start."""
    files: dict[str, tuple[bytes, int]] = {
        f"/include/{INCLUDE_FILE}": (render_include(dirauths).encode(), 0o644),
    }
    for node in nodes:
        files[f"/nodes/{node.name}/torrc"] = (
            render_torrc(node, dirauths, subnet).encode(), 0o600)
        if node.role != "client":
            files[f"/nodes/{node.name}/resolv.conf"] = (b"nameserver 127.0.0.1\n", 0o644)
        else:
            files[f"/nodes/{node.name}/onion-auth/"] = (b"", 0o700)
    return files


# --- reading logs ---------------------------------------------------------------------------
def last_bootstrap(lines: Iterable[str]) -> int | None:
    """The last "Bootstrapped NN%" a tor logged, or None."""
    percent = None
    for line in lines:
        match = BOOTSTRAP_RE.search(line)
        if match:
            percent = int(match.group(1))
    return percent


def has_consensus(lines: Iterable[str]) -> bool:
    """True if an authority's log shows a published consensus."""
    return any(CONSENSUS_RE.search(line) for line in lines)


def parse_count(output: str) -> int | None:
    """The number ``grep -c`` printed (its last line), or None."""
    last = output.strip().splitlines()[-1:] or [""]
    return int(last[0]) if last[0].strip().isdigit() else None


def parse_counts(output: str) -> tuple[int | None, int | None]:
    """The two numbers :data:`DIRECTORY_COUNTS` prints (None where there is none)."""
    lines = [line.strip() for line in output.strip().splitlines()]
    numbers = [int(line) if line.isdigit() else None for line in lines[-2:]]
    if len(numbers) < 2:
        return None, None
    return numbers[0], numbers[1]


def can_signal(lines: list[str]) -> bool:
    """True once tor has logged its first "Bootstrapped" line: before that its signal handlers
    may not be set and a SIGHUP kills it (measured: exit status 129 right after a start)."""
    return last_bootstrap(lines) is not None


# --- status ---------------------------------------------------------------------------------
@dataclass
class NodeStatus:
    name: str
    role: str  # authority | relay | client
    state: str  # the container's state: running, exited, created, ...
    bootstrap: int | None
    address: str | None


@dataclass
class TestnetStatus:
    __test__ = False  # not a pytest test class

    up: bool
    socks: tuple[str, int] | None
    nodes: list[NodeStatus]
    consensus: bool
    client_bootstrapped: bool
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["socks"] = list(self.socks) if self.socks else None
        return data


def _role_of(info: ContainerInfo) -> str | None:
    role = info.labels.get(LABEL_ROLE, "")
    if role.startswith(ROLE_PREFIX + "-") and role[len(ROLE_PREFIX) + 1:] in ROLES:
        return role[len(ROLE_PREFIX) + 1:]
    return None


class Testnet:
    """The private Tor network in containers, driven through a :class:`Runtime`."""

    __test__ = False  # not a pytest test class

    def __init__(self, runtime: Runtime, reporter: Reporter = log_reporter,
                 name: str = NETWORK, swarm: bool = False) -> None:
        """``name`` names a second, independent test network (tests, parallel CI jobs): its
        Docker network, and the prefix of its containers and volumes. Local-mode services use
        the default one, :data:`NETWORK`.

        ``swarm``: the network is an internal *attachable overlay* instead of a bridge, so
        Docker Swarm services (``docker stack deploy``) can join it beside the nodes, which
        are plain containers; the engine must be a swarm manager. Only for a named network:
        the default one stays a bridge."""
        if not NAME_RE.match(name) or (name != NETWORK and name.startswith(PREFIX)):
            raise TestnetError(f"'{name}' is not a valid test network name.",
                               hint=f"Use lower-case letters, digits and '-', not starting with "
                               f"'{PREFIX}' (the default network owns those names).")
        if swarm and name == NETWORK:
            raise TestnetError("The default test network cannot be a swarm network.",
                               hint="Give the swarm test network a name of its own.")
        self.runtime = runtime
        self.reporter = reporter
        self.name = name
        self.swarm = swarm
        self.network = name
        self.access_network = f"{name}-access"
        self.include_volume = f"{name}-include"
        self.prefix = f"{name}-"

    # public API ---------------------------------------------------------------------------
    def up(self, relays: int = 3, authorities: int = 3, timeout: float = 240) -> TestnetStatus:
        """Start the network and wait until the client has bootstrapped; idempotent.

        On failure everything made is removed again and TestnetError carries the log tail
        of the node that failed.
        """
        check_sizes(authorities, relays)
        self.runtime.ping()
        with self._locked():
            current = self.status()
            if current.up:
                have = self._sizes(current)
                if have != (authorities, relays):
                    raise TestnetError(
                        f"The test network is already up with {have[0]} authorities and "
                        f"{have[1]} relays, not {authorities} and {relays}.",
                        hint="Run `myonion testnet down` first to start it with other sizes.")
                self._report(Stage.BOOTSTRAPPING, "The test network is already up.", 100)
                return current
            if self._kept_sizes() == (authorities, relays):
                try:
                    return self._resume(authorities, relays, timeout)
                except TestnetError as e:
                    if self._foreign_users():
                        raise  # it cannot be made afresh under running services anyway
                    self._report(Stage.STARTING, f"{e} Making the test network afresh.", 0)
            if current.nodes or self._leftovers():
                self._report(Stage.STARTING, "Removing an incomplete test network", 0)
                self._down()
            try:
                return self._up(authorities, relays, timeout)
            except BaseException as e:
                with contextlib.suppress(BaseException):
                    self._report(Stage.FAILED, f"The test network did not start: {e}", None)
                try:
                    self._down()
                except MyOnionError:
                    log.warning("could not remove the broken test network", exc_info=True)
                if isinstance(e, TestnetError | DockerUnavailable) or not isinstance(
                        e, Exception):
                    raise  # already says what to do; or an interrupt
                if isinstance(e, MyOnionError):
                    raise TestnetError(f"The test network could not be started: {e}",
                                       hint=e.hint, detail=e.detail) from e
                raise TestnetError(f"The test network could not be started: {e!r}.") from e

    def status(self) -> TestnetStatus:
        """The network as Docker and the node logs show it now (works from any process)."""
        nodes: list[NodeStatus] = []
        consensus = False
        client: ContainerInfo | None = None
        infos = sorted(self._node_containers(), key=lambda c: (
            ROLES.index(_role_of(c) or "client"), _node_index(c.labels.get(LABEL_NODE, ""))))
        for info in infos:
            role = _role_of(info) or "client"
            lines = self._logs(info.name)
            percent = last_bootstrap(lines)
            if role == "authority" and has_consensus(lines):
                consensus = True
            if role != "authority" and percent == 100:
                consensus = True  # a relay or client with 100 % has a consensus
            if role == "client":
                client = info
            nodes.append(NodeStatus(
                name=info.labels.get(LABEL_NODE, info.name.removeprefix(self.prefix)),
                role=role, state=info.status, bootstrap=percent,
                address=info.ip_addresses.get(self.network) or None))
        socks = None
        if client is not None and client.running and SOCKS_KEY in client.ports:
            host, port = client.ports[SOCKS_KEY]
            socks = (host or "127.0.0.1", port)
        client_boot = any(n.role == "client" and n.bootstrap == 100 and n.state == "running"
                          for n in nodes)
        up = bool(nodes) and client_boot and socks is not None and all(
            n.state == "running" for n in nodes) and self._complete(infos, client)
        up = up and self.runtime.network_exists(self.network)
        timings = self._saved_timings(client)
        return TestnetStatus(up=up, socks=socks if up else None, nodes=nodes,
                             consensus=consensus, client_bootstrapped=client_boot,
                             timings=dict(timings) if up else {})

    def down(self) -> None:
        """Remove every test network container, network and volume (found by label)."""
        self.runtime.ping()
        with self._locked():
            self._down()

    def socks(self) -> tuple[str, int]:
        """("127.0.0.1", port) of the client's SOCKS port; TestnetError if the net is not up."""
        st = self.status()
        if not st.up or st.socks is None:
            raise TestnetError("The local Tor test network is not up.")
        return st.socks

    def is_up(self) -> bool:
        return self.status().up

    def authorize(self, key: str, auth_private_line: str) -> None:
        """Give the test network's client the key of a private onion service (the content of
        a ``.auth_private`` file), so it can reach it; ``key`` names the file (one per
        service). Tor reads its ClientOnionAuthDir again on SIGHUP."""
        client = self._client_container()
        # through a task container on the client's volume: the client's root file system is
        # read-only (Docker then refuses to copy in), and an exec would show the key in argv
        name = f"{key}.auth_private"
        status, output = self.runtime.run_task(
            images.tor_image(self.runtime, self.reporter), ["true"],
            [Mount(client, "/node", volume=True)],
            files={f"/node/{ONION_AUTH_DIR.removeprefix(DATA_DIR + '/')}/{name}": (
                auth_private_line.encode() + b"\n", 0o600)}, user=f"{UID}:{UID}")
        if status != 0:
            raise TestnetError("The test network's client could not be given a client key.",
                               detail=_tail(output.splitlines()))
        self.runtime.kill(client, "SIGHUP")

    def deauthorize(self, key: str) -> None:
        """Take a key given with :meth:`authorize` away again (nothing if there is none)."""
        client = self._client_container()
        code, _ = self.runtime.exec(client, ["rm", "-f", f"{ONION_AUTH_DIR}/{key}.auth_private"])
        if code == 0:
            self.runtime.kill(client, "SIGHUP")

    def _client_container(self) -> str:
        name = f"{self.prefix}client"
        info = self.runtime.get(name)
        if info is None or not info.running:
            raise TestnetError("The local Tor test network is not up.",
                               hint="Start it with `myonion testnet up`.")
        code, _ = self.runtime.exec(name, ["test", "-d", ONION_AUTH_DIR])
        if code != 0:
            # made by an older myonion: give its client the directory in place (the SIGHUP
            # that follows makes tor read it), so running services are not disturbed
            code, output = self.runtime.exec(name, ["sh", "-c", (
                f"mkdir -m 0700 {ONION_AUTH_DIR} && {{ grep -q '^ClientOnionAuthDir' {TORRC} "
                f"|| echo 'ClientOnionAuthDir {ONION_AUTH_DIR}' >> {TORRC}; }}")])
            if code != 0:
                raise TestnetError("The test network was made by an older myonion and its "
                                   "client cannot be given keys of private services.",
                                   hint="Run `myonion testnet down` and `myonion testnet up`.",
                                   detail=output)
        return name

    # up, step by step ---------------------------------------------------------------------
    def _up(self, authorities: int, relays: int, timeout: float) -> TestnetStatus:
        start = time.monotonic()
        deadline = start + timeout
        timings: dict[str, float] = {}

        def mark(what: str) -> None:
            timings[what] = round(time.monotonic() - start, 3)

        image = images.tor_image(self.runtime, self.reporter)
        subnet = pick_subnet(self.runtime.used_subnets())
        nodes = plan(subnet, authorities, relays, self.prefix)
        auths = [n for n in nodes if n.role == "authority"]
        servers = [n for n in nodes if n.role != "client"]
        client = nodes[-1]

        self._report(Stage.STARTING, f"Creating the test network on {subnet}", 2)
        # internal: nothing is forwarded off the bridge; no IPv4 address on the bridge: the
        # default route Docker 20.10 still gives containers leads nowhere, so not even this
        # machine's own addresses can be reached from the test network.
        # An internal overlay (swarm) has no gateway at all: its containers get a route to
        # the subnet only.
        try:
            self.runtime.create_network(
                self.network, internal=True, subnet=subnet, labels=self._labels(ROLE_NETWORK),
                options=None if self.swarm else {
                    "com.docker.network.bridge.inhibit_ipv4": "true"},
                swarm=self.swarm)
        except MyOnionError as e:
            if not self.swarm:
                raise
            raise TestnetError(f"The swarm test network could not be made: {e}",
                               hint="Make this engine a swarm manager first: `docker swarm "
                               "init --advertise-addr ADDRESS` (an address of this "
                               "machine).") from e
        self._create_access_network()
        for node in nodes:
            self.runtime.create_volume(node.volume, self._labels(ROLE_VOLUME))
        self.runtime.create_volume(self.include_volume, self._labels(ROLE_VOLUME))
        mark("network_created")

        self._report(Stage.STARTING, f"Making keys for {len(auths)} directory authorities", 5)
        mounts = [Mount(n.volume, f"/nodes/{n.name}", volume=True) for n in nodes]
        status, output = self.runtime.run_task(
            image, ["bash", "-c", keygen_script(auths)], mounts, user="0:0",
            cap_add=["CHOWN"], timeout=max(10.0, deadline - time.monotonic()))
        if status != 0:
            raise TestnetError(f"Making the authority keys failed (exit status {status}).",
                               detail=_tail(output.splitlines()))
        keys = parse_keygen_output(output, [n.name for n in auths])
        dirauths = dirauthority_lines(nodes, keys)
        files = node_files(nodes, dirauths, subnet)
        status, output = self.runtime.run_task(
            image, ["true"], [*mounts, Mount(self.include_volume, "/include", volume=True)],
            files=files, user=f"{UID}:{UID}", timeout=max(10.0, deadline - time.monotonic()))
        if status != 0:
            raise TestnetError("Writing the test network configuration failed.",
                               detail=_tail(output.splitlines()))
        mark("configured")

        # In parallel: the engine takes ~0.2 s per create and start, the voting clock waits not.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda n: self.runtime.create(
                self._spec(n, image, authorities, relays)), nodes))
            # Not a guess but the authorities' clock: starting right before a vote gives a first
            # consensus without the relays, which costs a voting round (10 s) and leaves the
            # tors that bootstrapped on it failing their own circuits until the next vote.
            delay = start_delay(time.time())
            if delay:
                self._report(Stage.STARTING, f"Waiting {delay:.1f} s for the authorities' "
                             "voting clock", 12)
                time.sleep(delay)
            list(pool.map(lambda n: self.runtime.start(n.container), servers))
        mark("nodes_started")
        self._report(Stage.BOOTSTRAPPING,
                     f"Started {len(auths)} authorities and {relays} relays; waiting for the "
                     "first consensus (voting every 10 s)", 15)

        self._wait(auths, lambda _, lines: has_consensus(lines), deadline,
                   "publish a consensus", any_node=True)
        mark("consensus")
        self._report(Stage.BOOTSTRAPPING, "The authorities published a consensus", 35)
        # The first consensus may miss relays whose descriptors came too late for its vote.
        want = len(servers)
        self._wait_full_consensus(auths, want, deadline)
        mark("full_consensus")
        self._report(Stage.BOOTSTRAPPING,
                     f"The consensus lists all {want} relays and authorities", 50)
        # The client is started once every relay could hand it the whole directory: the full
        # consensus and every microdescriptor. Measured: a tor that bootstraps on less picks
        # its layer-2 vanguards from the few relays it knows and fails its circuits ("Failed to
        # find node for hop #2") until the next vote. Relays may stay at 95 % for that reason;
        # their own circuits do not matter for relaying.
        self._wait(servers, lambda node, lines: self._ready(node, lines, want), deadline,
                   "get the full consensus and every relay's microdescriptor",
                   progress=(50, 80),
                   nudge=lambda node, lines: node.role == "relay" and can_signal(lines))
        mark("relays_ready")
        self._report(Stage.BOOTSTRAPPING, "Every relay has the consensus; starting the client", 80)

        self.runtime.start(client.container)
        self._wait([client], lambda _, lines: last_bootstrap(lines) == 100, deadline,
                   "bootstrap", progress=(80, 99))
        mark("client_bootstrapped")

        self._save_timings(self.runtime.get(client.container), timings)
        result = self.status()
        if not result.up:
            raise TestnetError("The test network started but does not look healthy.",
                               hint="Run `myonion testnet status` to see which node is not.")
        result.timings = dict(timings)
        where = f"; SOCKS at {result.socks[0]}:{result.socks[1]}" if result.socks else ""
        self._report(Stage.BOOTSTRAPPING,
                     f"The test network is up after {timings['client_bootstrapped']:.1f} s{where}",
                     100, data={"timings": dict(timings)})
        return result

    def _spec(self, node: Node, image: str, authorities: int, relays: int) -> ContainerSpec:
        labels = self._labels(f"{ROLE_PREFIX}-{node.role}")
        labels.update({LABEL_NODE: node.name, LABEL_AUTHORITIES: str(authorities),
                       LABEL_RELAYS: str(relays)})
        client = node.role == "client"
        return ContainerSpec(
            name=node.container, image=image, labels=labels,
            entrypoint=["/usr/bin/tini", "--"], command=["tor", "-f", TORRC],
            user=f"{UID}:{UID}", mounts=[Mount(node.volume, DATA_DIR, volume=True)],
            network=self.network, ipv4_address=node.address,
            extra_networks=[self.access_network] if client else [],
            ports={SOCKS_KEY: ("127.0.0.1", 0)} if client else {},
            environment={"MALLOC_MMAP_THRESHOLD_": "131072"},
            read_only=True, mem_limit=NODE_MEMORY, pids_limit=NODE_PIDS, restart=None,
            hostname=node.name,
        )

    def _wait(self, nodes: list[Node], done: Callable[[Node, list[str]], bool], deadline: float,
              what: str, any_node: bool = False, progress: tuple[int, int] | None = None,
              nudge: Callable[[Node, list[str]], bool] | None = None) -> None:
        """Poll the nodes' logs until ``done`` holds for every node (or any, with
        ``any_node``); fail fast if one exits, with its log tail. Nodes for which ``nudge``
        (given the node and its log) is true get a SIGHUP at most every NUDGE_EVERY s."""
        pending = list(nodes)
        total = len(nodes)
        nudged: dict[str, float] = {}
        while True:
            states = {c.name: c for c in self._node_containers()}
            for node in list(pending):
                lines = self._logs(node.container)
                if done(node, lines):
                    pending.remove(node)
                    if any_node:
                        return
                    if progress:
                        low, high = progress
                        self._report(Stage.BOOTSTRAPPING, f"{node.name} is ready",
                                     low + (high - low) * (total - len(pending)) // total)
                    continue
                info = states.get(node.container)
                if info is None or not info.running:
                    raise TestnetError(
                        f"The test network node {node.name} stopped ({_state(info)}) before it "
                        f"could {what}.", hint=_failed_hint(info), detail=_tail(lines))
                if nudge and nudge(node, lines) and time.monotonic() - nudged.get(
                        node.name, -NUDGE_EVERY) >= NUDGE_EVERY:
                    nudged[node.name] = time.monotonic()
                    with contextlib.suppress(MyOnionError):
                        self.runtime.kill(node.container, "SIGHUP")
            if not pending:
                return
            if time.monotonic() > deadline:
                node = pending[0]
                raise TestnetError(
                    f"The test network node {node.name} did not {what} in time (last "
                    f"bootstrap {last_bootstrap(self._logs(node.container))}%).",
                    hint="Read its log below; a slow machine may need a longer --timeout.",
                    detail=_tail(self._logs(node.container)))
            time.sleep(POLL)

    def _wait_full_consensus(self, auths: list[Node], want: int, deadline: float) -> None:
        """Poll the authorities' published consensus until it lists ``want`` routers."""
        seen: int | None = None
        while True:
            states = {c.name: c for c in self._node_containers()}
            for node in auths:
                info = states.get(node.container)
                if info is None or not info.running:
                    raise TestnetError(
                        f"The directory authority {node.name} stopped ({_state(info)}).",
                        hint=_failed_hint(info), detail=_tail(self._logs(node.container)))
            for node in auths:
                count = self._consensus_size(node)
                if count is not None and count >= want:
                    return
                if count is not None and count != seen:
                    seen = count
                    self._report(Stage.BOOTSTRAPPING, f"The consensus lists {count} of {want} "
                                 "relays and authorities; waiting for the next vote", 40)
            if time.monotonic() > deadline:
                raise TestnetError(
                    f"The test network's consensus did not list all {want} relays and "
                    f"authorities in time (last seen: {seen}).",
                    hint="Read the authority's log below; a slow machine may need a longer "
                    "--timeout.", detail=_tail(self._logs(auths[0].container)))
            time.sleep(POLL)

    def _ready(self, node: Node, lines: list[str], want: int) -> bool:
        """An authority is ready at 100 %; a relay once it has a live consensus (75 %) and holds
        the full one with every microdescriptor: then it can hand a new client everything.
        (Its own circuits, 95 -> 100 %, may lag behind and do not matter for relaying.)"""
        percent = last_bootstrap(lines)
        if node.role == "authority":
            return percent == 100
        return (percent is not None and percent >= ENOUGH_DIRINFO
                and self._has_directory(node, want))

    def _has_directory(self, node: Node, want: int) -> bool:
        """True if a relay holds a consensus listing ``want`` routers and a microdescriptor
        for each of them."""
        try:
            _, output = self.runtime.exec(node.container, ["bash", "-c", DIRECTORY_COUNTS])
        except Exception:  # the engine's error or the container went away: ask again later
            log.debug("could not read the directory of %s", node.name, exc_info=True)
            return False
        routers, descriptors = parse_counts(output)
        return routers is not None and descriptors is not None and min(
            routers, descriptors) >= want

    def _consensus_size(self, node: Node) -> int | None:
        """How many routers the consensus an authority holds lists (None: none yet)."""
        try:
            _, output = self.runtime.exec(node.container, ["grep", "-c", "^r ", CONSENSUS_FILE])
        except Exception:  # the engine's error or the container went away: ask again later
            log.debug("could not read the consensus of %s", node.name, exc_info=True)
            return None
        return parse_count(output)

    # down ---------------------------------------------------------------------------------
    def _down(self) -> None:
        users = self._foreign_users()
        if users:  # checked first, so a refused down changes nothing
            raise TestnetError(
                f"The test network is still used by {', '.join(sorted(users))}, so it cannot "
                "be removed.",
                hint="Remove the local-mode services first (`myonion ls`, `myonion rm NAME`), "
                "then run `myonion testnet down` again.")
        for info in self.runtime.list_containers({LABEL_ROLE: ""}):
            if info.labels.get(LABEL_ROLE, "").startswith(ROLE_PREFIX) and self._owns(info.name):
                self.runtime.remove(info.name)
        for name in self._mine(self.runtime.list_networks({LABEL_ROLE: ROLE_NETWORK})):
            try:
                self.runtime.remove_network(name)
            except MyOnionError as e:
                raise TestnetError(
                    f"The test network {name} could not be removed: {e}",
                    hint="Remove the containers still attached to it (`myonion ls`, "
                    "`myonion rm NAME`), then run `myonion testnet down` again.") from e
        for name in self._mine(self.runtime.list_volumes({LABEL_ROLE: ROLE_VOLUME})):
            try:
                self.runtime.remove_volume(name)
            except MyOnionError as e:
                raise TestnetError(
                    f"The test network volume {name} could not be removed: {e}",
                    hint="Remove the containers that mount it (`myonion ls`, `myonion rm "
                    "NAME`), then run `myonion testnet down` again.") from e
        with contextlib.suppress(OSError):
            self._timings_file().unlink()

    # resume ---------------------------------------------------------------------------------
    def _kept_sizes(self) -> tuple[int, int] | None:
        """(authorities, relays) of a network made earlier whose network and volumes (keys,
        torrcs, the services' include) are all still there, else None. Its nodes may be
        stopped (a reboot) or even gone (``docker rm``, an interrupted down)."""
        if not self.runtime.network_exists(self.network):
            return None
        volumes = set(self._mine(self.runtime.list_volumes({LABEL_ROLE: ROLE_VOLUME})))
        names = {v.removeprefix(self.prefix) for v in volumes if v.startswith(self.prefix)}
        authorities = sum(1 for n in names if re.fullmatch(r"auth\d+", n))
        relays = sum(1 for n in names if re.fullmatch(r"relay\d+", n))
        try:
            expected = {n.volume for n in plan(ANY_SUBNET, authorities, relays, self.prefix)}
        except TestnetError:
            return None
        if self.include_volume not in volumes or not expected <= volumes:
            return None
        return authorities, relays

    def _subnet_of(self, image: str, node: Node) -> str:
        """The /24 a node's torrc (in its volume) puts it on."""
        status, output = self.runtime.run_task(
            image, ["cat", f"/node/{TORRC.rsplit('/', 1)[-1]}"],
            [Mount(node.volume, "/node", read_only=True, volume=True)], user=f"{UID}:{UID}",
            timeout=30)
        match = re.search(r"^Address (\S+)$", output, re.MULTILINE)
        if status != 0 or not match:
            raise TestnetError(f"The configuration of {node.name} cannot be read back.",
                               detail=output[-2000:])
        return str(ipaddress.ip_network(f"{match.group(1)}/24", strict=False))

    def _resume(self, authorities: int, relays: int, timeout: float) -> TestnetStatus:
        """Bring a kept network back: same keys, addresses and include, so running local-mode
        services keep working; missing node containers are made again from their volumes."""
        start = time.monotonic()
        deadline = start + timeout
        timings: dict[str, float] = {}
        infos = {c.name: c for c in self._node_containers()}
        image = images.tor_image(self.runtime, self.reporter)
        layout = plan(ANY_SUBNET, authorities, relays, self.prefix)
        missing = [c for c in layout if c.container not in infos]
        if missing:
            nodes = plan(self._subnet_of(image, layout[0]), authorities, relays, self.prefix)
        else:
            nodes = [Node(c.labels.get(LABEL_NODE, ""), _role_of(c) or "client",
                          c.ip_addresses.get(self.network, ""), self.prefix)
                     for c in infos.values()]
        running = {name for name, c in infos.items() if c.running}
        # only what a node logs after this start counts
        seen = {n.name: len(self._logs(n.container)) if n.container in infos
                and n.container not in running else 0 for n in nodes}
        servers = [n for n in nodes if n.role != "client"]
        client = next(n for n in nodes if n.role == "client")
        if not self.runtime.network_exists(self.access_network):
            self._create_access_network()
        for node in nodes:
            if node.container not in infos:
                self.runtime.create(self._spec(node, image, authorities, relays))
        stopped = [n for n in servers if n.container not in running]
        self._report(Stage.STARTING, f"Starting {len(stopped)} nodes of the kept test network "
                     "again (same keys)", 10)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda n: self.runtime.start(n.container), stopped))
        want = len(servers)
        self._wait(servers, lambda node, lines: self._ready(node, lines[seen[node.name]:], want),
                   deadline, "bootstrap again", progress=(10, 80),
                   nudge=lambda node, lines: node.role == "relay" and can_signal(
                       lines[seen[node.name]:]))
        timings["resume_relays_ready"] = round(time.monotonic() - start, 3)
        if client.container not in running:
            self.runtime.start(client.container)
        self._wait([client], lambda node, lines: last_bootstrap(
            lines[seen[node.name]:]) == 100, deadline, "bootstrap again", progress=(80, 99))
        timings["resume_client_bootstrapped"] = round(time.monotonic() - start, 3)
        self._save_timings(self.runtime.get(client.container), timings)
        result = self.status()
        if not result.up:
            raise TestnetError("The test network was started again but does not look healthy.")
        result.timings = dict(timings)
        self._report(Stage.BOOTSTRAPPING, "The test network is up again after "
                     f"{timings['resume_client_bootstrapped']:.1f} s", 100,
                     data={"timings": timings})
        return result

    def _create_access_network(self) -> None:
        # Only for publishing the client's SOCKS port: no masquerading, so no way out.
        self.runtime.create_network(
            self.access_network, internal=False, subnet=None,
            labels=self._labels(ROLE_NETWORK),
            options={"com.docker.network.bridge.enable_ip_masquerade": "false",
                     "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"})

    def _foreign_users(self) -> list[str]:
        """Containers that are not ours but are attached to the test network (any state)."""
        return [c.name for c in self.runtime.list_containers({})
                if self.network in c.ip_addresses and not (
                    c.labels.get(LABEL_ROLE, "").startswith(ROLE_PREFIX) and self._owns(c.name))]

    def _owns(self, name: str) -> bool:
        return name == self.network or name.startswith(self.prefix)

    def _mine(self, names: list[str]) -> list[str]:
        return [n for n in names if self._owns(n)]

    # helpers ------------------------------------------------------------------------------
    def _labels(self, role: str) -> dict[str, str]:
        return {LABEL_ROLE: role, LABEL_NETWORK: "local", LABEL_INSTANCE: self.name}

    def _node_containers(self) -> list[ContainerInfo]:
        return [c for c in self.runtime.list_containers({LABEL_ROLE: ""})
                if _role_of(c) is not None and LABEL_NODE in c.labels and self._owns(c.name)]

    def _leftovers(self) -> bool:
        return bool(self._mine(self.runtime.list_networks({LABEL_ROLE: ROLE_NETWORK}))
                    or self._mine(self.runtime.list_volumes({LABEL_ROLE: ROLE_VOLUME})))

    def _logs(self, name: str) -> list[str]:
        try:
            return list(self.runtime.logs(name))
        except MyOnionError:
            return []
        except Exception:  # the container vanished between listing and reading
            log.debug("could not read the logs of %s", name, exc_info=True)
            return []

    def _complete(self, infos: list[ContainerInfo], client: ContainerInfo | None) -> bool:
        """True if every node the network was made with is there."""
        if client is None:
            return False
        try:
            want_auth = int(client.labels.get(LABEL_AUTHORITIES, "-1"))
            want_relay = int(client.labels.get(LABEL_RELAYS, "-1"))
        except ValueError:
            return False
        roles = [_role_of(c) for c in infos]
        return roles.count("authority") == want_auth and roles.count("relay") == want_relay

    @staticmethod
    def _sizes(st: TestnetStatus) -> tuple[int, int]:
        roles = [n.role for n in st.nodes]
        return roles.count("authority"), roles.count("relay")

    def _report(self, stage: Stage, message: str, percent: int | None,
                data: dict[str, object] | None = None) -> None:
        self.reporter(Event(stage, message, percent=percent, service="testnet",
                            data=data or {}))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One up/down at a time on this machine: the network is one per Docker engine, so the
        lock is machine-wide (in the temp dir, not under MYONION_HOME); read-only is enough for
        flock, so processes of other users can share it."""
        try:
            fd = os.open(LOCK_DIR / f"{self.name}.lock", os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW,
                         0o644)
        except OSError:
            fd = os.open(paths.testnet_dir() / f".{self.name}.lock", os.O_RDWR | os.O_CREAT,
                         0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._report(Stage.STARTING, "Waiting for another `myonion testnet up/down` on "
                             "this machine to finish", None)
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _timings_file(self) -> Path:
        return paths.testnet_dir() / f"{self.name}.timings.json"

    def _save_timings(self, client: ContainerInfo | None, timings: dict[str, float]) -> None:
        if client is None:
            return
        path = self._timings_file()
        with contextlib.suppress(OSError):
            path.write_text(json.dumps({"client": client.id, "timings": timings}))

    def _saved_timings(self, client: ContainerInfo | None) -> dict[str, float]:
        if client is None:
            return {}
        try:
            data = json.loads(self._timings_file().read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("client") != client.id:
            return {}
        timings = data.get("timings")
        return {str(k): float(v) for k, v in timings.items()} if isinstance(timings, dict) else {}


def _node_index(name: str) -> int:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


def _state(info: ContainerInfo | None) -> str:
    if info is None:
        return "its container is gone"
    return f"{info.status}, exit status {info.exit_code}"


def _failed_hint(info: ContainerInfo | None) -> str:
    if info is None:
        return ("Something removed it: is another program or user running `myonion testnet "
                "down` or `docker rm`? Then `myonion testnet up` again.")
    return "Read its log below; then `myonion testnet up` again."


def _tail(lines: list[str], n: int = LOG_TAIL) -> str:
    return "\n".join(lines[-n:])
