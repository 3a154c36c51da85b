"""Backends on two machines, simulated by two myonion homes on this one engine and test network
(what several Pis do, each with its own myonion): node A runs the frontend and one backend
(`balance: {backends: 1, remote: [X]}`), node B one backend of A's master address
(`balance: {master: M}`), each with its own tor and key, and a page of its own. The master
address serves; with node A's backend stopped, a fresh client gets node B's page through the
master address (timed). What one machine cannot show: separate hardware, power and uplinks."""

from __future__ import annotations

import contextlib
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from myonion import deploy
from myonion.deploy import balance
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.tor import fetch
from tests.balancing import fresh_get

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

NAME = "swnode"
REMOTE = "swnodeb"


@contextlib.contextmanager
def home(path: Path) -> Iterator[None]:
    """Run as the myonion of another machine: its own home (records, keys, labels)."""
    before = os.environ["MYONION_HOME"]
    os.environ["MYONION_HOME"] = str(path)
    try:
        yield
    finally:
        os.environ["MYONION_HOME"] = before


def node_file(folder: Path, name: str, page: str, balance_text: str) -> Path:
    (folder / "site").mkdir(parents=True, exist_ok=True)
    (folder / "site" / "index.html").write_text(page)
    os.chmod(folder, 0o755)
    os.chmod(folder / "site", 0o755)
    path = folder / "myonion.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: {name}
        services:
          {name}:
            template: site
            options: {{dir: ./site}}
            balance: {balance_text}
        """))
    return path


def test_backends_on_two_nodes(real_manager: Manager, docker_runtime: DockerRuntime,
                               tmp_path: Path) -> None:
    net = real_manager.testnet
    node_a = node_file(tmp_path / "a", NAME, "<p>node A</p>\n", "{backends: 1}")
    b_home = tmp_path / "b-home"
    with home(b_home):
        node_b = Manager(runtime=docker_runtime, store=StateStore(), testnet=net)
    timings: dict[str, float] = {}
    try:
        # node A: the frontend (the master key) and one backend
        started = time.monotonic()
        deploy.up(real_manager, deploy.load(node_a), timeout=240)
        master = real_manager.address(NAME)
        timings["node A up (backend + frontend)"] = time.monotonic() - started
        # node B: a backend of A's master address, with its own tor and key
        b_file = node_file(tmp_path / "b", REMOTE, "<p>node B</p>\n",
                           f"{{master: {master}}}")
        started = time.monotonic()
        with home(b_home):
            steps = deploy.up(node_b, deploy.load(b_file), timeout=180)
            assert [(s.service, s.action) for s in steps] == [(REMOTE, "create")]
            b_address = node_b.address(REMOTE)
            record = node_b.store.get(REMOTE)
            assert record is not None and record.balance_master == master
        timings["node B up (its backend)"] = time.monotonic() - started
        assert real_manager.store.get(REMOTE) is None  # node A knows it by address only
        # node A lists node B's backend: the frontend is re-created with the same master key
        node_file(tmp_path / "a", NAME, "<p>node A</p>\n",
                  f"{{backends: 1, remote: [{b_address}]}}")
        started = time.monotonic()
        steps = deploy.up(real_manager, deploy.load(node_a), timeout=240)
        assert [(s.service, s.action) for s in steps] == [(f"{NAME}-b1", "unchanged"),
                                                         (NAME, "recreate")]
        assert real_manager.address(NAME) == master
        timings["node A re-made its frontend (same master key)"] = time.monotonic() - started
        deadline = time.monotonic() + 120
        while True:
            view = balance.status(real_manager, NAME)
            states = {b.address: (b.name, b.listed) for b in view.backends}
            if all(listed for _, listed in states.values()) and len(states) == 2:
                break
            assert time.monotonic() < deadline, view
            time.sleep(2)
        assert states[b_address] == (balance.REMOTE, True)
        timings["  -> both backends listed by the frontend"] = time.monotonic() - started
        body = fetch.http_get_retry(f"http://{master}/", net.socks(), timeout=120).body
        assert body.decode() in ("<p>node A</p>\n", "<p>node B</p>\n")

        # node A's backend stopped ("node A's backend lost"): node B serves the master address
        stopped = time.monotonic()
        real_manager.stop(f"{NAME}-b1")
        page, boot, seconds, tries = fresh_get(docker_runtime, net, master)
        assert page == "<p>node B</p>\n"
        timings["A's backend stopped -> node B's page via a fresh client"] = (
            time.monotonic() - stopped)
        timings["  of which the fresh client's bootstrap"] = boot
        timings["  of which the fetch"] = seconds
        timings["  attempts (fresh clients)"] = tries
    finally:
        for what, value in timings.items():
            print(f"balance-nodes: {what}: " + (f"{value:.0f}" if "attempts" in what
                                                 else f"{value:.1f} s"))
        with home(b_home), contextlib.suppress(Exception):
            deploy.down(node_b, tmp_path / "b" / "myonion.yaml", purge=True)
        deploy.down(real_manager, node_a, purge=True)
    for name in (NAME, f"{NAME}-b1", REMOTE):
        assert docker_runtime.get(container_name(name)) is None
        assert docker_runtime.list_volumes({"org.myonion.service": name}) == []
