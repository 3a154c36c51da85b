"""Integration fixtures: a real Docker engine, the base image, and the private Tor network.

In CI (``CI`` set) a missing engine is a failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from myonion import arch as arches
from myonion.build import images
from myonion.errors import MyOnionError, TestnetError
from myonion.events import Event
from myonion.manager import Manager
from myonion.runtime.base import LABEL_ROLE, LABEL_SERVICE
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore

IN_CI = bool(os.environ.get("CI"))


def _no_engine(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI needs a Docker engine: {reason}", pytrace=False)
    pytest.skip(f"no Docker engine here: {reason}")


@pytest.fixture(scope="session")
def docker_runtime() -> DockerRuntime:
    runtime = DockerRuntime()
    try:
        runtime.ping()
    except MyOnionError as e:
        _no_engine(e.message)
    images.build_base(runtime)
    return runtime


@pytest.fixture(scope="session")
def emulated_base(docker_runtime: DockerRuntime) -> Callable[[str], str]:
    """The base image of another architecture (``arm64``, ``armhf``), made once per run with
    debootstrap under emulation (``myonion base build --arch``) and then reused, as every
    image built on it is; an engine that cannot run it fails the test (CI installs it:
    ``scripts/setup-host.sh --emulate arm64``)."""
    made: dict[str, str] = {}

    def base(arch: str) -> str:
        if arch not in made:
            problem = arches.emulation_problem(arch)
            if problem:
                pytest.fail(f"{arch} programs cannot run here: {problem}; run "
                            f"`scripts/setup-host.sh --emulate {arch}` as root", pytrace=False)
            made[arch] = images.build_base(docker_runtime, arch=arch)
        return made[arch]

    return base


@pytest.fixture(scope="session")
def testnet_session(docker_runtime: DockerRuntime) -> Iterator[object]:
    """One private Tor network for the whole session; removed at the end if we started it."""
    from myonion.testnet import Testnet

    net = Testnet(docker_runtime)
    before = net.status()
    # one made by an older myonion is up too (up() only makes its client safe): leave it
    was_up = before.up or before.outdated
    net.up()
    yield net
    if not was_up:
        try:
            net.down()
        except TestnetError as e:  # services of another run use it: it stays up for them
            print(f"the test network stays up: {e.message}")


class EventLog(list[Event]):
    def __call__(self, event: Event) -> None:
        self.append(event)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def real_manager(docker_runtime: DockerRuntime, testnet_session: object,
                 events: EventLog) -> Iterator[Manager]:
    """A manager on the real engine and test network; removes every service it made."""
    manager = Manager(runtime=docker_runtime, store=StateStore(), reporter=events,
                      testnet=testnet_session)
    yield manager
    names = [view.name for view in manager.list()]
    for name in names:
        manager.remove(name, purge=True)
    left = [c.name for c in docker_runtime.list_containers({LABEL_ROLE: "service"})
            if c.labels.get(LABEL_SERVICE) in names]
    assert left == [], f"containers left behind: {left}"


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text(f"<h1>integration {os.getpid()} {tmp_path.name}</h1>\n")
    (folder / "data.txt").write_text("some data\n")
    os.chmod(tmp_path, 0o755)
    return folder
