"""Deployments on the real engine and the private Tor network: up / up again / a changed
option / down and up / down --purge, and an exported Compose file run by docker-compose."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from myonion import deploy, onion
from myonion.cli import main
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_DEPLOYMENT
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
from tests.inside import TOR_USER

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

DEPLOYMENT = "depint"
DEVICES = "kitchen:kitchen-t0k3n-for-tests"


def write_file(folder: Path, title: str = "Readings") -> Path:
    path = folder / "myonion.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: {DEPLOYMENT}
        services:
          depsite:
            template: site
            options:
              dir: ./site
          deprecv:
            template: iot-receiver
            persistent: true
            options:
              devices: "{DEVICES}"
              title: {title}
            limits: {{memory: 128m, pids: 64}}
        """))
    return path


@pytest.fixture
def deployment_file(real_manager: Manager, site_dir: Path) -> Iterator[Path]:
    path = write_file(site_dir.parent)
    yield path
    deploy.down(real_manager, path, purge=True)  # also when the test failed


def container_ids(runtime: DockerRuntime, names: list[str]) -> dict[str, str]:
    ids = {}
    for name in names:
        info = runtime.get(container_name(name))
        assert info is not None, f"no container for {name}"
        ids[name] = info.id
    return ids


def page(real_manager: Manager, address: str) -> str:
    url = f"http://{address}/"
    return fetch.http_get_retry(url, real_manager.testnet.socks(), timeout=90).body.decode()


