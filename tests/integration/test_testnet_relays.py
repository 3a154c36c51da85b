"""A bigger named test network (more relays than the default 3) on a real Docker engine: it
comes up with every relay at its planned address, its consensus lists them all, a site shared
on it is fetched through its own client, and it is removed again.

A network of its own (NAME, unique per run), so the default one is never touched.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from myonion import testnet
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_ROLE
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

RELAYS = 8
NAME = f"sm-it-relays-{os.getpid() % 100000}"


@pytest.fixture(scope="module")
def big(docker_runtime: DockerRuntime) -> Iterator[testnet.Testnet]:
    net = testnet.Testnet(docker_runtime, name=NAME, relays=RELAYS)
    try:
        net.up(timeout=400)
        yield net
    finally:
        net.down()
        left = [c.name for c in docker_runtime.list_containers({LABEL_ROLE: ""})
                if c.name.startswith(f"{NAME}-")]
        left += [n for n in docker_runtime.list_networks({LABEL_ROLE: testnet.ROLE_NETWORK})
                 if n == NAME or n.startswith(f"{NAME}-")]
        assert left == [], f"left behind: {left}"


def test_every_relay_is_up_at_its_planned_address(big: testnet.Testnet) -> None:
    st = big.status()
    assert st.up
    relays = [n for n in st.nodes if n.role == "relay"]
    assert len(relays) == RELAYS
    first = ipaddress.ip_address(relays[0].address or "")
    net = ipaddress.ip_network(f"{first}/24", strict=False)
    want = {n.name: n.address for n in testnet.plan(str(net), 3, RELAYS, f"{NAME}-")}
    assert {n.name: n.address for n in relays} == {n: want[n] for n in want
                                                   if n.startswith("relay")}


def test_a_site_on_it_is_served_through_the_onion(big: testnet.Testnet,
                                                  docker_runtime: DockerRuntime,
                                                  site_dir: Path) -> None:
    manager = Manager(runtime=docker_runtime, store=StateStore(), testnet=big)
    name = f"{NAME}-site"
    try:
        view = manager.share("site", {"dir": str(site_dir)}, name=name, timeout=120)
        assert view.address
        body = fetch.http_get(f"http://{view.address}/", big.socks()).body.decode()
        assert body == (site_dir / "index.html").read_text()
        # the service's tor knows the whole bigger directory: 3 authorities + RELAYS
        code, out = docker_runtime.exec(container_name(name), [
            "sh", "-c", "grep -c '^r ' /var/lib/tor/data/cached-microdesc-consensus"],
            user="10001:10001")
        assert code == 0 and int(out.strip()) == 3 + RELAYS
    finally:
        manager.remove(name, purge=True)
