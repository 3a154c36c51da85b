"""Talking to tor: its control socket (:mod:`.control`, the only module that imports stem) and
clients that reach onions through a SOCKS port (:mod:`.fetch`, :mod:`.probes`).

The control module's names are this package's, so ``tor.wait_published`` reads as before.
"""

from myonion.tor.control import (
    BOOTSTRAP_RE,
    ONION_RE,
    Readiness,
    bootstrap_percent,
    connect,
    is_valid_onion,
    onion_from_public_key,
    wait_for_socket,
    wait_published,
)

__all__ = [
    "BOOTSTRAP_RE",
    "ONION_RE",
    "Readiness",
    "bootstrap_percent",
    "connect",
    "is_valid_onion",
    "onion_from_public_key",
    "wait_for_socket",
    "wait_published",
]
