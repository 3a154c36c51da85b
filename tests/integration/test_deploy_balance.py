"""A balanced service in a deployment file (`balance: {backends: 2}`) on the real engine and
the private Tor network: `up` makes two backends and an Onionbalance frontend, the master
address serves, `up` again changes nothing, the master key exports like any other key; one
backend stopped → the master address still serves a fresh client (timed); `up` brings the
backend back, and once the frontend republished it, it alone serves (the other stopped);
`down --purge` leaves nothing. Timings are printed (run with -s to see them)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from myonion import deploy, keys
from myonion.deploy import balance
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_DEPLOYMENT
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
from tests.balancing import fresh_get, utc_now, wait_listed

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

DEPLOYMENT = "swlbdep"
NAME = "swlb"
B1, B2 = f"{NAME}-b1", f"{NAME}-b2"


def write_file(folder: Path) -> Path:
    path = folder / "myonion.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: {DEPLOYMENT}
        services:
          {NAME}:
            template: site
            options:
              dir: ./site
            balance:
              backends: 2
            limits: {{memory: 96m, pids: 64}}
        """))
    return path


def test_a_balanced_service_of_a_deployment_file(real_manager: Manager,
                                                 docker_runtime: DockerRuntime,
                                                 site_dir: Path) -> None:
    path = write_file(site_dir.parent)
    net = real_manager.testnet
    expected = (site_dir / "index.html").read_text()
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        steps = deploy.up(real_manager, deploy.load(path), timeout=240)
        timings["up (2 backends + frontend, each serving)"] = time.monotonic() - started
        assert [(s.service, s.action) for s in steps] == [
            (B1, "create"), (B2, "create"), (NAME, "create")]
        master = real_manager.address(NAME)
        view = balance.status(real_manager, NAME)
        assert view.frontend.template == "onionbalance" and view.frontend.stage == "reachable"
        assert [b.name for b in view.backends] == [B1, B2]
        assert master not in [b.address for b in view.backends]
        code, output = docker_runtime.exec(container_name(B2), ["cat",
                                                                "/var/lib/tor/hs/ob_config"])
        assert code == 0 and output.strip() == f"MasterOnionAddress {master}"
        info = docker_runtime.get(container_name(B1))
        assert info is not None and info.labels[LABEL_DEPLOYMENT] == DEPLOYMENT

        # the master address serves, through the test network's client
        body = fetch.http_get_retry(f"http://{master}/", net.socks(), timeout=120).body
        assert body.decode() == expected
        # up again: nothing is re-created or restarted
        ids = {n: docker_runtime.get(container_name(n)).id  # type: ignore[union-attr]
               for n in (B1, B2, NAME)}
        assert [s.action for s in deploy.up(real_manager, deploy.load(path))] == \
            ["unchanged"] * 3
        assert {n: docker_runtime.get(container_name(n)).id  # type: ignore[union-attr]
                for n in (B1, B2, NAME)} == ids
        # ps: the backends belong to the balanced service
        rows = {r.service: r for r in deploy.ps(real_manager, path)}
        assert [(n, rows[n].backend_of, rows[n].view.state)  # type: ignore[union-attr]
                for n in (NAME, B1, B2)] == [(NAME, None, "running"), (B1, NAME, "running"),
                                             (B2, NAME, "running")]
        # the master key (with the frontend alone) exports like any other key
        exported = real_manager.export_key(NAME, "correct horse battery staple")
        assert keys.import_key(exported, "correct horse battery staple").address == master

        # backend 1 stopped: a fresh client (nothing cached) still gets the page
        stopped = time.monotonic()
        real_manager.stop(B1)
        body_text, boot, seconds, tries = fresh_get(docker_runtime, net, master)
        assert body_text == expected
        timings["b1 stopped -> page via a fresh client"] = time.monotonic() - stopped
        timings["  of which the fresh client's bootstrap"] = boot
        timings["  of which the fetch"] = seconds
        timings["  attempts (fresh clients)"] = tries

        # `up` brings backend 1 back (only it); once its new introduction points are in the
        # master descriptor, backend 2 is stopped and backend 1 alone serves
        since = utc_now()
        started = time.monotonic()
        steps = deploy.up(real_manager, deploy.load(path), timeout=180)
        assert [(s.service, s.action) for s in steps] == [
            (B1, "start"), (B2, "unchanged"), (NAME, "unchanged")]
        timings["up -> b1 back (serving itself)"] = time.monotonic() - started
        timings["b1 back -> its intro points republished"] = (
            wait_listed(real_manager, NAME, B1, since) + timings["up -> b1 back (serving itself)"])
        real_manager.stop(B2)
        body_text, boot, seconds, tries = fresh_get(docker_runtime, net, master)
        assert body_text == expected
        timings["b2 stopped -> page (b1 alone) via a fresh client"] = boot + seconds
        timings["  attempts (fresh clients)."] = tries
        steps = deploy.up(real_manager, deploy.load(path), timeout=180)
        assert [s.action for s in steps] == ["unchanged", "start", "unchanged"]
        assert all(b.state == "running" for b in balance.status(real_manager, NAME).backends)
    finally:
        for what, value in timings.items():
            print(f"deploy-balance: {what}: " + (f"{value:.0f}" if "attempts" in what
                                                  else f"{value:.1f} s"))
        deploy.down(real_manager, path, purge=True)
    assert docker_runtime.list_containers({LABEL_DEPLOYMENT: DEPLOYMENT}) == []
    for name in (NAME, B1, B2):
        assert docker_runtime.get(container_name(name)) is None
        assert real_manager.store.get(name) is None
        assert docker_runtime.list_volumes({"org.myonion.service": name}) == []
