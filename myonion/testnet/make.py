"""Making a test network afresh, step by step: its networks and volumes, the authorities' keys
and every torrc, the nodes started on the authorities' voting clock, then waiting for the
consensus, the relays and finally the client."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from myonion.build import images
from myonion.errors import TestnetError
from myonion.events import Stage
from myonion.runtime.base import Mount
from myonion.testnet.access import Access, access_plan
from myonion.testnet.authority_keys import keygen_script, parse_keygen_output
from myonion.testnet.context import NetContext, report
from myonion.testnet.layout import UID, Node, pick_subnet, plan, start_delay
from myonion.testnet.logs import can_signal, has_consensus, last_bootstrap, tail
from myonion.testnet.nodes import create_access_network, create_network, create_volumes, spec
from myonion.testnet.render import dirauthority_lines, node_files
from myonion.testnet.status import TestnetStatus, save_timings, status
from myonion.testnet.waiting import Clock, ready, wait, wait_full_consensus


def make(ctx: NetContext, authorities: int, relays: int, timeout: float) -> TestnetStatus:
    """Make and start a new network (nothing of it may be there) and wait until its client
    has bootstrapped; TestnetError (with the failing node's log tail) if it does not."""
    clock = Clock(timeout)
    image = images.tor_image(ctx.runtime, ctx.reporter)
    subnet = pick_subnet(ctx.runtime.used_subnets())
    access = access_plan(pick_subnet([*ctx.runtime.used_subnets(), subnet]))
    nodes = plan(subnet, authorities, relays, ctx.prefix, access)

    report(ctx, Stage.STARTING, f"Creating the test network on {subnet}", 2)
    create_network(ctx, subnet)
    create_access_network(ctx, access)
    create_volumes(ctx, nodes)
    clock.mark("network_created")
    _configure(ctx, image, nodes, subnet, access, clock.deadline)
    clock.mark("configured")
    _start(ctx, image, nodes, access)
    clock.mark("nodes_started")
    _wait_relays(ctx, nodes, clock)
    client = nodes[-1]
    ctx.runtime.start(client.container)
    wait(ctx, [client], lambda _, lines: last_bootstrap(lines) == 100, clock.deadline,
         "bootstrap", progress=(80, 99))
    clock.mark("client_bootstrapped")
    return _finish(ctx, client, clock.timings)


def _configure(ctx: NetContext, image: str, nodes: list[Node], subnet: str, access: Access,
               deadline: float) -> None:
    """The authorities' keys, then every node's torrc and the services' include, into the
    volumes (by task containers: the keys never leave them)."""
    auths = [n for n in nodes if n.role == "authority"]
    report(ctx, Stage.STARTING, f"Making keys for {len(auths)} directory authorities", 5)
    mounts = [Mount(n.volume, f"/nodes/{n.name}", volume=True) for n in nodes]
    status, output = ctx.runtime.run_task(
        image, ["bash", "-c", keygen_script(auths)], mounts, user="0:0",
        cap_add=["CHOWN"], timeout=max(10.0, deadline - time.monotonic()))
    if status != 0:
        raise TestnetError(f"Making the authority keys failed (exit status {status}).",
                           detail=tail(output.splitlines()))
    keys = parse_keygen_output(output, [n.name for n in auths])
    dirauths = dirauthority_lines(nodes, keys)
    files = node_files(nodes, dirauths, subnet, access)
    status, output = ctx.runtime.run_task(
        image, ["true"], [*mounts, Mount(ctx.include_volume, "/include", volume=True)],
        files=files, user=f"{UID}:{UID}", timeout=max(10.0, deadline - time.monotonic()))
    if status != 0:
        raise TestnetError("Writing the test network configuration failed.",
                           detail=tail(output.splitlines()))


def _start(ctx: NetContext, image: str, nodes: list[Node], access: Access) -> None:
    """Every node's container made; the authorities and relays started (the client waits
    for them), just after a vote of the authorities' clock."""
    authorities = sum(n.role == "authority" for n in nodes)
    relays = sum(n.role == "relay" for n in nodes)
    servers = [n for n in nodes if n.role != "client"]
    # In parallel: the engine takes ~0.2 s per create and start, the voting clock waits not.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: ctx.runtime.create(
            spec(ctx, n, image, authorities, relays, access)), nodes))
        # Not a guess but the authorities' clock: starting right before a vote gives a first
        # consensus without the relays, which costs a voting round (10 s) and leaves the
        # tors that bootstrapped on it failing their own circuits until the next vote.
        delay = start_delay(time.time())
        if delay:
            report(ctx, Stage.STARTING, f"Waiting {delay:.1f} s for the authorities' "
                   "voting clock", 12)
            time.sleep(delay)
        list(pool.map(lambda n: ctx.runtime.start(n.container), servers))


def _wait_relays(ctx: NetContext, nodes: list[Node], clock: Clock) -> None:
    """Wait for the first consensus, one that lists every relay, and every relay holding
    it with all microdescriptors."""
    auths = [n for n in nodes if n.role == "authority"]
    servers = [n for n in nodes if n.role != "client"]
    relays = len(servers) - len(auths)
    report(ctx, Stage.BOOTSTRAPPING,
           f"Started {len(auths)} authorities and {relays} relays; waiting for the "
           "first consensus (voting every 10 s)", 15)
    wait(ctx, auths, lambda _, lines: has_consensus(lines), clock.deadline,
         "publish a consensus", any_node=True)
    clock.mark("consensus")
    report(ctx, Stage.BOOTSTRAPPING, "The authorities published a consensus", 35)
    # The first consensus may miss relays whose descriptors came too late for its vote.
    want = len(servers)
    wait_full_consensus(ctx, auths, want, clock.deadline)
    clock.mark("full_consensus")
    report(ctx, Stage.BOOTSTRAPPING,
           f"The consensus lists all {want} relays and authorities", 50)
    # The client is started once every relay could hand it the whole directory: the full
    # consensus and every microdescriptor. Measured: a tor that bootstraps on less picks
    # its layer-2 vanguards from the few relays it knows and fails its circuits ("Failed to
    # find node for hop #2") until the next vote. Relays may stay at 95 % for that reason;
    # their own circuits do not matter for relaying.
    wait(ctx, servers, lambda node, lines: ready(ctx, node, lines, want), clock.deadline,
         "get the full consensus and every relay's microdescriptor",
         progress=(50, 80),
         nudge=lambda node, lines: node.role == "relay" and can_signal(lines))
    clock.mark("relays_ready")
    report(ctx, Stage.BOOTSTRAPPING, "Every relay has the consensus; starting the client", 80)


def _finish(ctx: NetContext, client: Node, timings: dict[str, float]) -> TestnetStatus:
    save_timings(ctx, ctx.runtime.get(client.container), timings)
    result = status(ctx)
    if not result.up:
        raise TestnetError("The test network started but does not look healthy.",
                           hint="Run `myonion testnet status` to see which node is not.")
    result.timings = dict(timings)
    where = f"; SOCKS at {result.socks[0]}:{result.socks[1]}" if result.socks else ""
    report(ctx, Stage.BOOTSTRAPPING,
           f"The test network is up after {timings['client_bootstrapped']:.1f} s{where}",
           100, data={"timings": dict(timings)})
    return result
