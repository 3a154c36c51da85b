"""A "device on the LAN" for integration tests: a container of ours on the test network with
the mqtt-bridge image's clients (mosquitto_pub), removed afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from myonion import testnet
from myonion.build import images
from myonion.manager import Manager
from myonion.runtime.base import ContainerSpec
from myonion.runtime.docker import DockerRuntime


@contextlib.contextmanager
def lan_device(runtime: DockerRuntime, manager: Manager, name: str) -> Iterator[str]:
    """Start the device container ``name``; yields its name."""
    image = images.template_image(runtime, manager.template("mqtt-bridge"), lambda event: None)
    runtime.create(ContainerSpec(
        name=name, image=image, labels={"org.myonion.test": "lan-device"},
        entrypoint=["sleep", "infinity"], command=[], user="10001:10001",
        network=testnet.NETWORK, hostname=name))
    try:
        runtime.start(name)
        yield name
    finally:
        runtime.remove(name)
