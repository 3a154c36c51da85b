"""What the test network's steps share: which network they work on (its names on the engine,
the labels that mark what is its own), the runtime and the reporter, in one small object
(:class:`NetContext`). :class:`~myonion.testnet.facade.Testnet` is one; the steps get it as a
context and cannot call back into the facade."""

from __future__ import annotations

import re

from myonion.errors import TestnetError
from myonion.events import Event, Reporter, Stage, log_reporter
from myonion.runtime.base import LABEL, LABEL_NETWORK, LABEL_ROLE, ContainerInfo, Runtime
from myonion.testnet.layout import NETWORK, PREFIX

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
#: on the client: the subnet of the access bridge whose gateway alone its SOCKS port answers.
#: A client without it was made by an older myonion and answers every container.
LABEL_ACCESS = f"{LABEL}.testnet.access"


class NetContext:
    """One test network on one engine: its names, the runtime and the reporter."""

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
        #: (container id, started at) → (bootstrap %, published a consensus) of the nodes
        #: whose log showed them done: tor does not go back within one run of its container,
        #: so their (ever longer) logs are not read again (see :func:`status.status`)
        self.settled: dict[tuple[str, str], tuple[int | None, bool]] = {}


def labels(ctx: NetContext, role: str) -> dict[str, str]:
    """The labels of one of the network's objects in ``role``."""
    return {LABEL_ROLE: role, LABEL_NETWORK: "local", LABEL_INSTANCE: ctx.name}


def owns(ctx: NetContext, name: str) -> bool:
    """True if a Docker object of this name belongs to this test network."""
    return name == ctx.network or name.startswith(ctx.prefix)


def mine(ctx: NetContext, names: list[str]) -> list[str]:
    return [n for n in names if owns(ctx, n)]


def role_of(info: ContainerInfo) -> str | None:
    """A node container's role (authority, relay, client), or None for any other container."""
    role = info.labels.get(LABEL_ROLE, "")
    if role.startswith(ROLE_PREFIX + "-") and role[len(ROLE_PREFIX) + 1:] in ROLES:
        return role[len(ROLE_PREFIX) + 1:]
    return None


def report(ctx: NetContext, stage: Stage, message: str, percent: int | None,
           data: dict[str, object] | None = None) -> None:
    ctx.reporter(Event(stage, message, percent=percent, service="testnet", data=data or {}))
