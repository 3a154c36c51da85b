"""The test network's objects on the engine: its networks, volumes and node containers (how
each is made, found, read back and told apart from what is not ours)."""

from __future__ import annotations

import ipaddress
import logging
import re

from myonion.errors import MyOnionError, TestnetError
from myonion.runtime.base import LABEL_ROLE, ContainerInfo, ContainerSpec, Mount
from myonion.testnet.access import Access
from myonion.testnet.context import (
    LABEL_ACCESS,
    LABEL_AUTHORITIES,
    LABEL_NODE,
    LABEL_RELAYS,
    ROLE_NETWORK,
    ROLE_PREFIX,
    ROLE_VOLUME,
    NetContext,
    labels,
    mine,
    owns,
    role_of,
)
from myonion.testnet.layout import DATA_DIR, DIRECTORY_SUBDIR, SOCKS_KEY, TORRC, UID, Node
from myonion.tor import directory

log = logging.getLogger(__name__)

#: where the client mounts the services' include volume (read-write: it keeps the copy)
INCLUDE_MOUNT = "/include"

#: a node's memory grows with the onion services published in the last hours (~1 MiB per 20
#: at each node, measured: every node is an HSDir and keeps their descriptors): 64 MiB was
#: reached after ~50 minutes of benchmarks sharing hundreds, and the engine killed the node
NODE_MEMORY = "256m"
NODE_PIDS = 64
#: glibc's malloc in a node. Each directory cache compresses every new consensus and its diffs
#: with LZMA, and each LZMA encoder zeroes a ~16 MiB hash table. Mapped afresh for each
#: compression (every allocation over 128 KiB), those pages were faulted in and zeroed by the
#: kernel every time: an idle default network used 16-22 % of a core. Kept in the heap (only
#: what is over 32 MiB mapped, the heap trimmed only above 128 MiB free), it used 3-4 %, at
#: 61-90 MiB for each authority and relay instead of 4-22 (bench/testnet_idle.py --compare
#: malloc). The client compresses nothing and stays at 3-4 MiB either way.
NODE_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}


def create_network(ctx: NetContext, subnet: str) -> None:
    """The internal network the nodes and local-mode services join."""
    # internal: nothing is forwarded off the bridge; no IPv4 address on the bridge: the
    # default route Docker 20.10 still gives containers leads nowhere, so not even this
    # machine's own addresses can be reached from the test network.
    # An internal overlay (swarm) has no gateway at all: its containers get a route to
    # the subnet only.
    try:
        ctx.runtime.create_network(
            ctx.network, internal=True, subnet=subnet, labels=labels(ctx, ROLE_NETWORK),
            options=None if ctx.swarm else {
                "com.docker.network.bridge.inhibit_ipv4": "true"},
            swarm=ctx.swarm)
    except MyOnionError as e:
        if not ctx.swarm:
            raise
        raise TestnetError(f"The swarm test network could not be made: {e}",
                           hint="Make this engine a swarm manager first: `docker swarm "
                           "init --advertise-addr ADDRESS` (an address of this "
                           "machine).") from e


def create_access_network(ctx: NetContext, access: Access) -> None:
    # For publishing ports on 127.0.0.1 (the client's SOCKS port; a local-mode service's
    # LAN port): no masquerading, so no way out. On a subnet of our choice, so the
    # client's torrc knows its gateway and its own address before it starts.
    ctx.runtime.create_network(
        ctx.access_network, internal=False, subnet=access.subnet,
        labels=labels(ctx, ROLE_NETWORK),
        options={"com.docker.network.bridge.enable_ip_masquerade": "false",
                 "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"})


def create_volumes(ctx: NetContext, nodes: list[Node]) -> None:
    """A volume for each node (its keys, torrc and state) and the services' include."""
    for node in nodes:
        ctx.runtime.create_volume(node.volume, labels(ctx, ROLE_VOLUME))
    ctx.runtime.create_volume(ctx.include_volume, labels(ctx, ROLE_VOLUME))


