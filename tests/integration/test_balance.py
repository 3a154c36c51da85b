"""One onion address served by several backends (Onionbalance v3) on the real engine and the
private Tor network: the master address serves; with backend 1 stopped it still serves (to a
fresh client, which has no cached descriptor); backend 1 restarted is used again (proven with
backend 2 stopped). Timings are printed (run with -s to see them)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from myonion.deploy import balance
from myonion.errors import MyOnionError
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from tests.balancing import fresh_get, get, utc_now, wait_listed

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

NAME = "balsite"


def test_one_address_several_backends(real_manager: Manager, docker_runtime: DockerRuntime,
                                      site_dir: Path) -> None:
    net = real_manager.testnet
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        view = balance.share(real_manager, "site", {"dir": str(site_dir)}, name=NAME,
                             backends=2, timeout=240)
        timings["share (2 backends + frontend, reachable)"] = time.monotonic() - started
        master = view.address
        assert master and view.frontend.template == "onionbalance"
        assert view.frontend.stage == "reachable"
        b1, b2 = view.backends
        assert (b1.name, b2.name) == (f"{NAME}-b1", f"{NAME}-b2")
        assert master not in (b1.address, b2.address) and b1.address != b2.address
        assert all(b.state == "running" and b.listed for b in view.backends), view
        # each backend names the master in its ob_config and is an instance in its torrc
        code, output = docker_runtime.exec(container_name(b1.name),
                                           ["cat", "/var/lib/tor/hs/ob_config"])
        assert code == 0 and output.strip() == f"MasterOnionAddress {master}"

        # the master address serves the page through the test network's client
        assert "integration" in get(master, real_manager.testnet.socks())
        # the master key lives with the frontend alone, and backs up like any other key
        assert real_manager.read_key(NAME).address == master

        # the frontend restarted (same master key): the master address is reachable again
        real_manager.stop(NAME)
        restarted = time.monotonic()
        assert real_manager.start(NAME, timeout=180).stage == "reachable"
        timings["frontend restarted -> master reachable"] = time.monotonic() - restarted

        # backend 1 stopped: a fresh client (no cached descriptor) still gets the page
        stopped = time.monotonic()
        real_manager.stop(b1.name)
        body, boot, seconds, tries = fresh_get(docker_runtime, net, master)
        assert "integration" in body
        timings["b1 stopped -> page via a fresh client"] = time.monotonic() - stopped
        timings["  attempts (fresh clients)"] = tries
        timings["  of which the fresh client's bootstrap"] = boot
        timings["  of which the fetch"] = seconds
        after = balance.status(real_manager, NAME)
        print("balance: with b1 stopped, onionbalance lists "
              + ", ".join(f"{b.name}={'yes' if b.listed else 'no'}" for b in after.backends)
              + " (the HSDirs still hold b1's descriptor; clients skip its dead intro points)")

        # backend 1 back: new intro points; once the frontend republished them, stop backend 2
        # and prove backend 1 is used again
        since = utc_now()
        restarted = time.monotonic()
        real_manager.start(b1.name, timeout=120)
        timings["b1 restarted (reachable itself)"] = time.monotonic() - restarted
        timings["b1 restarted -> its new intro points republished"] = (
            wait_listed(real_manager, NAME, b1.name, since)
            + timings["b1 restarted (reachable itself)"])
        real_manager.stop(b2.name)
        try:
            body, boot, seconds, tries = fresh_get(docker_runtime, net, master)
        except MyOnionError:
            print(f"balance: failed; status {balance.status(real_manager, NAME).to_dict()}")
            print("\n".join(list(real_manager.logs(NAME))[-30:]))
            raise
        assert "integration" in body
        timings["b2 stopped -> page (served by b1 alone) via a fresh client"] = boot + seconds
        timings["  attempts (fresh clients)."] = tries
        real_manager.start(b2.name, timeout=120)
        final = balance.status(real_manager, NAME)
        assert all(b.state == "running" for b in final.backends)
    finally:
        for what, seconds in timings.items():
            print(f"balance: {what}: " + (f"{seconds:.0f}" if "attempts" in what
                                           else f"{seconds:.1f} s"))
        with contextlib.suppress(MyOnionError):
            balance.remove(real_manager, NAME)
    assert balance_left(docker_runtime) == []


def balance_left(runtime: DockerRuntime) -> list[str]:
    names = [container_name(n) for n in (NAME, f"{NAME}-b1", f"{NAME}-b2")]
    return [n for n in names if runtime.get(n) is not None]
