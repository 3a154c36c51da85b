"""The private Tor network for ``local`` mode: directory authorities, relays and a client in
containers on one internal Docker network, never connected to the public Tor network.

Every tor started here has ``TestingTorNetwork 1`` and only our own ``DirAuthority`` lines,
generated when :meth:`Testnet.up` makes the network (on a free subnet, so they are rendered
then, never shipped); a network whose volumes survive is started again with the same keys.
Nodes live on :data:`NETWORK` with fixed addresses; it is ``internal`` and its
bridge has no IPv4 address, so containers on it reach each other and nothing else (not even
this machine). The client is also on a second bridge, :data:`ACCESS_NETWORK` (no IP
masquerade, a subnet of ours), so its SOCKS port can be published on 127.0.0.1; it answers
that port's connections only (:mod:`myonion.testnet.access`). Local-mode services join
:data:`NETWORK` and mount :data:`INCLUDE_VOLUME` (``testnet.conf``, and the copy of the
directory the client keeps in ``directory/``) read-only at
``/etc/tor/torrc.d``.

From a service's side (measured from a container as uid 10001 with no capabilities): the
authorities answer on ``ORPort`` 5000 and ``DirPort`` 7000, the relays on ``ORPort`` 5000, the
client nowhere on the test network (its SOCKS port is on the access bridge, and refuses every
address there but the gateway's). No node has a ``MetricsPort``, and only the client a
``ControlPort``: on the loopback of its own container, with tor's cookie, so that only
``docker exec`` reaches it (:meth:`Testnet.forget_onions`). What a
service can fetch or do on those ports, any tor client can, but one thing: the authorities
list every relay that uploads a descriptor (``AssumeReachable``, ``TestingDirAuthVote*``), so a
tor in a service container can join as a relay and is a Guard and HSDir at the next vote (10 s)
— where the public network takes days. docs/SECURITY.md has the rest.

Readiness is read from the node logs ("Bootstrapped NN%"), so :meth:`Testnet.status` works
from any process. One module a job; the pure ones are unit-tested without Docker:

- :mod:`~myonion.testnet.layout` (pure): names, ports, fixed addresses, paths in a node, the
  voting clock; which nodes a network has and where (:func:`plan`).
- :mod:`~myonion.testnet.access` (pure): who may use the client's SOCKS port (the access bridge).
- :mod:`~myonion.testnet.authority_keys` (pure): the script making the authorities' keys, and
  reading what it prints.
- :mod:`~myonion.testnet.render` (pure): every node's torrc, the services' include.
- :mod:`~myonion.testnet.logs` (pure): what a node's log and directory say.
- :mod:`~myonion.testnet.context`: one network's names and labels, its runtime and reporter.
- :mod:`~myonion.testnet.nodes`: its networks, volumes and node containers on the engine.
- :mod:`~myonion.testnet.waiting`: polling the nodes until they are ready.
- :mod:`~myonion.testnet.status`: the network as it is now, and its last start's timings.
- :mod:`~myonion.testnet.make`: a network made afresh, step by step;
  :mod:`~myonion.testnet.resume`: a kept one brought back;
  :mod:`~myonion.testnet.lifecycle`: up and down, one at a time on this machine.
- :mod:`~myonion.testnet.clients`: client keys of private services for the client.
- :mod:`~myonion.testnet.facade`: :class:`Testnet`, what callers use.

Their public names are importable from ``myonion.testnet`` itself.
"""

from __future__ import annotations