def test_up_is_idempotent_and_recreates_only_what_changed(
        real_manager: Manager, docker_runtime: DockerRuntime, deployment_file: Path,
        site_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["depsite", "deprecv"]
    steps = deploy.up(real_manager, deploy.load(deployment_file), timeout=120)
    assert [(s.service, s.action) for s in steps] == [("depsite", "create"),
                                                      ("deprecv", "create")]
    for name in names:
        assert real_manager.check(name).reachable
    site_address = real_manager.address("depsite")
    recv_address = real_manager.address("deprecv")
    assert page(real_manager, site_address) == (site_dir / "index.html").read_text()
    info = docker_runtime.get(container_name("deprecv"))
    assert info is not None and info.labels[LABEL_DEPLOYMENT] == DEPLOYMENT
    limits = json.loads(subprocess.run(
        ["docker", "inspect", "-f", "{{json .HostConfig}}", container_name("deprecv")],
        capture_output=True, text=True, check=True).stdout)
    assert limits["Memory"] == 128 * 1024**2 and limits["PidsLimit"] == 64

    # up again: nothing is re-created or restarted
    before = container_ids(docker_runtime, names)
    started = {n: docker_runtime.get(container_name(n)).started_at  # type: ignore[union-attr]
               for n in names}
    steps = deploy.up(real_manager, deploy.load(deployment_file), timeout=120)
    assert [s.action for s in steps] == ["unchanged", "unchanged"]
    assert container_ids(docker_runtime, names) == before
    assert {n: docker_runtime.get(container_name(n)).started_at  # type: ignore[union-attr]
            for n in names} == started
    # the same through the command line
    code = main(["up", "-f", str(deployment_file), "--json"])
    output = capsys.readouterr().out
    assert code == 0 and [s["action"] for s in json.loads(output)] == ["unchanged"] * 2
    assert main(["ps", "-f", str(deployment_file), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["service"], r["state"], r["address"]) for r in rows] == [
        ("depsite", "running", site_address), ("deprecv", "running", recv_address)]
    assert container_ids(docker_runtime, names) == before

    # one option changed: only that service is re-created; persistent, it keeps its address
    write_file(deployment_file.parent, title="Changed")
    steps = deploy.up(real_manager, deploy.load(deployment_file), timeout=120)
    assert [(s.service, s.action) for s in steps] == [("depsite", "unchanged"),
                                                      ("deprecv", "recreate")]
    assert "options title" in steps[1].reason
    after = container_ids(docker_runtime, names)
    assert after["depsite"] == before["depsite"] and after["deprecv"] != before["deprecv"]
    assert real_manager.address("deprecv") == recv_address
    assert "Changed" in page(real_manager, recv_address)
    assert real_manager.check("depsite").reachable

    # down keeps the keys: up brings the persistent address back
    assert sorted(deploy.down(real_manager, deployment_file)) == sorted(names)
    for name in names:
        assert docker_runtime.get(container_name(name)) is None
    assert docker_runtime.list_volumes({"org.myonion.service": "deprecv"})
    assert [r.view.stage for r in deploy.ps(real_manager, deployment_file)
            if r.view] == ["down", "down"]
    steps = deploy.up(real_manager, deploy.load(deployment_file), timeout=120)
    assert [s.action for s in steps] == ["start", "start"]
    assert real_manager.address("deprecv") == recv_address
    for name in names:
        assert real_manager.check(name).reachable

    # down --purge leaves nothing of the deployment
    deploy.down(real_manager, deployment_file, purge=True)
    assert docker_runtime.list_containers({LABEL_DEPLOYMENT: DEPLOYMENT}) == []
    for name in names:
        assert docker_runtime.get(container_name(name)) is None
        assert docker_runtime.list_volumes({"org.myonion.service": name}) == []
        assert real_manager.store.get(name) is None
    assert not [v for v in docker_runtime.list_volumes({})
                if v.startswith(("myonion-depsite", "myonion-deprecv"))]


# --- the exported Compose file under docker-compose -----------------------------------------
def compose_tool() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs docker-compose (scripts/setup-host.sh installs it)")
        pytest.skip("docker-compose is not installed")
    return found


def test_exported_compose_file_runs_and_serves(real_manager: Manager, site_dir: Path,
                                               tmp_path: Path) -> None:
    tool = compose_tool()
    path = site_dir.parent / "myonion.yaml"
    path.write_text("version: 1\nname: depcompose\nservices:\n  depcompose:\n"
                    "    template: site\n    persistent: true\n    options:\n"
                    "      dir: ./site\n    limits: {memory: 96m, pids: 64}\n")
    out = tmp_path / "stack" / "compose.yaml"
    deploy.export_compose(real_manager, deploy.load(path), out)
    project = f"depcompose{os.getpid()}"
    command = [tool, "-f", str(out), "-p", project]
    try:
        run = subprocess.run([*command, "up", "-d"], capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        container = f"{project}_depcompose_1"
        address = None
        deadline = time.monotonic() + 60
        while address is None and time.monotonic() < deadline:
            result = subprocess.run(["docker", "exec", "-u", TOR_USER, container, "cat",
                                     "/var/lib/tor/hs/hostname"], capture_output=True,
                                    text=True)
            text = result.stdout.strip()
            address = text if result.returncode == 0 and onion.is_valid(text) else None
            if address is None:
                time.sleep(0.5)
        assert address, subprocess.run(["docker", "logs", container], capture_output=True,
                                       text=True).stderr[-2000:]
        body = fetch.http_get_retry(f"http://{address}/", real_manager.testnet.socks(),
                                    timeout=120).body.decode()
        assert body == (site_dir / "index.html").read_text()
        host = json.loads(subprocess.run(
            ["docker", "inspect", "-f", "{{json .HostConfig}}", container],
            capture_output=True, text=True, check=True).stdout)
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges:true"]
        assert host["Memory"] == 96 * 1024**2 and host["PidsLimit"] == 64
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
        # the manager does not adopt the exported containers
        assert "depcompose" not in [v.name for v in real_manager.list()]
    finally:
        subprocess.run([*command, "down", "-v", "--remove-orphans"], capture_output=True,
                       timeout=120)
    left = subprocess.run(["docker", "ps", "-aq", "--filter",
                           f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True).stdout.strip()
    assert left == ""


# --- an offline bundle ----------------------------------------------------------------------
def test_bundle_loads_and_up_builds_nothing(real_manager: Manager, docker_runtime: DockerRuntime,
                                            site_dir: Path, tmp_path: Path,
                                            events: list) -> None:
    from myonion.events import Stage
    from myonion.export import bundle, bundle_make

    path = site_dir.parent / "myonion.yaml"
    path.write_text("version: 1\nname: depbundle\nservices:\n  depbundle:\n"
                    "    template: site\n    options:\n      dir: ./site\n")
    made = bundle_make.create_bundle(real_manager, deploy.load(path), tmp_path / "dep.tar")
    # the template's image is removed, as on a machine that never had it; the base and tor
    # layers stay (other tests use them, and rebuilding the base takes a debootstrap)
    site_tag = next(tag for tag in made.images if tag.startswith("myonion/site:"))
    docker_runtime.remove_image(site_tag)
    assert not docker_runtime.image_exists(site_tag)
    loaded = bundle.load_bundle(docker_runtime, made.path, site_dir.parent / "target")
    assert sorted(loaded.images) == sorted(made.images)
    assert docker_runtime.image_exists(site_tag)  # back from the bundle, not from a build
    # the folder goes with the bundle, beside its file (a link out of it would be refused)
    shutil.copytree(site_dir, site_dir.parent / "target" / "site")
    events.clear()
    try:
        steps = deploy.up(real_manager, deploy.load(loaded.path), timeout=120)
        assert [s.action for s in steps] == ["create"]
        assert not [e for e in events if e.stage == Stage.BUILDING and e.message.startswith(
            "Building")]
        assert real_manager.check("depbundle").reachable
    finally:
        deploy.down(real_manager, loaded.path, purge=True)


# --- a reference: the bridge forwards to the receiver whose address the file names ----------
def test_a_bridge_forwards_to_the_address_its_file_names(real_manager: Manager,
                                                         docker_runtime: DockerRuntime,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        name: depref
        services:
          deprefgw:
            template: mqtt-bridge
            options:
              routes: >-
                kitchen http://${deprefrecv.address}/api/v1/readings/kitchen
                kitchen-t0k3n-for-tests
              devices: "kitchen:broker-pw-for-tests"
          deprefrecv:
            template: iot-receiver
            persistent: true
            options: {devices: "kitchen:kitchen-t0k3n-for-tests"}
        """))
    try:
        steps = deploy.up(real_manager, deploy.load(path), timeout=120)
        assert [s.service for s in steps] == ["deprefrecv", "deprefgw"]  # the named one first
        receiver = real_manager.address("deprefrecv")
        code, output = docker_runtime.exec(container_name("deprefgw"), [
            "mosquitto_pub", "--cafile", "/etc/myonion/tls_ca.crt", "-h", "localhost", "-p",
            "1883", "-u", "kitchen", "-P", "broker-pw-for-tests", "-q", "1", "-t",
            "readings/kitchen", "-m",
            '{"temp": 21.5}'])
        assert code == 0, output
        url = f"http://{receiver}/api/v1/readings/kitchen"
        deadline = time.monotonic() + 90
        readings: list = []
        while not readings and time.monotonic() < deadline:
            response = fetch.http_get_retry(url, real_manager.testnet.socks(), timeout=60)
            readings = json.loads(response.body)["readings"]
            if not readings:
                time.sleep(1)
        assert readings and readings[0]["data"] == {"temp": 21.5}
    finally:
        deploy.down(real_manager, path, purge=True)


# --- clients: changing them in the file revokes and admits, the address stays ---------------
def test_clients_in_the_file_decide_who_connects(real_manager: Manager,
                                                 docker_runtime: DockerRuntime,
                                                 site_dir: Path) -> None:
    from tests.integration.test_access import get
    from tests.torclient import WRONG_KEY, fresh_client, refused

    path = site_dir.parent / "myonion.yaml"
    text = ("version: 1\nname: depacc\nservices:\n  depacc:\n    template: site\n"
            "    persistent: true\n    options: {dir: ./site}\n    clients: [alice]\n")
    path.write_text(text)
    try:
        deploy.up(real_manager, deploy.load(path), timeout=120)  # reachable with alice's key
        address = real_manager.address("depacc")
        alice = real_manager.client_line("depacc", "alice")
        path.write_text(text.replace("[alice]", "[bob]"))
        steps = deploy.up(real_manager, deploy.load(path), timeout=120)
        assert steps[0].action == "recreate" and "clients" in steps[0].reason
        assert real_manager.address("depacc") == address
        bob = real_manager.client_line("depacc", "bob")
        with fresh_client(docker_runtime, real_manager.testnet, {"alice": alice}) as revoked:
            refused(address, revoked.socks, WRONG_KEY)  # tor: wrong client authorization
        with fresh_client(docker_runtime, real_manager.testnet, {"bob": bob}) as admitted:
            assert "integration" in get(address, admitted.socks)
    finally:
        deploy.down(real_manager, path, purge=True)
