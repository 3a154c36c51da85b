"""An exported stack (`myonion export compose --swarm`) on a single-node Docker Swarm: deployed
with `docker stack deploy` onto a swarm test network (an internal attachable overlay that the
test network's nodes and the swarm's tasks share), reachable through its onions (a public
ephemeral site, a persistent private one with the exported client key, and an IoT receiver
whose device tokens come as a swarm secret), the persistent one at the same address after its
task is replaced and after the stack was removed and deployed again, then removed with
`docker stack rm` with nothing left but the named volumes (that key, the receiver's data).
A swarm is initialised if there is none, and left again afterwards."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from myonion import deploy, onion
from myonion.cli import main
from myonion.errors import MyOnionError
from myonion.manager import Manager
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.testnet import Testnet
from myonion.tor import fetch
from tests.torclient import fresh_client

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

NETWORK = "swnet"
STACK = f"swstack{os.getpid()}"
NAMESPACE = "com.docker.stack.namespace"
TOKEN = "kitchen-token-0123456789"
#: the named volumes `docker stack rm` keeps: the persistent key, the receiver's data
KEPT = [f"{STACK}_myonion-swprivate-tor", f"{STACK}_myonion-swrecv-data"]


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    run = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert run.returncode == 0, f"docker {' '.join(args)}: {run.stdout}{run.stderr}"
    return run.stdout.strip()


def advertise_address() -> str:
    """An IPv4 address of this machine's interfaces (not loopback) for `docker swarm init`."""
    out = ""
    for command in (["ip", "-4", "-o", "addr", "show", "scope", "global"], ["hostname", "-I"]):
        if shutil.which(command[0]):
            out = subprocess.run(command, capture_output=True, text=True).stdout
            found = re.findall(r"(?:inet |^| )(\d+\.\d+\.\d+\.\d+)(?:/|\s|$)", out)
            found = [a for a in found if not a.startswith("127.")]
            if found:
                return found[0]
    raise AssertionError(f"no IPv4 address to advertise the swarm on: {out}")


@pytest.fixture(scope="module")
def swarm(docker_runtime: DockerRuntime) -> Iterator[None]:
    """A single-node swarm: the engine's own if it is a manager already, else one made here
    (and left again at the end)."""
    if shutil.which("docker") is None:
        pytest.fail("the docker command is needed to deploy a stack", pytrace=False)
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
    made = False
    had_gateway_bridge = "docker_gwbridge" in docker("network", "ls", "--format", "{{.Name}}")
    if state.startswith("inactive"):
        docker("swarm", "init", "--advertise-addr", advertise_address())
        made = True
    else:
        assert state == "active true", f"this engine is in a swarm but no manager: {state}"
    yield
    if made:
        docker("swarm", "leave", "--force")
        if not had_gateway_bridge:  # made by the swarm, and not removed when leaving it
            docker("network", "rm", "docker_gwbridge", check=False)


@pytest.fixture(scope="module")
def swarm_testnet(docker_runtime: DockerRuntime, swarm: None) -> Iterator[Testnet]:
    net = Testnet(docker_runtime, name=NETWORK, swarm=True)
    net.up()
    yield net
    net.down()


def task_container(service: str, timeout: float = 120) -> str:
    """The running container of the stack service's (single) task."""
    deadline = time.monotonic() + timeout
    while True:
        names = docker("ps", "--filter", f"label=com.docker.swarm.service.name={service}",
                       "--filter", "status=running", "--format", "{{.Names}}").splitlines()
        if names:
            return names[0]
        if time.monotonic() > deadline:
            tasks = docker("service", "ps", "--no-trunc", service, check=False)
            logs = docker("service", "logs", "--tail", "20", service, check=False)
            raise AssertionError(f"{service} has no running task:\n{tasks}\n{logs}")
        time.sleep(1)


def onion_of(service: str, timeout: float = 90) -> tuple[str, str]:
    """(container, onion address) of the stack service's running task."""
    deadline = time.monotonic() + timeout
    while True:
        container = task_container(service)
        run = subprocess.run(["docker", "exec", container, "cat", "/var/lib/tor/hs/hostname"],
                             capture_output=True, text=True)
        if run.returncode == 0 and onion.is_valid(run.stdout.strip()):
            return container, run.stdout.strip()
        assert time.monotonic() < deadline, docker("logs", container, check=False)
        time.sleep(1)


def left_of_stack() -> dict[str, list[str]]:
    label = f"label={NAMESPACE}={STACK}"
    return {
        "services": docker("service", "ls", "-q", "--filter", label).split(),
        "containers": docker("ps", "-aq", "--filter", label).split(),
        "configs": docker("config", "ls", "-q", "--filter", label).split(),
        "secrets": docker("secret", "ls", "-q", "--filter", label).split(),
        "networks": docker("network", "ls", "-q", "--filter", label).split(),
        "volumes": docker("volume", "ls", "-q", "--filter", label).split(),
    }


def remove_stack() -> None:
    """`docker stack rm`, and wait until the stack's containers are gone."""
    docker("stack", "rm", STACK, check=False)
    deadline = time.monotonic() + 120
    while left_of_stack()["containers"] and time.monotonic() < deadline:
        time.sleep(1)


