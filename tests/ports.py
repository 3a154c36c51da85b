"""Host ports for tests: one free right now, never a fixed number another program may hold."""

from __future__ import annotations

import socket


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``address`` now (the kernel's pick for port 0)."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])