def spec(ctx: NetContext, node: Node, image: str, authorities: int, relays: int,
         access: Access) -> ContainerSpec:
    """A node's container."""
    found = labels(ctx, f"{ROLE_PREFIX}-{node.role}")
    found.update({LABEL_NODE: node.name, LABEL_AUTHORITIES: str(authorities),
                  LABEL_RELAYS: str(relays)})
    client = node.role == "client"
    if client:  # see testnet.access: who may use its SOCKS port
        found[LABEL_ACCESS] = access.subnet
    mounts = [Mount(node.volume, DATA_DIR, volume=True)]
    command = ["tor", "-f", TORRC]
    if client:
        # the client keeps a copy of the directory in the services' include volume, which
        # they mount read-only: a new service's tor starts from it (myonion.tor.directory)
        mounts.append(Mount(ctx.include_volume, INCLUDE_MOUNT, volume=True))
        command = directory.keeper_command(DATA_DIR, f"{INCLUDE_MOUNT}/{DIRECTORY_SUBDIR}",
                                           command)
    # The client's first network is the access bridge, so that its fixed address is there
    # (an extra network gets a dynamic one); on the test network, where it only connects
    # out, any address does.
    return ContainerSpec(
        name=node.container, image=image, labels=found,
        entrypoint=["/usr/bin/tini", "--"], command=command,
        user=f"{UID}:{UID}", mounts=mounts,
        network=ctx.access_network if client else ctx.network,
        ipv4_address=access.client if client else node.address,
        extra_networks=[ctx.network] if client else [],
        ports={SOCKS_KEY: ("127.0.0.1", 0)} if client else {},
        environment=dict(NODE_MALLOC),
        read_only=True, mem_limit=NODE_MEMORY, pids_limit=NODE_PIDS, restart=None,
        hostname=node.name,
    )


def node_containers(ctx: NetContext) -> list[ContainerInfo]:
    """The network's node containers, in any state."""
    return [c for c in ctx.runtime.list_containers({LABEL_ROLE: ""})
            if role_of(c) is not None and LABEL_NODE in c.labels and owns(ctx, c.name)]


def foreign_users(ctx: NetContext) -> list[str]:
    """Containers that are not ours but are attached to the test network (any state)."""
    return [c.name for c in ctx.runtime.list_containers({})
            if ctx.network in c.ip_addresses and not (
                c.labels.get(LABEL_ROLE, "").startswith(ROLE_PREFIX) and owns(ctx, c.name))]


def leftovers(ctx: NetContext) -> bool:
    """True if a network or volume of ours is still there."""
    return bool(mine(ctx, ctx.runtime.list_networks({LABEL_ROLE: ROLE_NETWORK}))
                or mine(ctx, ctx.runtime.list_volumes({LABEL_ROLE: ROLE_VOLUME})))


def logs(ctx: NetContext, name: str) -> list[str]:
    """A node's log lines (none if it cannot be read)."""
    try:
        return list(ctx.runtime.logs(name))
    except MyOnionError:
        return []
    except Exception:  # the container vanished between listing and reading
        log.debug("could not read the logs of %s", name, exc_info=True)
        return []


def read(ctx: NetContext, image: str, volume: str, name: str) -> str:
    """A file of one of our volumes (a node's torrc, the services' include)."""
    status, output = ctx.runtime.run_task(
        image, ["cat", f"/volume/{name}"],
        [Mount(volume, "/volume", read_only=True, volume=True)], user=f"{UID}:{UID}",
        timeout=30)
    if status != 0:
        raise TestnetError(f"The test network's {name} in {volume} cannot be read back.",
                           detail=output[-2000:])
    return output


def subnet_of(ctx: NetContext, image: str, node: Node) -> str:
    """The /24 a node's torrc (in its volume) puts it on."""
    output = read(ctx, image, node.volume, TORRC.rsplit("/", 1)[-1])
    match = re.search(r"^Address (\S+)$", output, re.MULTILINE)
    if not match:
        raise TestnetError(f"The configuration of {node.name} cannot be read back.",
                           detail=output[-2000:])
    return str(ipaddress.ip_network(f"{match.group(1)}/24", strict=False))
