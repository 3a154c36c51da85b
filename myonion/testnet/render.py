"""The test network's configuration as text: every node's torrc, the include that points a
local-mode service's tor at the authorities, and the files written into the volumes (pure)."""

from __future__ import annotations

from myonion.errors import TestnetError
from myonion.testnet import layout
from myonion.testnet.access import Access, socks_lines
from myonion.testnet.authority_keys import AuthorityKeys
from myonion.testnet.layout import (
    CLIENT_CONTROL_PORT,
    DATA_DIR,
    DIR_PORT,
    DIRECTORY_SUBDIR,
    DIST_DELAY,
    EMPTY_GEOIP,
    INCLUDE_FILE,
    ONION_AUTH_DIR,
    OR_PORT,
    RESOLV_CONF,
    VOTE_DELAY,
    VOTING_INTERVAL,
    Node,
    voting_interval,
)


def dirauthority_line(node: Node, keys: AuthorityKeys) -> str:
    """``DirAuthority NAME orport=P no-v2 v3ident=V3ID IP:DIRPORT RSA_FINGERPRINT``."""
    return (f"DirAuthority {node.name} orport={OR_PORT} no-v2 v3ident={keys.v3ident} "
            f"{node.address}:{DIR_PORT} {keys.fingerprint}")


def dirauthority_lines(nodes: list[Node], keys: dict[str, AuthorityKeys]) -> list[str]:
    return [dirauthority_line(n, keys[n.name]) for n in nodes if n.role == "authority"]


#: services and the client use no entry guards on a network this small: tor does not keep an
#: onion service circuit's last hop out of its guard choice (vanguard circuits, which every
#: onion service circuit is: entrynodes.c, guards_choose_guard), and the middle relay refuses
#: to extend back to the guard. On 6 nodes that hit ~1 new service in 4: its first circuit
#: failed again and again, once a second, 1-8 s in all; a proof, when the client's guard was
#: the rendezvous point. On the public network, with thousands of relays, it is rare.
NO_GUARDS = "UseEntryGuards 0"


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
        NO_GUARDS,
    ]) + "\n"


def render_torrc(node: Node, dirauths: list[str], subnet: str,
                 access: Access | None = None, interval: int = VOTING_INTERVAL) -> str:
    """The complete torrc of one node (authority, relay or client; the client needs the
    ``access`` bridge, the only place its SOCKS port answers; an authority votes every
    ``interval`` s after the first consensus, see :func:`layout.voting_interval`)."""
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
        if access is None:
            raise TestnetError("The test network's client needs its access bridge.")
        lines += _client_lines(access, subnet)
        return "\n".join(lines) + "\n"
    lines += [
        "SocksPort 0",
        f"Address {node.address}",
        f"ORPort {OR_PORT}",
        f"ContactInfo {node.name}@testnet.myonion.invalid",
        f"MaxConsensusAgeForDiffs {layout.DIFF_CONSENSUSES * interval} seconds",
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
            f"V3AuthVotingInterval {interval}",
            f"V3AuthVoteDelay {VOTE_DELAY}",
            f"V3AuthDistDelay {DIST_DELAY}",
            "V3AuthNIntervalsValid 2",
            "TestingDirAuthVoteGuard *",
            "TestingDirAuthVoteHSDir *",
        ]
    return "\n".join(lines) + "\n"


def _client_lines(access: Access, subnet: str) -> list[str]:
    """The client's own torrc lines: where it answers, and what it may reach and hold."""
    return [
        # it holds every private service's client key: only this machine, by the
        # published port, may use it (never a container on the test network)
        *socks_lines(access),
        # first hops only on the test network's subnet
        f"ReachableAddresses accept {subnet}:*, reject *:*",
        # keys of private services, so `check` can reach them (see Testnet.authorize)
        f"ClientOnionAuthDir {ONION_AUTH_DIR}",
        # it proves every new service: 20 shared at once need ~60 circuits at once
        # (descriptor, introduction, rendezvous), more than tor's default of 32
        "MaxClientCircuitsPending 128",
        NO_GUARDS,
        # its own loopback only, for `docker exec` (see Testnet.forget_onions): a
        # restarted service's old introduction points can keep answering for a while
        f"ControlPort 127.0.0.1:{CLIENT_CONTROL_PORT}",
        "CookieAuthentication 1",
    ]


def node_files(nodes: list[Node], dirauths: list[str], subnet: str,
               access: Access) -> dict[str, tuple[bytes, int]]:
    """Files to put into the volumes (mounted at /nodes/<name> and /include) before start."""
    files: dict[str, tuple[bytes, int]] = {
        f"/include/{INCLUDE_FILE}": (render_include(dirauths).encode(), 0o644),
        # the client's copy of the directory, for new services (myonion.tor.directory)
        f"/include/{DIRECTORY_SUBDIR}/": (b"", 0o755),
    }
    interval = voting_interval(sum(1 for node in nodes if node.role == "relay"))
    for node in nodes:
        files[f"/nodes/{node.name}/torrc"] = (
            render_torrc(node, dirauths, subnet, access, interval).encode(), 0o600)
        if node.role != "client":
            files[f"/nodes/{node.name}/resolv.conf"] = (b"nameserver 127.0.0.1\n", 0o644)
        else:
            files[f"/nodes/{node.name}/onion-auth/"] = (b"", 0o700)
    return files

