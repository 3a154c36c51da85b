"""The test network as Docker and the node logs show it now (:func:`status`: works from any
process), and the timings of its last start, kept beside it for ``testnet status``."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from myonion import paths
from myonion.runtime.base import ContainerInfo
from myonion.testnet.context import (
    LABEL_ACCESS,
    LABEL_AUTHORITIES,
    LABEL_NODE,
    LABEL_RELAYS,
    ROLES,
    NetContext,
    role_of,
)
from myonion.testnet.layout import SOCKS_KEY
from myonion.testnet.logs import has_consensus, last_bootstrap
from myonion.testnet.nodes import logs, node_containers


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
    #: made by an older myonion: its client answers SOCKS from every container on the test
    #: network, so it does not count as up until `testnet up` has closed that
    outdated: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["socks"] = list(self.socks) if self.socks else None
        return data


def status(ctx: NetContext) -> TestnetStatus:
    """The network as Docker and the node logs show it now (works from any process)."""
    nodes: list[NodeStatus] = []
    consensus = False
    client: ContainerInfo | None = None
    infos = sorted(node_containers(ctx), key=lambda c: (
        ROLES.index(role_of(c) or "client"), _node_index(c.labels.get(LABEL_NODE, ""))))
    for info in infos:
        role = role_of(info) or "client"
        percent, published = _progress(ctx, info, role)
        if published:
            consensus = True
        if role != "authority" and percent == 100:
            consensus = True  # a relay or client with 100 % has a consensus
        if role == "client":
            client = info
        nodes.append(NodeStatus(
            name=_node_name(ctx, info),
            role=role, state=info.status, bootstrap=percent,
            address=info.ip_addresses.get(ctx.network) or None))
    socks = client_socks(client)
    client_boot = any(n.role == "client" and n.bootstrap == 100 and n.state == "running"
                      for n in nodes)
    up = bool(nodes) and client_boot and socks is not None and all(
        n.state == "running" for n in nodes) and _complete(infos, client)
    outdated = client_outdated(client)
    up = up and not outdated and ctx.runtime.network_exists(ctx.network)
    timings = saved_timings(ctx, client)
    return TestnetStatus(up=up, socks=socks if up else None, nodes=nodes,
                         consensus=consensus, client_bootstrapped=client_boot,
                         timings=dict(timings) if up else {}, outdated=outdated)


def stopped(ctx: NetContext) -> list[str]:
    """The nodes that do not run, each named with why, as the engine tells it (e.g. ``auth1
    (the engine killed it at its memory limit)``); reads no log."""
    found = []
    for info in sorted(node_containers(ctx), key=lambda c: c.name):
        if info.running:
            continue
        if info.oom_killed:
            why = "the engine killed it at its memory limit"
        elif info.status == "exited":
            why = f"it exited with code {info.exit_code}"
        else:
            why = f"it is {info.status}"
        found.append(f"{_node_name(ctx, info)} ({why})")
    return found


def _node_name(ctx: NetContext, info: ContainerInfo) -> str:
    """A node's name (auth1, relay2, client) from its container."""
    return info.labels.get(LABEL_NODE, info.name.removeprefix(ctx.prefix))


def client_socks(client: ContainerInfo | None) -> tuple[str, int] | None:
    """("127.0.0.1", port): the SOCKS port published by the client's container, if it runs."""
    if client is None or not client.running or SOCKS_KEY not in client.ports:
        return None
    host, port = client.ports[SOCKS_KEY]
    return host or "127.0.0.1", port


def client_outdated(client: ContainerInfo | None) -> bool:
    """Whether the client's container was made by an older myonion (its SOCKS port answers
    every container: see :mod:`myonion.testnet.access`)."""
    return client is not None and LABEL_ACCESS not in client.labels


def _progress(ctx: NetContext, info: ContainerInfo, role: str) -> tuple[int | None, bool]:
    """A node's last bootstrap percentage and (an authority) whether it published a
    consensus, from its log, or as :attr:`NetContext.settled` remembers it."""
    key = (info.id, info.started_at)
    if key in ctx.settled:
        return ctx.settled[key]
    lines = logs(ctx, info.name)
    found = last_bootstrap(lines), role == "authority" and has_consensus(lines)
    if info.running and found[0] == 100 and (role != "authority" or found[1]):
        ctx.settled[key] = found
    return found


def sizes(st: TestnetStatus) -> tuple[int, int]:
    """(authorities, relays) of a network as its status shows it."""
    roles = [n.role for n in st.nodes]
    return roles.count("authority"), roles.count("relay")


def _complete(infos: list[ContainerInfo], client: ContainerInfo | None) -> bool:
    """True if every node the network was made with is there."""
    if client is None:
        return False
    try:
        want_auth = int(client.labels.get(LABEL_AUTHORITIES, "-1"))
        want_relay = int(client.labels.get(LABEL_RELAYS, "-1"))
    except ValueError:
        return False
    roles = [role_of(c) for c in infos]
    return roles.count("authority") == want_auth and roles.count("relay") == want_relay


def _node_index(name: str) -> int:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


def timings_file(ctx: NetContext) -> Path:
    return paths.testnet_dir() / f"{ctx.name}.timings.json"


def save_timings(ctx: NetContext, client: ContainerInfo | None,
                 timings: dict[str, float]) -> None:
    """Keep how long the start took, for the client container it made."""
    if client is None:
        return
    path = timings_file(ctx)
    with contextlib.suppress(OSError):
        path.write_text(json.dumps({"client": client.id, "timings": timings}))


def saved_timings(ctx: NetContext, client: ContainerInfo | None) -> dict[str, float]:
    """The timings kept for this client container (none for another one)."""
    if client is None:
        return {}
    try:
        data = json.loads(timings_file(ctx).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("client") != client.id:
        return {}
    timings = data.get("timings")
    return {str(k): float(v) for k, v in timings.items()} if isinstance(timings, dict) else {}
