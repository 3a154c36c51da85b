"""The authorized clients of a service as the window shows them: name, key, and line.

Loaded on a worker thread (``load_clients``), because the manager reads the key files and asks
the runtime for the service's address.
"""

from __future__ import annotations

from dataclasses import dataclass

from myonion.errors import MyOnionError
from myonion.manager import Manager


@dataclass(frozen=True)
class ClientEntry:
    """One authorized client. ``key``/``line`` are None when they cannot be shown."""

    name: str
    added: float
    #: the 52-character base32 private key Tor Browser asks for (None: public key only here)
    key: str | None
    #: ``<address>:descriptor:x25519:<key>``, a ClientOnionAuthDir ``.auth_private`` line
    #: (None: public key only, or the service has no address right now)
    line: str | None

    @property
    def has_private(self) -> bool:
        return self.key is not None


def load_clients(manager: Manager, name: str) -> list[ClientEntry]:
    """Every client of service ``name``, with its private key and line when they are known."""
    entries = []
    for info in manager.clients(name):
        key = line = None
        if info.has_private:
            key = manager.client_key(name, info.name).private_b32()
            try:
                line = manager.client_line(name, info.name)
            except MyOnionError:
                line = None  # no address while it is stopped (ephemeral) or starting
        entries.append(ClientEntry(info.name, info.added, key, line))
    return entries


def load_client(manager: Manager, name: str, client: str) -> ClientEntry:
    """One client of service ``name`` (after it was added)."""
    for entry in load_clients(manager, name):
        if entry.name == client:
            return entry
    raise MyOnionError(f"Service '{name}' has no client named '{client}'.")
