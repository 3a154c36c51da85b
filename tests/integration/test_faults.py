"""Faults on a persistent site service: each one, the service comes back by itself at the same
address and is reachable again through the test network; the recovery time is measured.

- tor killed inside (SIGKILL of the pid myonion-entry wrote to /var/lib/tor/tor.pid);
- the service killed (SIGKILL of nginx's master);
- the container killed as a whole (SIGKILL of its init from the host, as the OOM killer or a
  crash does);
- ``docker kill``: Docker treats it as a deliberate stop (it cancels the restart policy, see
  moby's daemon/kill.go), so the service stays down and says so; ``myonion start`` brings it
  back at the same address.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from myonion import fetch
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from tests import tables

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

NAME = "fault-site"
ROWS: list[str] = []
#: how often each fault is inflicted
ROUNDS = int(os.environ.get("MYONION_FAULT_ROUNDS", "3"))
#: seconds a container runs before the next fault (see settle)
STABLE = 11.0


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if ROWS:
        text = "\n".join([
            "# Fault recovery of a persistent site service (local test network)",
            "",
            f"Measured by `tests/integration/test_faults.py` (run by `bench/suite_tables.py`) on "
            f"{time.strftime('%Y-%m-%d %H:%M')} UTC. *back* = the container runs again "
            "(restarted by Docker's restart policy); *reachable* = `check` fetched the page "
            "through the test network's separate tor client, at the same address. Each fault "
            f"hits a service that has run {STABLE:.0f} s or more (Docker doubles its restart "
            "delay, up to a minute, for a container that ran less than 10 s).",
            "",
            "| fault | how | times | back, s: median (min-max) | reachable, s: median (min-max) "
            "| restarts | same address |",
            "|---|---|---|---|---|---|---|",
            *ROWS, ""])
        tables.publish("faults.md", text)


def exec_ok(runtime: DockerRuntime, command: str) -> str:
    code, out = runtime.exec(container_name(NAME), ["bash", "-c", command])
    assert code == 0, out
    return out


def restart_count(runtime: DockerRuntime) -> int:
    return int(runtime.client.api.inspect_container(container_name(NAME))["RestartCount"])


def wait_back(runtime: DockerRuntime, before: str, timeout: float = 60.0) -> None:
    """Until the container runs again, started after ``before`` (Docker's StartedAt)."""
    deadline = time.monotonic() + timeout
    while True:
        info = runtime.get(container_name(NAME))
        if info is not None and info.running and info.started_at != before:
            return
        assert time.monotonic() < deadline, f"not back after {timeout:.0f} s: {info}"
        time.sleep(0.1)


def recover(manager: Manager, runtime: DockerRuntime, address: str, fault: str, how: str,
            inflict: Callable[[], object]) -> None:
    """Inflict the fault ROUNDS times; each time the service must come back by itself."""
    backs, reachables, restarts = [], [], 0
    for _ in range(ROUNDS):
        settle(runtime)
        info = runtime.get(container_name(NAME))
        assert info is not None and info.running
        before = restart_count(runtime)
        started = time.monotonic()
        inflict()
        wait_back(runtime, info.started_at)
        backs.append(time.monotonic() - started)
        result = manager.check(NAME, timeout=180)
        reachables.append(time.monotonic() - started)
        assert result.reachable and result.status == 200, result
        assert result.address == address == manager.status(NAME).address
        count = restart_count(runtime) - before
        assert count >= 1, "Docker's restart policy did not restart it"
        restarts += count
    ROWS.append(f"| {fault} | {how} | {ROUNDS} | {spread(backs)} | {spread(reachables)} | "
                f"{restarts} | yes, every time |")
    print(ROWS[-1])


def settle(runtime: DockerRuntime) -> None:
    """Let the container run STABLE seconds before the next fault: Docker doubles its restart
    delay (100 ms, 200 ms, … up to a minute) for a container that ran less than 10 s, and a
    real fault hits a service that has been up a while."""
    attrs = runtime.client.api.inspect_container(container_name(NAME))["State"]
    up = time.time() - datetime.fromisoformat(attrs["StartedAt"][:26].rstrip("Z") + "+00:00"
                                              ).timestamp()
    if up < STABLE:
        time.sleep(STABLE - up)


def spread(values: list[float]) -> str:
    """median (min-max) of seconds"""
    return (f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"
            if len(values) > 1 else f"{values[0]:.1f}")


@pytest.fixture(scope="module")
def fault_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One myonion home for the module: the service outlives each test."""
    home = tmp_path_factory.mktemp("faulthome")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MYONION_HOME", str(home))
        yield home


@pytest.fixture(autouse=True)
def myonion_home(fault_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides the per-test home of tests/conftest.py with the module's."""
    monkeypatch.setenv("MYONION_HOME", str(fault_home))
    return fault_home


@pytest.fixture(scope="module")
def service(fault_home: Path, docker_runtime: DockerRuntime, testnet_session: object,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Manager, str]]:
    """One persistent site for every fault (shared, so each fault starts from a served onion)."""
    from myonion.state import StateStore

    folder = tmp_path_factory.mktemp("faultsite")
    (folder / "index.html").write_text("<h1>fault tolerance</h1>\n")
    os.chmod(folder.parent, 0o755)
    os.chmod(folder, 0o755)  # nginx (uid 10001) reads it
    manager = Manager(runtime=docker_runtime, store=StateStore(), testnet=testnet_session)
    view = manager.share("site", {"dir": str(folder)}, name=NAME, persistent=True, timeout=150)
    assert view.address
    try:
        yield manager, view.address
    finally:
        manager.remove(NAME, purge=True)
        assert docker_runtime.get(container_name(NAME)) is None


