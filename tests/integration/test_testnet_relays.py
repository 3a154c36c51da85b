"""A bigger named test network (more relays than the default 3) on a real Docker engine: it
comes up with every relay at its planned address, its consensus lists them all, a site shared
on it is fetched through its own client, and it is removed again. Its client keeps a copy of
the directory that a new service's tor starts from, instead of downloading its own (and that
no service can change).

A network of its own (NAME, unique per run), so the default one is never touched.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from myonion import testnet
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_ROLE
from myonion.runtime.docker import DockerRuntime
from myonion.services import keeper
from myonion.services.store import StateStore
from myonion.tor import directory, fetch
from tests.inside import SERVICE_UID, TOR_USER

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


#: what tor logs when it downloads the consensus itself (bootstrap phase 25)
ASKS_FOR_CONSENSUS = "Asking for networkstatus consensus"
COPY = f"/etc/tor/torrc.d/{directory.SUBDIR}"


def seed_files(runtime: DockerRuntime, net: testnet.Testnet) -> list[str]:
    code, out = runtime.exec(f"{net.prefix}client", [
        "ls", "-A", f"/include/{directory.SUBDIR}"], user=TOR_USER)
    assert code == 0, out
    return sorted(out.split())


def test_a_new_service_starts_from_the_directory_the_client_keeps(
        big: testnet.Testnet, docker_runtime: DockerRuntime, site_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the client copies the public documents only: no state, no keys of private services
    for _ in range(60):
        if "cached-microdesc-consensus" in seed_files(docker_runtime, big):
            break
        time.sleep(1)
    assert set(seed_files(docker_runtime, big)) <= set(directory.FILES)
    assert "cached-microdesc-consensus" in seed_files(docker_runtime, big)
    manager = Manager(runtime=docker_runtime, store=StateStore(), testnet=big)
    copied, fetched = f"{NAME}-copied", f"{NAME}-fetched"
    monkeypatch.delenv("MYONION_DIRECTORY_COPY", raising=False)  # the default: the copy
    try:
        view = manager.share("site", {"dir": str(site_dir)}, name=copied, timeout=120)
        assert view.stage == "reachable"  # proven through the network's client
        log = "\n".join(docker_runtime.logs(container_name(copied)))
        assert "Bootstrapped 100%" in log and ASKS_FOR_CONSENSUS not in log
        # the whole bigger directory, without asking for it
        code, out = docker_runtime.exec(container_name(copied), [
            "sh", "-c", "grep -c '^r ' /var/lib/tor/data/cached-microdesc-consensus"],
            user=TOR_USER)
        assert code == 0 and int(out.strip()) == 3 + RELAYS
        # nobody in a service's container can change what every new service reads
        for user in (TOR_USER, f"{SERVICE_UID}:{SERVICE_UID}", "0:0"):
            code, out = docker_runtime.exec(container_name(copied), [
                "sh", "-c", f"echo x > {COPY}/cached-microdesc-consensus"], user=user)
            assert code != 0 and "Read-only file system" in out, (user, out)
        # the same share with the copy turned off downloads the directory itself
        monkeypatch.setenv("MYONION_DIRECTORY_COPY", "0")
        manager.share("site", {"dir": str(site_dir)}, name=fetched, timeout=120)
        assert ASKS_FOR_CONSENSUS in "\n".join(docker_runtime.logs(container_name(fetched)))
    finally:
        for name in (copied, fetched):
            if manager.store.exists(name):
                manager.remove(name, purge=True)


def test_a_directory_keeper_of_the_network_is_what_new_services_start_from(
        big: testnet.Testnet, docker_runtime: DockerRuntime, site_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The public network's keeper, proven on this network: the same container, told only this
    network's authorities (its include); while it runs, new services start from its copy."""
    monkeypatch.delenv("MYONION_DIRECTORY_COPY", raising=False)
    kept = keeper.name(big)
    manager = Manager(runtime=docker_runtime, store=StateStore(), testnet=big)
    name = f"{NAME}-kept"
    assert keeper.seed_for(docker_runtime, "local", big) is None  # none runs yet
    try:
        assert keeper.ensure(docker_runtime, big) == kept
        for _ in range(120):
            if keeper.describe(docker_runtime, big).get("relays") == 3 + RELAYS:
                break
            time.sleep(1)
        found = keeper.describe(docker_runtime, big)
        assert found["state"] == "running" and found["relays"] == 3 + RELAYS, found
        # its copy holds public documents only; its state stays in its own volume
        code, out = docker_runtime.exec(kept, ["ls", "-A", f"{keeper.SEED_MOUNT}/"
                                               f"{directory.SUBDIR}"])
        assert code == 0 and set(out.split()) <= set(directory.FILES), out
        code, out = docker_runtime.exec(kept, ["ls", f"{keeper.DATA}/data"])
        assert code == 0 and "state" in out.split(), out
        # it listens on nothing (no SOCKS, no control port): no TCP socket in LISTEN state
        # but Docker's embedded DNS server (127.0.0.11, dockerd's, on a user-defined network)
        code, out = docker_runtime.exec(kept, ["sh", "-c", "cat /proc/net/tcp /proc/net/tcp6"])
        assert code == 0 and not [row for row in out.splitlines()[1:]
                                  if row.split()[3:4] == ["0A"]
                                  and not row.split()[1].startswith("0B00007F:")], out
        # a new service starts from the keeper's copy, not from the client's
        view = manager.share("site", {"dir": str(site_dir)}, name=name, timeout=120)
        assert view.stage == "reachable"
        code, out = docker_runtime.exec(container_name(name), [
            "sh", "-c", f"echo ${directory.ENVIRONMENT}; ls -A {keeper.SEED_TARGET}"],
            user=TOR_USER)
        assert out.split() == [f"{keeper.SEED_TARGET}/{directory.SUBDIR}", directory.SUBDIR]
        log = "\n".join(docker_runtime.logs(container_name(name)))
        assert "Bootstrapped 100%" in log and ASKS_FOR_CONSENSUS not in log
        for user in (TOR_USER, f"{SERVICE_UID}:{SERVICE_UID}", "0:0"):
            code, out = docker_runtime.exec(container_name(name), [
                "sh", "-c", f"echo x > {keeper.SEED_TARGET}/{directory.SUBDIR}/cached-certs"],
                user=user)
            assert code != 0 and "Read-only file system" in out, (user, out)
        # Docker keeps a volume a container mounts: the copy stays until the service goes
        assert keeper.remove(docker_runtime, big) == [kept]
        manager.remove(name, purge=True)
        assert keeper.remove(docker_runtime, big) == []
    finally:
        if manager.store.exists(name):
            manager.remove(name, purge=True)
        keeper.remove(docker_runtime, big)
    assert not set(docker_runtime.list_volumes({})) & {kept, keeper.data_volume(big)}
