"""Waiting for the nodes: polling their logs and directories until they are ready, nudging
relays that lag, and failing fast (with the log tail) when a node stops."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from myonion.errors import MyOnionError, TestnetError
from myonion.events import Stage
from myonion.runtime.base import ContainerInfo
from myonion.testnet.context import NetContext, report
from myonion.testnet.layout import Node
from myonion.testnet.logs import (
    CONSENSUS_FILE,
    DIRECTORY_COUNTS,
    ENOUGH_DIRINFO,
    last_bootstrap,
    parse_count,
    parse_counts,
    tail,
)
from myonion.testnet.nodes import logs, node_containers

log = logging.getLogger(__name__)

POLL = 0.25
#: a relay that lacks the full directory once it is out gets a SIGHUP this often: it resets
#: tor's download back-off, which otherwise delays it by up to a minute (measured)
NUDGE_EVERY = 3.0


class Clock:
    """One start's clock: its deadline, and the seconds from the start to each step done
    (its timings, which ``testnet status`` shows)."""

    def __init__(self, timeout: float) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + timeout
        self.timings: dict[str, float] = {}

    def mark(self, what: str) -> None:
        self.timings[what] = round(time.monotonic() - self.start, 3)


def wait(ctx: NetContext, nodes: list[Node], done: Callable[[Node, list[str]], bool],
         deadline: float, what: str, any_node: bool = False,
         progress: tuple[int, int] | None = None,
         nudge: Callable[[Node, list[str]], bool] | None = None) -> None:
    """Poll the nodes' logs until ``done`` holds for every node (or any, with
    ``any_node``); fail fast if one exits, with its log tail. Nodes for which ``nudge``
    (given the node and its log) is true get a SIGHUP at most every NUDGE_EVERY s."""
    pending = list(nodes)
    total = len(nodes)
    nudged: dict[str, float] = {}
    while True:
        states = {c.name: c for c in node_containers(ctx)}
        for node in list(pending):
            lines = logs(ctx, node.container)
            if done(node, lines):
                pending.remove(node)
                if any_node:
                    return
                if progress:
                    low, high = progress
                    report(ctx, Stage.BOOTSTRAPPING, f"{node.name} is ready",
                           low + (high - low) * (total - len(pending)) // total)
                continue
            info = states.get(node.container)
            if info is None or not info.running:
                raise TestnetError(
                    f"The test network node {node.name} stopped ({_state(info)}) before it "
                    f"could {what}.", hint=_failed_hint(info), detail=tail(lines))
            if nudge and nudge(node, lines) and time.monotonic() - nudged.get(
                    node.name, -NUDGE_EVERY) >= NUDGE_EVERY:
                nudged[node.name] = time.monotonic()
                with contextlib.suppress(MyOnionError):
                    ctx.runtime.kill(node.container, "SIGHUP")
        if not pending:
            return
        if time.monotonic() > deadline:
            node = pending[0]
            raise TestnetError(
                f"The test network node {node.name} did not {what} in time (last "
                f"bootstrap {last_bootstrap(logs(ctx, node.container))}%).",
                hint="Read its log below; a slow machine may need a longer --timeout.",
                detail=tail(logs(ctx, node.container)))
        time.sleep(POLL)


def wait_full_consensus(ctx: NetContext, auths: list[Node], want: int,
                        deadline: float) -> None:
    """Poll the authorities' published consensus until it lists ``want`` routers."""
    seen: int | None = None
    while True:
        states = {c.name: c for c in node_containers(ctx)}
        for node in auths:
            info = states.get(node.container)
            if info is None or not info.running:
                raise TestnetError(
                    f"The directory authority {node.name} stopped ({_state(info)}).",
                    hint=_failed_hint(info), detail=tail(logs(ctx, node.container)))
        for node in auths:
            count = consensus_size(ctx, node)
            if count is not None and count >= want:
                return
            if count is not None and count != seen:
                seen = count
                report(ctx, Stage.BOOTSTRAPPING, f"The consensus lists {count} of {want} "
                       "relays and authorities; waiting for the next vote", 40)
        if time.monotonic() > deadline:
            raise TestnetError(
                f"The test network's consensus did not list all {want} relays and "
                f"authorities in time (last seen: {seen}).",
                hint="Read the authority's log below; a slow machine may need a longer "
                "--timeout.", detail=tail(logs(ctx, auths[0].container)))
        time.sleep(POLL)


def ready(ctx: NetContext, node: Node, lines: list[str], want: int) -> bool:
    """An authority is ready at 100 %; a relay once it has a live consensus (75 %) and holds
    the full one with every microdescriptor: then it can hand a new client everything.
    (Its own circuits, 95 -> 100 %, may lag behind and do not matter for relaying.)"""
    percent = last_bootstrap(lines)
    if node.role == "authority":
        return percent == 100
    return (percent is not None and percent >= ENOUGH_DIRINFO
            and has_directory(ctx, node, want))


def has_directory(ctx: NetContext, node: Node, want: int) -> bool:
    """True if a relay holds a consensus listing ``want`` routers and a microdescriptor
    for each of them."""
    try:
        _, output = ctx.runtime.exec(node.container, ["bash", "-c", DIRECTORY_COUNTS])
    except Exception:  # the engine's error or the container went away: ask again later
        log.debug("could not read the directory of %s", node.name, exc_info=True)
        return False
    routers, descriptors = parse_counts(output)
    return routers is not None and descriptors is not None and min(
        routers, descriptors) >= want


def consensus_size(ctx: NetContext, node: Node) -> int | None:
    """How many routers the consensus an authority holds lists (None: none yet)."""
    try:
        _, output = ctx.runtime.exec(node.container, ["grep", "-c", "^r ", CONSENSUS_FILE])
    except Exception:  # the engine's error or the container went away: ask again later
        log.debug("could not read the consensus of %s", node.name, exc_info=True)
        return None
    return parse_count(output)


def _state(info: ContainerInfo | None) -> str:
    if info is None:
        return "its container is gone"
    return f"{info.status}, exit status {info.exit_code}"


def _failed_hint(info: ContainerInfo | None) -> str:
    if info is None:
        return ("Something removed it: is another program or user running `myonion testnet "
                "down` or `docker rm`? Then `myonion testnet up` again.")
    return "Read its log below; then `myonion testnet up` again."
