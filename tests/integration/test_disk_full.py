"""A disk that fills up during a build: a real second Docker engine whose data root is a small
tmpfs, a user's template whose build writes more than fits, and ``myonion share`` through the
real CLI. Expected: one clear message that says the disk is full and what to do, exit status 1,
no service record, no container and no half-built image left, the disk as full as before; and
once there is room, the same template builds.

The second engine has a bridge of its own (made here, on a subnet nothing else uses; not
``--bridge=none``, with which dockerd deletes the host's ``docker0`` and so breaks the other
engine's builds) and no iptables rules, so it cannot disturb the engine the other tests use.
The images it needs (the base and the tor layer) are copied in with ``docker save`` / ``docker
load``. The test network plays no part in a build, so the manager is
given a stand-in for it (nothing here is reachable through tor).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from myonion import cli, paths
from myonion.build import images
from myonion.manager import Manager
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.templates import load_template
from tests.fakes import FakeTestnet
from tests.integration.conftest import IN_CI

pytestmark = [pytest.mark.integration]

#: room on the small engine's disk besides the images copied in (MiB)
SPARE_MIB = 64
#: the small engine's own bridge, and a subnet for it (one no route of this host covers)
BRIDGE = "myonion-sd0"
SUBNETS = [f"10.213.{n}.1/24" for n in range(77, 100)]
#: what the user's template writes during its build (MiB): far more than the spare room
PAYLOAD_MIB = 256

TEMPLATE = """\
id: bulky
title: A service that ships a large data set
description: Writes a data set into its image while building (as a model, or a map, would).
ports:
  - virtual: 80
    target: 8080
"""
DOCKERFILE = f"""\
FROM {{{{ tor_image }}}}
USER root
RUN head -c {PAYLOAD_MIB}M /dev/urandom > /opt/dataset
USER {{{{ uid }}}}:{{{{ uid }}}}
CMD ["sleep", "infinity"]
"""


@dataclass
class SmallEngine:
    socket: str
    data_root: Path
    client: docker.DockerClient

    def used_mib(self) -> float:
        usage = shutil.disk_usage(self.data_root)
        return usage.used / 2**20

    def free_mib(self) -> float:
        return shutil.disk_usage(self.data_root).free / 2**20

    def resize(self, mib: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={mib}m", str(self.data_root)], check=True)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must run the disk-full test: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def small_engine(docker_runtime: DockerRuntime,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallEngine]:
    if os.geteuid() != 0:
        _unavailable("a second Docker engine on a tmpfs needs root")
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        _unavailable("dockerd is not installed")
    assert dockerd is not None
    base = tmp_path_factory.mktemp("small-engine")
    data, exec_root = base / "data", base / "exec"
    data.mkdir()
    exec_root.mkdir()
    sock = f"unix://{base}/docker.sock"
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True,
                            check=True).stdout
    subnet = next(s for s in SUBNETS if s.rsplit(".", 1)[0] + "." not in routes)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", subnet, "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
    # the images go in first on a roomy tmpfs; it is shrunk to what they use + SPARE_MIB after
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1024m,mode=0711", "tmpfs", str(data)],
                   check=True)
    log = (base / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(data), "--exec-root", str(exec_root),
         "--pidfile", str(base / "dockerd.pid"), "-H", sock, "--bridge", BRIDGE,
         "--iptables=false", "--ip-masq=false", "--ip6tables=false"],
        stdout=log, stderr=subprocess.STDOUT)
    # a fixed API version: asking the engine for it would fail before it listens
    client = docker.DockerClient(base_url=sock, timeout=120, version="1.41")
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(Exception):
                client.ping()
                break
            assert proc.poll() is None, (base / "dockerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the small engine did not answer in 60 s"
            time.sleep(0.3)
        main = docker.from_env(timeout=300)
        for tag in (images.base_image(docker_runtime), images.tor_image(docker_runtime)):
            client.images.load(main.images.get(tag).save(named=True))
        engine = SmallEngine(sock, data, client)
        engine.resize(int(engine.used_mib()) + SPARE_MIB)
        yield engine
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["umount", "-l", str(data)], check=False)
        subprocess.run(["ip", "link", "del", BRIDGE], check=False)


@pytest.fixture
def bulky_template() -> Path:
    folder = paths.user_templates_dir() / "bulky"
    folder.mkdir(parents=True)
    (folder / "template.yaml").write_text(TEMPLATE)
    (folder / "Dockerfile.j2").write_text(DOCKERFILE)
    (folder / "torrc.j2").write_text('{% include "torrc-common.j2" %}\n')
    return folder


def test_a_full_disk_during_a_build_is_one_clear_error_and_changes_nothing(
        small_engine: SmallEngine, bulky_template: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_HOST", small_engine.socket)
    runtime = DockerRuntime()
    store = StateStore()
    manager = Manager(runtime=runtime, store=store, testnet=FakeTestnet())
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    tags_before = sorted(t for i in small_engine.client.images.list() for t in i.tags)
    used_before = small_engine.used_mib()
    print(f"\nsmall engine: {used_before:.0f} MiB used, {small_engine.free_mib():.0f} MiB free; "
          f"the build writes {PAYLOAD_MIB} MiB")

    capsys.readouterr()
    code = cli.main(["share", "bulky", "--name", "big", "--no-wait"])
    err = capsys.readouterr().err
    flat = " ".join(err.split())
    print(err)
    assert code == 1
    assert "Traceback" not in err
    assert flat.startswith("error: Building image myonion/bulky:"), flat
    assert "(the disk is full)" in flat
    assert "No space left on device" in err  # the build step's own words, from the log tail
    assert "hint: The disk the Docker engine keeps its images and containers on is full" in flat
    assert "docker system df" in flat

    # nothing changed: no record, no container, no new image, the disk as before (the build
    # cache may keep the steps that succeeded, here an empty `USER root` layer)
    assert store.all() == [] and not (store.root / "big").exists()
    assert small_engine.client.containers.list(all=True) == []
    assert sorted(t for i in small_engine.client.images.list() for t in i.tags) == tags_before
    assert abs(small_engine.used_mib() - used_before) < 8, "the half-built layer was left"

    # what the hint says works: with room on the disk the same template builds (committing a
    # layer takes twice its size for a moment: the container's copy and the layer's)
    small_engine.resize(int(small_engine.used_mib()) + 3 * PAYLOAD_MIB)
    tag = images.template_image(runtime, load_template(bulky_template, builtin=False))
    assert runtime.image_exists(tag)


def test_the_small_engine_left_the_hosts_docker_bridge_alone(small_engine: SmallEngine) -> None:
    """The other engine's default bridge is still there (its builds need it)."""
    bridge = docker.from_env().networks.get("bridge").attrs["Options"].get(
        "com.docker.network.bridge.name", "docker0")
    shown = subprocess.run(["ip", "link", "show", bridge], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
