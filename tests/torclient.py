"""A fresh tor client on the private test network, for integration tests that need a visitor
with nothing cached (and, if given, client-authorization keys), and :func:`refused`: tor's own
answer that a client's key is missing or wrong.

The fresh client's SocksPort has tor's ``ExtendedErrors`` flag, so a failed onion connection
says why (proposal 304, tor's manual under SocksPort): X'F0' descriptor not found, X'F2'
introduction failed, X'F3' rendezvous failed, X'F4' client authorization missing, X'F5' client
authorization wrong, X'F7' introduction timed out. Without the flag every one of them is the
plain "host unreachable" (4), and a test that a key is refused could not tell a refusal from a
service that is simply down.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Iterator
from typing import NamedTuple

from myonion.build import images
from myonion.runtime.base import ContainerSpec, Mount
from myonion.runtime.docker import DockerRuntime
from myonion.testnet import Testnet
from myonion.tor import fetch

#: tor's SOCKS5 replies (ExtendedErrors) for a private onion service and a client without the
#: key it needs, and with a key the service does not accept (e.g. revoked)
MISSING_KEY = 0xF4
WRONG_KEY = 0xF5


class FreshClient(NamedTuple):
    socks: tuple[str, int]  # its SOCKS port, published on 127.0.0.1
    container: str


@contextlib.contextmanager
def fresh_client(runtime: DockerRuntime, net: Testnet,
                 auth_lines: dict[str, str] | None = None) -> Iterator[FreshClient]:
    """A new tor client on the test network, with nothing cached and only the client keys
    given (name -> .auth_private line); removed again afterwards."""
    name = f"myonion-test-client-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    command = ["tor", "-f", "/etc/tor/torrc.d/testnet.conf", "--DataDirectory", "/var/lib/tor",
               "--SocksPort", "0.0.0.0:9050 ExtendedErrors",
               "--ClientOnionAuthDir", "/var/lib/tor/auth",
               "--Log", "notice stderr"]
    runtime.create(ContainerSpec(
        name=name, image=images.tor_image(runtime), labels={"org.myonion.test": "client"},
        entrypoint=["/usr/bin/tini", "--"], command=command, user="10001:10001",
        mounts=[Mount(net.include_volume, "/etc/tor/torrc.d", read_only=True, volume=True)],
        network=net.network, extra_networks=[net.access_network],
        ports={"9050/tcp": ("127.0.0.1", 0)}, hostname="testclient", read_only=False))
    try:
        files = {"/var/lib/tor/auth/": (b"", 0o700)}
        for client, line in (auth_lines or {}).items():
            files[f"/var/lib/tor/auth/{client}.auth_private"] = (line.encode() + b"\n", 0o600)
        runtime.put_files(name, files, "10001:10001")
        runtime.start(name)
        deadline = time.monotonic() + 90
        while not any("Bootstrapped 100%" in line for line in runtime.logs(name)):
            info = runtime.get(name)
            assert info is not None and info.running, "\n".join(runtime.logs(name))
            assert time.monotonic() < deadline, "\n".join(runtime.logs(name))
            time.sleep(0.5)
        info = runtime.get(name)
        assert info is not None
        host, port = info.ports["9050/tcp"]
        yield FreshClient((host or "127.0.0.1", port), name)
    finally:
        runtime.remove(name)


def refused(address: str, proxy: tuple[str, int], expected: int, seconds: float = 45) -> int:
    """Connect to ``address`` port 80 through ``proxy`` (a SocksPort with ExtendedErrors) until
    tor answers ``expected`` (:data:`MISSING_KEY` or :data:`WRONG_KEY`), and return it.

    Fails the test if the connection is accepted, or if for ``seconds`` tor answers only other
    things (another code, no answer at all): a service that is down, a rendezvous that hangs or
    a descriptor not found is no proof that a key was refused. Other answers are retried (a
    fresh client in a tiny network may not find the descriptor at once).
    """
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        try:
            sock = fetch.socks_connect(proxy, address, 80, timeout=max(1.0, left))
        except fetch.SocksError as e:
            if e.code == expected:
                return e.code
            seen.append(f"{e.code:#04x}")
        except fetch.FetchError as e:
            seen.append(e.message)
        else:
            sock.close()
            raise AssertionError(f"{address} accepted a connection from a client whose key "
                                 f"it should refuse (tor should have said {expected:#04x})")
        if time.monotonic() + 0.5 > deadline:
            said = ", ".join(f"{what} ({n}x)" for what, n in collections.Counter(seen).items())
            raise AssertionError(f"tor never said {expected:#04x} for {address} in "
                                 f"{seconds:.0f} s; it said: {said}")
        time.sleep(0.5)
