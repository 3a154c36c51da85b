"""A persistent service survives a restart of the Docker engine at the same address.

Named to run after the other integration tests: it stops every container on the machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

ROOT = Path(__file__).resolve().parents[2]


def dockerd_pids() -> list[int]:
    out = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def restart_engine() -> float:
    """Stop the engine and start it again the way scripts/setup-host.sh does; seconds taken."""
    started = time.monotonic()
    if os.path.isdir("/run/systemd/system") and subprocess.run(
            ["systemctl", "is-active", "--quiet", "docker"]).returncode == 0:
        subprocess.run(["systemctl", "restart", "docker"], check=True)
        return time.monotonic() - started
    pids = dockerd_pids()
    assert pids, "no dockerd runs, yet the engine answered"
    for pid in pids:
        os.kill(pid, 15)
    deadline = time.monotonic() + 90
    while dockerd_pids():
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.5)
    # setup-host.sh starts it again; scripts/test.sh stops it at the end only if it had
    # started the one we stopped (its PID file names it), else it stays running as before
    env = dict(os.environ)
    pidfile = env.get("MYONION_DOCKERD_PIDFILE", "")
    if not (pidfile and os.path.exists(pidfile) and Path(pidfile).read_text().strip()):
        env.pop("MYONION_DOCKERD_PIDFILE", None)
    subprocess.run(["bash", str(ROOT / "scripts" / "setup-host.sh")], check=True,
                   capture_output=True, env=env)
    return time.monotonic() - started


def test_persistent_address_survives_an_engine_restart(real_manager: Manager,
                                                       docker_runtime: DockerRuntime,
                                                       site_dir: Path) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must run as root to restart the Docker engine")
        pytest.skip("restarting the Docker engine needs root")
    view = real_manager.share("site", {"dir": str(site_dir)}, name="enginesite",
                              persistent=True, timeout=120)
    address = view.address
    assert address
    took = restart_engine()
    print(f"engine restart: {took:.1f} s")
    # the engine brings the service back by itself (restart policy unless-stopped) ...
    deadline = time.monotonic() + 60
    while not ((info := docker_runtime.get(container_name("enginesite"))) and info.running):
        assert time.monotonic() < deadline, "the service did not come back with the engine"
        time.sleep(0.5)
    # ... the test network (no restart policy: it is ours to start) comes back with `up` ...
    real_manager.testnet.up()
    # ... and the same address serves the page again
    came_back = time.monotonic()
    deadline = time.monotonic() + 120
    while real_manager.status("enginesite").address != address:
        assert time.monotonic() < deadline, real_manager.status("enginesite")
        time.sleep(0.5)
    result = real_manager.check("enginesite", timeout=180)
    assert result.reachable, result.error
    print(f"engine restart: reachable again {time.monotonic() - came_back:.1f} s after the "
          "test network was up")
    body = fetch.http_get_retry(f"http://{address}/", real_manager.testnet.socks(), 60).body
    assert b"integration" in body
