"""User settings: which Tor network new services use, and where the public-network SOCKS is.

``MYONION_NETWORK`` pins the network: with ``local`` (lab and CI machines) asking for the public
``tor`` network is refused, so a mistake can never start a tor that talks to the public network.
"""

from __future__ import annotations

import os

from myonion.errors import OptionError

NETWORKS = ("tor", "local")


def pinned_network() -> str | None:
    """The network fixed by the environment, if any."""
    value = os.environ.get("MYONION_NETWORK", "").strip()
    if value and value not in NETWORKS:
        raise OptionError(f"MYONION_NETWORK is '{value}', which is not a network.",
                          hint="Set it to 'tor' or 'local', or unset it.")
    return value or None


def resolve_network(requested: str | None) -> str:
    """The network a new service uses: the request, checked against the pin; default ``tor``."""
    pinned = pinned_network()
    if requested is not None and requested not in NETWORKS:
        raise OptionError(f"'{requested}' is not a network.", hint="Use --network tor or local.")
    if pinned == "local" and requested == "tor":
        raise OptionError(
            "This environment pins the local test network (MYONION_NETWORK=local); "
            "a service on the public Tor network is refused.",
            hint="Use --network local, or unset MYONION_NETWORK on a machine that may use Tor.",
        )
    return requested or pinned or "tor"


def public_socks() -> tuple[str, int]:
    """The SOCKS port of the user's own tor client, for checks on the public network."""
    value = os.environ.get("MYONION_TOR_SOCKS", "127.0.0.1:9050")
    host, _, port = value.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise OptionError(f"MYONION_TOR_SOCKS '{value}' is not HOST:PORT.") from None