from myonion.testnet.access import (
    SOCKS_PORT,
    Access,
    access_of,
    access_plan,
    outdated,
    socks_lines,
)
from myonion.testnet.authority_keys import (
    FINGERPRINT_LINE_RE,
    SECTION,
    V3IDENT_RE,
    AuthorityKeys,
    keygen_script,
    parse_fingerprint,
    parse_keygen_output,
    parse_v3ident,
)
from myonion.testnet.context import (
    LABEL_ACCESS,
    LABEL_AUTHORITIES,
    LABEL_INSTANCE,
    LABEL_NODE,
    LABEL_RELAYS,
    NAME_RE,
    ROLE_NETWORK,
    ROLE_PREFIX,
    ROLE_VOLUME,
    ROLES,
)
from myonion.testnet.facade import (
    Testnet,
)
from myonion.testnet.layout import (
    ACCESS_NETWORK,
    ANY_SUBNET,
    AUTHORITY_HOST,
    CLIENT_CONTROL_PORT,
    DATA_DIR,
    DESCRIPTOR_LEAD,
    DIR_PORT,
    DIST_DELAY,
    EMPTY_GEOIP,
    HIGH_RELAYS,
    INCLUDE_FILE,
    INCLUDE_VOLUME,
    LAST_HOST,
    LOW_HOST,
    MAX_AUTHORITIES,
    MAX_RELAYS,
    NETWORK,
    ONION_AUTH_DIR,
    OR_PORT,
    PREFIX,
    RELAY_HOST,
    RESOLV_CONF,
    SOCKS_KEY,
    SUBNET_POOL,
    TORRC,
    UID,
    VOTE_DELAY,
    VOTING_INTERVAL,
    Node,
    check_sizes,
    lowest_host,
    pick_subnet,
    plan,
    relay_host,
    start_delay,
)
from myonion.testnet.lifecycle import (
    LOCK_DIR,
)
from myonion.testnet.logs import (
    BOOTSTRAP_RE,
    CONSENSUS_FILE,
    CONSENSUS_RE,
    DIRECTORY_COUNTS,
    ENOUGH_DIRINFO,
    LOG_TAIL,
    can_signal,
    has_consensus,
    last_bootstrap,
    parse_count,
    parse_counts,
)
from myonion.testnet.nodes import (
    NODE_MEMORY,
    NODE_PIDS,
)
from myonion.testnet.render import (
    dirauthority_line,
    dirauthority_lines,
    node_files,
    render_include,
    render_torrc,
)
from myonion.testnet.status import (
    NodeStatus,
    TestnetStatus,
)
from myonion.testnet.waiting import (
    NUDGE_EVERY,
    POLL,
)

__all__ = [
    "ACCESS_NETWORK",
    "ANY_SUBNET",
    "AUTHORITY_HOST",
    "BOOTSTRAP_RE",
    "CLIENT_CONTROL_PORT",
    "CONSENSUS_FILE",
    "CONSENSUS_RE",
    "DATA_DIR",
    "DESCRIPTOR_LEAD",
    "DIRECTORY_COUNTS",
    "DIR_PORT",
    "DIST_DELAY",
    "EMPTY_GEOIP",
    "ENOUGH_DIRINFO",
    "FINGERPRINT_LINE_RE",
    "HIGH_RELAYS",
    "INCLUDE_FILE",
    "INCLUDE_VOLUME",
    "LABEL_ACCESS",
    "LABEL_AUTHORITIES",
    "LABEL_INSTANCE",
    "LABEL_NODE",
    "LABEL_RELAYS",
    "LAST_HOST",
    "LOCK_DIR",
    "LOG_TAIL",
    "LOW_HOST",
    "MAX_AUTHORITIES",
    "MAX_RELAYS",
    "NAME_RE",
    "NETWORK",
    "NODE_MEMORY",
    "NODE_PIDS",
    "NUDGE_EVERY",
    "ONION_AUTH_DIR",
    "OR_PORT",
    "POLL",
    "PREFIX",
    "RELAY_HOST",
    "RESOLV_CONF",
    "ROLES",
    "ROLE_NETWORK",
    "ROLE_PREFIX",
    "ROLE_VOLUME",
    "SECTION",
    "SOCKS_KEY",
    "SOCKS_PORT",
    "SUBNET_POOL",
    "TORRC",
    "UID",
    "V3IDENT_RE",
    "VOTE_DELAY",
    "VOTING_INTERVAL",
    "Access",
    "AuthorityKeys",
    "Node",
    "NodeStatus",
    "Testnet",
    "TestnetStatus",
    "access_of",
    "access_plan",
    "can_signal",
    "check_sizes",
    "dirauthority_line",
    "dirauthority_lines",
    "has_consensus",
    "keygen_script",
    "last_bootstrap",
    "lowest_host",
    "node_files",
    "outdated",
    "parse_count",
    "parse_counts",
    "parse_fingerprint",
    "parse_keygen_output",
    "parse_v3ident",
    "pick_subnet",
    "plan",
    "relay_host",
    "render_include",
    "render_torrc",
    "socks_lines",
    "start_delay",
]