def test_tor_killed(service: tuple[Manager, str], docker_runtime: DockerRuntime) -> None:
    manager, address = service
    recover(manager, docker_runtime, address, "tor killed", "SIGKILL of tor (tor.pid) inside",
            lambda: exec_ok(docker_runtime, "kill -KILL $(cat /var/lib/tor/tor.pid)"))
    logs = "\n".join(docker_runtime.logs(container_name(NAME), tail=200))
    assert "myonion-entry: tor exited" in logs


def test_service_killed(service: tuple[Manager, str], docker_runtime: DockerRuntime) -> None:
    manager, address = service
    recover(manager, docker_runtime, address, "service killed",
            "SIGKILL of nginx's master inside",
            lambda: exec_ok(docker_runtime, "kill -KILL $(cat /tmp/nginx.pid)"))
    logs = "\n".join(docker_runtime.logs(container_name(NAME), tail=200))
    assert "myonion-entry: the service (nginx) exited" in logs


def test_container_killed(service: tuple[Manager, str], docker_runtime: DockerRuntime) -> None:
    manager, address = service

    def kill_init() -> None:
        state = docker_runtime.client.api.inspect_container(container_name(NAME))["State"]
        pid = int(state["Pid"])
        if not Path(f"/proc/{pid}").exists():
            pytest.fail("the container's init is not visible from here (engine in another PID "
                        "namespace)", pytrace=False)
        os.kill(pid, signal.SIGKILL)

    recover(manager, docker_runtime, address, "container killed",
            "SIGKILL of the container's init (tini) from the host", kill_init)


def test_docker_kill_is_a_stop(service: tuple[Manager, str],
                               docker_runtime: DockerRuntime) -> None:
    """``docker kill`` is the user's stop: Docker does not restart it, myonion says so and
    ``start`` brings it back at the same address."""
    manager, address = service
    before = docker_runtime.get(container_name(NAME))
    assert before is not None and before.running
    started = time.monotonic()
    restarts = restart_count(docker_runtime)
    docker_runtime.kill(container_name(NAME))
    time.sleep(5)  # Docker would have restarted it by now (its first delay is 100 ms)
    assert restart_count(docker_runtime) == restarts
    view = manager.status(NAME)
    assert view.state in ("failed", "stopped") and view.address == address, view
    assert view.state == "stopped" or "137" in (view.reason or ""), view
    manager.start(NAME, timeout=150)
    result = manager.check(NAME, timeout=180)
    assert result.reachable and result.address == address, result
    took = time.monotonic() - started - 5
    ROWS.append(f"| `docker kill` | Docker cancels the restart policy (a user's stop); then "
                f"`myonion start` | 1 | not by itself (by design) | {took:.1f} after the start "
                "| 0 | yes |")
    print(ROWS[-1])


def test_record_corrupted(service: tuple[Manager, str], docker_runtime: DockerRuntime,
                          monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """The service's record half-written, then garbage with its copy too: ls and status say so
    (no traceback), repair makes it again (from the copy, then from the container's labels),
    and the service is still served at its address the whole time; its key is untouched."""
    from myonion import cli
    from myonion.state import BACKUP

    manager, address = service
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    record = manager.store.get(NAME)
    path = manager.store.root / NAME / "service.json"
    volumes = set(docker_runtime.list_volumes({"org.myonion.service": NAME}))
    assert f"{container_name(NAME)}-tor" in volumes
    rows = []
    for how, damage in (("half-written", lambda: path.write_text(path.read_text()[:40])),
                        ("garbage, and its copy too", lambda: (
                            path.write_bytes(b"\x00\xffgarbage"),
                            (path.parent / BACKUP).write_text("{")))):
        damage()
        capsys.readouterr()
        assert cli.main(["ls"]) == 0
        out = capsys.readouterr()
        assert NAME in out.out and "Traceback" not in out.err
        assert "myonion repair" in " ".join(out.err.split())
        assert cli.main(["status", NAME]) == 1
        err = " ".join(capsys.readouterr().err.split())
        assert err.startswith("error:") and "service.json" in err and "repair" in err, err
        # still served meanwhile (check needs the record: fetch through the test network)
        page = fetch.http_get_retry(f"http://{address}/", manager.testnet.socks(), timeout=120)
        assert page.status == 200 and b"fault tolerance" in page.body
        assert cli.main(["repair", NAME]) == 0
        capsys.readouterr()
        repaired = manager.store.get(NAME)
        assert repaired is not None and repaired.mode == "persistent"
        if how == "half-written":
            assert repaired == record  # the last good copy, exactly
        view = manager.status(NAME)
        assert view.address == address, view
        result = manager.check(NAME, timeout=120)
        assert result.reachable and result.address == address
        assert set(docker_runtime.list_volumes({"org.myonion.service": NAME})) == volumes
        source = "its last good copy" if how == "half-written" else "the container's labels"
        rows.append(f"| record {how} | `ls` lists it (exit 0), `status` exits 1 naming the "
                    f"file, `repair` makes it from {source} | 1 | served all along | "
                    "reachable all along | 0 | yes (volumes untouched) |")
    ROWS.extend(rows)
    print("\n".join(rows))
