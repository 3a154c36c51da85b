"""Bringing a kept test network back (after a reboot, a ``docker rm``, an interrupted down):
the same keys, addresses and include, so running local-mode services keep working; missing
node containers are made again from their volumes, and a client made by an older myonion is
made again for this machine only."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from myonion.build import images
from myonion.errors import TestnetError
from myonion.events import Stage
from myonion.runtime.base import LABEL_ROLE, ContainerInfo, Mount
from myonion.testnet.access import Access, access_of, access_plan
from myonion.testnet.context import (
    LABEL_ACCESS,
    LABEL_NODE,
    ROLE_VOLUME,
    NetContext,
    mine,
    report,
    role_of,
)
from myonion.testnet.layout import (
    ANY_SUBNET,
    DATA_DIR,
    INCLUDE_FILE,
    ONION_AUTH_DIR,
    UID,
    Node,
    pick_subnet,
    plan,
)
from myonion.testnet.logs import can_signal, last_bootstrap, tail
from myonion.testnet.nodes import (
    create_access_network,
    logs,
    node_containers,
    read,
    spec,
    subnet_of,
)
from myonion.testnet.render import render_torrc
from myonion.testnet.status import TestnetStatus, save_timings, status
from myonion.testnet.waiting import Clock, ready, wait


def kept_sizes(ctx: NetContext) -> tuple[int, int] | None:
    """(authorities, relays) of a network made earlier whose network and volumes (keys,
    torrcs, the services' include) are all still there, else None. Its nodes may be
    stopped (a reboot) or even gone (``docker rm``, an interrupted down)."""
    if not ctx.runtime.network_exists(ctx.network):
        return None
    volumes = set(mine(ctx, ctx.runtime.list_volumes({LABEL_ROLE: ROLE_VOLUME})))
    names = {v.removeprefix(ctx.prefix) for v in volumes if v.startswith(ctx.prefix)}
    authorities = sum(1 for n in names if re.fullmatch(r"auth\d+", n))
    relays = sum(1 for n in names if re.fullmatch(r"relay\d+", n))
    try:
        expected = {n.volume for n in plan(ANY_SUBNET, authorities, relays, ctx.prefix)}
    except TestnetError:
        return None
    if ctx.include_volume not in volumes or not expected <= volumes:
        return None
    return authorities, relays


def resume(ctx: NetContext, authorities: int, relays: int, timeout: float) -> TestnetStatus:
    """Bring a kept network back: same keys, addresses and include, so running local-mode
    services keep working; missing node containers are made again from their volumes."""
    clock = Clock(timeout)
    image = images.tor_image(ctx.runtime, ctx.reporter)
    layout = plan(ANY_SUBNET, authorities, relays, ctx.prefix)
    access = kept_access(ctx, image, layout)
    infos = {c.name: c for c in node_containers(ctx)}
    nodes = _nodes(ctx, image, layout, infos, access)
    running = {name for name, c in infos.items() if c.running}
    # only what a node logs after this start counts
    seen = {n.name: len(logs(ctx, n.container)) if n.container in infos
            and n.container not in running else 0 for n in nodes}
    servers = [n for n in nodes if n.role != "client"]
    client = next(n for n in nodes if n.role == "client")
    for node in nodes:
        if node.container not in infos:
            ctx.runtime.create(spec(ctx, node, image, authorities, relays, access))
    stopped = [n for n in servers if n.container not in running]
    report(ctx, Stage.STARTING, f"Starting {len(stopped)} nodes of the kept test network "
           "again (same keys)", 10)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: ctx.runtime.start(n.container), stopped))
    want = len(servers)
    wait(ctx, servers, lambda node, lines: ready(ctx, node, lines[seen[node.name]:], want),
         clock.deadline, "bootstrap again", progress=(10, 80),
         nudge=lambda node, lines: node.role == "relay" and can_signal(
             lines[seen[node.name]:]))
    clock.mark("resume_relays_ready")
    if client.container not in running:
        ctx.runtime.start(client.container)
    wait(ctx, [client], lambda node, lines: last_bootstrap(
        lines[seen[node.name]:]) == 100, clock.deadline, "bootstrap again", progress=(80, 99))
    clock.mark("resume_client_bootstrapped")
    return _finish(ctx, client, clock.timings)


def _nodes(ctx: NetContext, image: str, layout: list[Node], infos: dict[str, ContainerInfo],
           access: Access) -> list[Node]:
    """The kept network's nodes: from their containers, or (if one is missing) planned again
    on the subnet the first node's torrc names."""
    authorities = sum(n.role == "authority" for n in layout)
    relays = sum(n.role == "relay" for n in layout)
    if any(c.container not in infos for c in layout):
        return plan(subnet_of(ctx, image, layout[0]), authorities, relays, ctx.prefix,
                    access)
    return [Node(c.labels.get(LABEL_NODE, ""), role_of(c) or "client",
                 c.ip_addresses.get(ctx.network, ""), ctx.prefix)
            for c in infos.values()]


def _finish(ctx: NetContext, client: Node, timings: dict[str, float]) -> TestnetStatus:
    save_timings(ctx, ctx.runtime.get(client.container), timings)
    result = status(ctx)
    if not result.up:
        raise TestnetError("The test network was started again but does not look healthy.")
    result.timings = dict(timings)
    report(ctx, Stage.BOOTSTRAPPING, "The test network is up again after "
           f"{timings['resume_client_bootstrapped']:.1f} s", 100,
           data={"timings": timings})
    return result


def kept_access(ctx: NetContext, image: str, layout: list[Node]) -> Access:
    """The access bridge a kept network's client is guarded for. If that cannot be (a
    client made by an older myonion, whose SOCKS port answers every container; a bridge
    that is gone), both are made again (:func:`renew_access`)."""
    client = ctx.runtime.get(layout[-1].container)
    if ctx.runtime.network_exists(ctx.access_network):
        if client is not None and LABEL_ACCESS in client.labels:
            return access_plan(client.labels[LABEL_ACCESS])
        if client is None:
            found = access_of(read(ctx, image, layout[-1].volume, "torrc"))
            if found is not None:
                return found
    return renew_access(ctx, image, layout)


def renew_access(ctx: NetContext, image: str, layout: list[Node]) -> Access:
    """A new access bridge and the client's torrc for it (the same keys; the rest from the
    authorities' volumes and the include); the client's container is removed, to be made
    again. Nothing else may be on the old bridge: a service that publishes a LAN port
    would lose it."""
    client = layout[-1]
    others = sorted(c.name for c in ctx.runtime.list_containers({})
                    if ctx.access_network in c.ip_addresses and c.name != client.container)
    if others:
        raise TestnetError(
            "The test network's client must be made again (it was made by an older "
            "myonion, or its access bridge is gone), but "
            f"{', '.join(others)} still use that bridge.",
            hint="Remove them (`myonion rm NAME`), run `myonion testnet up`, then share "
            "them again.")
    report(ctx, Stage.STARTING, "Making the test network's client again, for this "
           "machine only (same keys)", 5)
    ctx.runtime.remove(client.container)
    if ctx.runtime.network_exists(ctx.access_network):
        ctx.runtime.remove_network(ctx.access_network)
    access = access_plan(pick_subnet(ctx.runtime.used_subnets()))
    create_access_network(ctx, access)
    subnet = subnet_of(ctx, image, layout[0])
    dirauths = [line for line in read(ctx, image, ctx.include_volume,
                                      INCLUDE_FILE).splitlines()
                if line.startswith("DirAuthority ")]
    node = Node(client.name, "client", access.client, ctx.prefix)
    code, output = ctx.runtime.run_task(
        image, ["true"], [Mount(client.volume, "/node", volume=True)], files={
            "/node/torrc": (render_torrc(node, dirauths, subnet, access).encode(), 0o600),
            f"/node/{ONION_AUTH_DIR.removeprefix(DATA_DIR + '/')}/": (b"", 0o700)},
        user=f"{UID}:{UID}", timeout=30)
    if code != 0:
        raise TestnetError("The test network's client could not be configured again.",
                           detail=tail(output.splitlines()))
    return access