def test_exported_stack_runs_on_a_swarm(docker_runtime: DockerRuntime, swarm_testnet: Testnet,
                                        site_dir: Path, tmp_path: Path) -> None:
    path = site_dir.parent / "myonion.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: {STACK}
        services:
          swpublic:
            template: site
            options: {{dir: ./site}}
            limits: {{memory: 96m, pids: 64}}
          swprivate:
            template: site
            persistent: true
            options: {{dir: ./site}}
            clients: [alice]
          swrecv:
            template: iot-receiver
            options:
              devices: "kitchen:{TOKEN}"
              title: Swarm readings
        """))
    out = tmp_path / "stack" / "stack.yaml"
    # through the command line, as a user does it
    assert main(["export", "compose", "--swarm", "--testnet", NETWORK, "-f", str(path), "-o",
                 str(out)]) == 0
    alice_key = (out.parent / "myonion" / "swprivate" / "clients" / "alice.key").read_text(
    ).strip()
    assert f"docker stack deploy -c stack.yaml {STACK}" in out.read_text()
    expected = (site_dir / "index.html").read_text()
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        docker("stack", "deploy", "-c", str(out), STACK, timeout=300)
        public_container, public = onion_of(f"{STACK}_swpublic")
        private_container, private = onion_of(f"{STACK}_swprivate")
        timings["deploy -> both addresses known"] = time.monotonic() - started

        # the public one through the swarm test network's client
        started = time.monotonic()
        body = fetch.http_get_retry(f"http://{public}/", swarm_testnet.socks(),
                                    timeout=120).body.decode()
        assert body == expected
        timings["public page fetched"] = time.monotonic() - started
        # the private one with the exported key of alice (a fresh client that has it)
        line = f"{private.removesuffix('.onion')}:descriptor:x25519:{alice_key}"
        started = time.monotonic()
        with fresh_client(docker_runtime, swarm_testnet, {"alice": line}) as client:
            body = fetch.http_get_retry(f"http://{private}/", client.socks,
                                        timeout=120).body.decode()
        assert body == expected
        timings["private page fetched by alice (fresh client)"] = time.monotonic() - started

        # the receiver's device tokens came as a swarm secret: 0400, the service user's
        recv_container, recv = onion_of(f"{STACK}_swrecv")
        listing = docker("exec", recv_container, "ls", "-ln", "/etc/myonion/devices")
        assert listing.startswith("-r-------- 1 10001 10001"), listing
        assert docker("secret", "ls", "-q", "--filter", f"label={NAMESPACE}={STACK}")
        started = time.monotonic()
        body = fetch.http_get_retry(f"http://{recv}/", swarm_testnet.socks(),
                                    timeout=120).body.decode()
        assert "Swarm readings" in body
        timings["receiver page fetched"] = time.monotonic() - started

        # the swarm runs them as hardened as it can express
        spec = json.loads(docker("service", "inspect", f"{STACK}_swpublic", "--format",
                                 "{{json .Spec.TaskTemplate}}"))
        container = spec["ContainerSpec"]
        assert container["User"] == "10001:10001" and container["ReadOnly"] is True
        assert container["CapabilityDrop"] == ["ALL"]
        assert spec["Resources"]["Limits"] == {"MemoryBytes": 96 * 1024**2, "Pids": 64}
        host = json.loads(docker("inspect", "-f", "{{json .HostConfig}}", public_container))
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
        assert host["Memory"] == 96 * 1024**2 and host["PidsLimit"] == 64

        # a new task for the persistent service: same key (its volume), same address
        started = time.monotonic()
        docker("service", "update", "--force", "--detach=false", f"{STACK}_swprivate",
               timeout=300)
        replaced, again = onion_of(f"{STACK}_swprivate")
        assert replaced != private_container and again == private
        timings["persistent task replaced -> same address"] = time.monotonic() - started
        # the ephemeral ones' keys never touched a named volume (the receiver's data does)
        assert sorted(docker("volume", "ls", "-q", "--filter", f"label={NAMESPACE}={STACK}"
                             ).split()) == KEPT
        # removed and deployed again: the named volume kept the key, so the same address
        remove_stack()
        started = time.monotonic()
        docker("stack", "deploy", "-c", str(out), STACK, timeout=300)
        assert onion_of(f"{STACK}_swprivate")[1] == private
        timings["removed, deployed again -> same address"] = time.monotonic() - started
    finally:
        remove_stack()
        left = left_of_stack()
        # `docker stack rm` keeps named volumes (as `docker-compose down` does): the
        # persistent service's key, for a next deploy at the same address, and data
        for volume in left["volumes"]:
            docker("volume", "rm", volume, check=False)
        for what, seconds in timings.items():
            print(f"swarm: {what}: {seconds:.1f} s")
    left["volumes"].sort()
    assert left == {"services": [], "containers": [], "configs": [], "secrets": [],
                    "networks": [], "volumes": KEPT}, left
    assert left_of_stack()["volumes"] == []


def test_swarm_export_refuses_the_default_test_network(docker_runtime: DockerRuntime,
                                                       site_dir: Path, tmp_path: Path) -> None:
    """The default test network is a local bridge, which swarm services cannot join."""
    manager = Manager(runtime=docker_runtime, store=StateStore(),
                      testnet=Testnet(docker_runtime))
    path = site_dir.parent / "myonion.yaml"
    path.write_text("version: 1\nname: swrefused\nservices:\n  swrefused:\n"
                    "    template: site\n    options: {dir: ./site}\n")
    with pytest.raises(MyOnionError) as caught:
        deploy.export_compose(manager, deploy.load(path), tmp_path / "s.yaml", swarm=True)
    assert "services.swrefused.network" in str(caught.value)
    assert "--swarm" in str(caught.value)
    assert not (tmp_path / "s.yaml").exists()
