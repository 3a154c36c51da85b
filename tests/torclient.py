"""A fresh tor client on the private test network, for integration tests that need a visitor
with nothing cached (and, if given, client-authorization keys)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import NamedTuple

from myonion import images
from myonion.runtime.base import ContainerSpec, Mount
from myonion.runtime.docker import DockerRuntime
from myonion.testnet import Testnet


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
               "--SocksPort", "0.0.0.0:9050", "--ClientOnionAuthDir", "/var/lib/tor/auth",
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
