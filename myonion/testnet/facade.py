"""The test network as its callers see it (:class:`Testnet`): up, status, down, its SOCKS
port, and client keys for its client. Each method hands the work to the module named for the
job, with the network itself as the context (:class:`~myonion.testnet.context.NetContext`)."""

from __future__ import annotations

from myonion.errors import TestnetError
from myonion.events import Reporter, log_reporter
from myonion.runtime.base import Runtime
from myonion.testnet import clients, lifecycle
from myonion.testnet import status as _status
from myonion.testnet.access import outdated
from myonion.testnet.context import NetContext
from myonion.testnet.layout import NETWORK, check_sizes
from myonion.testnet.status import TestnetStatus


class Testnet(NetContext):
    """The private Tor network in containers, driven through a :class:`Runtime`."""

    __test__ = False  # not a pytest test class

    def __init__(self, runtime: Runtime, reporter: Reporter = log_reporter,
                 name: str = NETWORK, swarm: bool = False, relays: int = 3,
                 authorities: int = 3) -> None:
        """See :class:`NetContext`; ``relays`` and ``authorities``: the sizes :meth:`up`
        makes the network with when not told (e.g. a bigger named network for measurements,
        which services sharing on it bring up again as it was)."""
        check_sizes(authorities, relays)
        super().__init__(runtime, reporter, name, swarm)
        self.relays = relays
        self.authorities = authorities

    def up(self, relays: int | None = None, authorities: int | None = None,
           timeout: float = 240) -> TestnetStatus:
        """Start the network (with the sizes it was made for unless told otherwise) and wait
        until the client has bootstrapped; idempotent.

        On failure everything made is removed again and TestnetError carries the log tail
        of the node that failed.
        """
        return lifecycle.up(self, self.relays if relays is None else relays,
                            self.authorities if authorities is None else authorities,
                            timeout)

    def status(self) -> TestnetStatus:
        """The network as Docker and the node logs show it now (works from any process)."""
        return _status.status(self)

    def stopped_nodes(self) -> list[str]:
        """The nodes that do not run, each with why (:func:`~myonion.testnet.status.stopped`;
        a share that tor could not finish names them as its likely cause)."""
        return _status.stopped(self)

    def down(self) -> None:
        """Remove every test network container, network and volume (found by label)."""
        lifecycle.down(self)

    def socks(self) -> tuple[str, int]:
        """("127.0.0.1", port) of the client's SOCKS port; TestnetError if its client does not
        run. Only the client's container is looked at (every proof of every share asks, 20 at
        once when 20 are shared; :meth:`status` reads every node's whole log): whether the
        rest of the network works is what the proof through it shows."""
        client = self.runtime.get(f"{self.prefix}client")
        if _status.client_outdated(client):
            raise outdated()
        socks = _status.client_socks(client)
        if socks is None or not self.runtime.network_exists(self.network):
            raise TestnetError("The local Tor test network is not up.")
        return socks

    def is_up(self) -> bool:
        return self.status().up

    def authorize(self, key: str, auth_private_line: str) -> None:
        """Give the test network's client the key of a private onion service (the content of
        a ``.auth_private`` file), so it can reach it; ``key`` names the file (one per
        service). Tor reads its ClientOnionAuthDir again on SIGHUP."""
        clients.authorize(self, key, auth_private_line)

    def deauthorize(self, key: str) -> None:
        """Take a key given with :meth:`authorize` away again (nothing if there is none)."""
        clients.deauthorize(self, key)

    def forget_onions(self) -> bool:
        """Make the client forget what it knows of onion services, as a first-time visitor
        (see :func:`myonion.testnet.clients.forget`); False if it cannot be told."""
        return clients.forget(self)
