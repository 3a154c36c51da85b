"""Faults on a persistent site service: each one, the service comes back by itself at the same
address and is reachable again through the test network; the recovery time is measured.

- tor killed inside (SIGKILL of the pid in /var/lib/tor/tor.pid, as tor's user): myonion-entry
  starts tor again in the same container (no restart by Docker);
- the service killed (SIGKILL of nginx's master, as the service's user): the same;
- an *ephemeral* service whose tor and service are killed keeps its address (its key lives in
  the container's memory, which a restart in place keeps); a crash loop ends the container, the
  restart policy brings it back with a new address, and myonion says the old one is gone;
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

from myonion.errors import RuntimeFailure
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
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
            f"{time.strftime('%Y-%m-%d %H:%M')} UTC. *back* = the killed process runs again "
            "(started again inside its container by myonion-entry) or the container runs again "
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


def exec_ok(runtime: DockerRuntime, command: str, user: str, name: str = NAME) -> str:
    """Run ``command`` in the container as ``user`` (tor's "10001:10001" or the service's)."""
    code, out = runtime.exec(container_name(name), ["bash", "-c", command], user=user)
    assert code == 0, out
    return out


def pid_of(runtime: DockerRuntime, comm: str, name: str = NAME) -> str | None:
    """The pid of the first process named ``comm`` in the container, if one runs (None while
    the container is being restarted)."""
    try:
        code, out = runtime.exec(container_name(name), ["bash", "-c", (
            f'for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = {comm} ] && '
            'echo ${d#/proc/}; done; true')])
    except RuntimeFailure:
        return None
    return out.split()[0] if code == 0 and out.split() else None


def wait_new_pid(runtime: DockerRuntime, comm: str, before: str | None,
                 timeout: float = 60.0, name: str = NAME) -> None:
    """Until a process named ``comm`` runs again with another pid than ``before``."""
    deadline = time.monotonic() + timeout
    while (now := pid_of(runtime, comm, name)) in (None, before):
        assert time.monotonic() < deadline, f"{comm} not back after {timeout:.0f} s"
        time.sleep(0.1)
    assert now is not None


def restart_count(runtime: DockerRuntime) -> int:
    return int(runtime.client.api.inspect_container(container_name(NAME))["RestartCount"])


def restarted(runtime: DockerRuntime, before: str, name: str = NAME) -> bool:
    """Whether the container is not running or was started after ``before``."""
    info = runtime.get(container_name(name))
    return info is None or not info.running or info.started_at != before


def wait_back(runtime: DockerRuntime, before: str, timeout: float = 60.0,
              name: str = NAME) -> None:
    """Until the container runs again, started after ``before`` (Docker's StartedAt)."""
    deadline = time.monotonic() + timeout
    while True:
        info = runtime.get(container_name(name))
        if info is not None and info.running and info.started_at != before:
            return
        assert time.monotonic() < deadline, f"not back after {timeout:.0f} s: {info}"
        time.sleep(0.1)


def recover(manager: Manager, runtime: DockerRuntime, address: str, fault: str, how: str,
            inflict: Callable[[], object], in_place: str | None = None) -> None:
    """Inflict the fault ROUNDS times; each time the service must come back by itself: the
    process ``in_place`` started again inside the same container, or (None) the container
    restarted by Docker's restart policy."""
    backs, reachables, restarts = [], [], 0
    for _ in range(ROUNDS):
        settle(runtime)
        info = runtime.get(container_name(NAME))
        assert info is not None and info.running
        before = restart_count(runtime)
        pid = pid_of(runtime, in_place) if in_place else None
        started = time.monotonic()
        inflict()
        if in_place:
            wait_new_pid(runtime, in_place, pid)
        else:
            wait_back(runtime, info.started_at)
        backs.append(time.monotonic() - started)
        result = manager.check(NAME, timeout=180)
        reachables.append(time.monotonic() - started)
        assert result.reachable and result.status == 200, result
        assert result.address == address == manager.status(NAME).address
        count = restart_count(runtime) - before
        if in_place:
            again = runtime.get(container_name(NAME))
            assert count == 0 and again is not None and again.started_at == info.started_at, \
                "the container was restarted; only the process should have been"
        else:
            assert count >= 1, "Docker's restart policy did not restart it"
        restarts += count
    ROWS.append(f"| {fault} | {how} | {ROUNDS} | {spread(backs)} | {spread(reachables)} | "
                f"{f'{restarts} (in place: {in_place})' if in_place else restarts} | "
                "yes, every time |")
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
    from myonion.services.store import StateStore

    folder = tmp_path_factory.mktemp("faultsite")
    (folder / "index.html").write_text("<h1>fault tolerance</h1>\n")
    os.chmod(folder.parent, 0o755)
    os.chmod(folder, 0o755)  # open to everyone: nginx runs as the service's user (10002)
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
    recover(manager, docker_runtime, address, "tor killed",
            "SIGKILL of tor (tor.pid) inside, as tor's user",
            lambda: exec_ok(docker_runtime, "kill -KILL $(cat /var/lib/tor/tor.pid)",
                            user="10001:10001"), in_place="tor")
    logs = "\n".join(docker_runtime.logs(container_name(NAME), tail=200))
    assert "myonion-entry: tor exited with status 137; starting it again" in logs


def test_service_killed(service: tuple[Manager, str], docker_runtime: DockerRuntime) -> None:
    manager, address = service
    recover(manager, docker_runtime, address, "service killed",
            "SIGKILL of nginx's master inside, as the service's user",
            lambda: exec_ok(docker_runtime, "kill -KILL $(cat /tmp/nginx.pid)",
                            user="10002:10002"), in_place="nginx")
    logs = "\n".join(docker_runtime.logs(container_name(NAME), tail=200))
    assert "myonion-entry: the service (nginx) exited with status 137; starting it again" \
        in logs


def test_an_ephemeral_service_keeps_its_address_through_crashes(
        service: tuple[Manager, str], docker_runtime: DockerRuntime, tmp_path: Path) -> None:
    """A crash of tor or of the service no longer costs an ephemeral service its address (the
    key lives in the container's memory, kept by a restart in place); a crash loop ends the
    container, which comes back at a new address — and myonion says the old one is gone."""
    manager, _ = service
    name = "fault-ephemeral"
    folder = tmp_path / "eph"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>ephemeral</h1>\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(folder, 0o755)
    view = manager.share("site", {"dir": str(folder)}, name=name, timeout=150)
    try:
        for comm, user, pidfile in (("tor", "10001:10001", "/var/lib/tor/tor.pid"),
                                    ("nginx", "10002:10002", "/tmp/nginx.pid")):
            pid = pid_of(docker_runtime, comm, name)
            exec_ok(docker_runtime, f"kill -KILL $(cat {pidfile})", user=user, name=name)
            wait_new_pid(docker_runtime, comm, pid, name=name)
            result = manager.check(name, timeout=180)
            assert result.reachable and result.address == view.address, result
        # a crash loop: tor killed again and again ends the container; the restart policy
        # brings it back with a new key, and the view says the old address is gone
        info = docker_runtime.get(container_name(name))
        assert info is not None
        killed = None
        for _ in range(8):  # tor crashed once above: 4 more make 5 in 60 s
            pid = None
            deadline = time.monotonic() + 30
            while pid in (None, killed) and time.monotonic() < deadline and not restarted(
                    docker_runtime, info.started_at, name):
                pid = pid_of(docker_runtime, "tor", name)
                time.sleep(0.1)
            if pid == killed:
                pid = None
            if pid is None:
                break  # the container ended (or is being restarted)
            # bash's kill (the image has no kill program); a tor already gone counts as killed
            try:
                exec_ok(docker_runtime, f"kill -KILL {pid} 2>/dev/null || ! [ -d /proc/{pid} ]",
                        user="10001:10001", name=name)
            except RuntimeFailure:
                break  # the container is being restarted: the crash loop has ended it
            killed = pid
        wait_back(docker_runtime, info.started_at, name=name)
        deadline = time.monotonic() + 60
        while not (now := manager.status(name, live=False)).previous_address:
            assert time.monotonic() < deadline, now
            time.sleep(0.5)
        assert now.previous_address == view.address and now.address != view.address
        assert "gone for good" in (now.reason or "")
        logs = "\n".join(docker_runtime.logs(container_name(name), tail=300))
        assert "crashes in 60 s; stopping the container" in logs
        again = manager.check(name, timeout=180)
        assert again.reachable and again.address == now.address
        assert manager.status(name, live=False).previous_address is None  # said once, checked
    finally:
        manager.remove(name, purge=True)


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
    from myonion.services.store import BACKUP

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
