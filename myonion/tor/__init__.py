"""Talking to tor: its control socket (:mod:`.control`, the only module that imports stem) and
clients that reach onions through a SOCKS port (:mod:`.fetch`, :mod:`.probes`). Onion
addresses are :mod:`myonion.onion`'s.

The control module's names are this package's, so ``tor.wait_published`` reads as before.
"""

from myonion.tor.control import (
    BOOTSTRAP_RE,
    Readiness,
    bootstrap_percent,
    connect,
    wait_for_socket,
    wait_published,
)

__all__ = [
    "BOOTSTRAP_RE",
    "Readiness",
    "bootstrap_percent",
    "connect",
    "wait_for_socket",
    "wait_published",
]
