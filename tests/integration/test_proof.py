"""'Reachable' means the service works, and one command loses nothing a user made (issue 15).

On the real engine and the local test network, through the real CLI and a separate tor client:
- a site whose folder gives visitors an error is not reported reachable: `share` exits 1 and
  says why; a running site whose page goes away becomes "failing" on `check`, with the reason;
- `rm` of a persistent iot-receiver keeps its key, client keys and readings: `ls` lists it,
  `start` brings it back at the same address with its readings, `rm --purge` deletes them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

TOKEN = "proof-token-0123456789"


def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYONION_NETWORK": "local"}
    proc = subprocess.run([sys.executable, "-m", "myonion.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert (proc.returncode == 0) == ok, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_a_site_that_answers_403_is_not_reachable(real_manager: Manager,
                                                  docker_runtime: DockerRuntime,
                                                  tmp_path: Path) -> None:
    empty = tmp_path / "no-index"
    empty.mkdir()
    (empty / "notes.txt").write_text("no index.html here, and listing is off\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(empty, 0o755)
    failed = cli("share", "site", "-o", f"dir={empty}", "--name", "proof403", ok=False)
    print(failed.stderr)
    assert failed.returncode == 1
    assert "published, but it does not work" in failed.stderr
    assert "nginx answers 403" in failed.stderr and "hint:" in failed.stderr
    assert "reachable" not in failed.stdout.lower()
    # nothing is left behind of a share that did not work
    assert docker_runtime.get(container_name("proof403")) is None
    assert "proof403" not in cli("ls").stdout


def test_a_running_site_whose_page_goes_away_is_failing(real_manager: Manager,
                                                       docker_runtime: DockerRuntime,
                                                       site_dir: Path) -> None:
    real_manager.share("site", {"dir": str(site_dir)}, name="proofgone", timeout=120)
    ok = json.loads(cli("check", "proofgone", "--json").stdout)
    assert ok["reachable"] and ok["probes"][0]["status"] == 200
    (site_dir / "index.html").unlink()
    failing = cli("check", "proofgone", "--json", ok=False)
    result = json.loads(failing.stdout)
    assert not result["reachable"] and result["onion_up"]
    assert result["error"].startswith("nginx answers 404") or \
        result["error"].startswith("nginx answers 403"), result
    human = cli("check", "proofgone", ok=False)
    assert "onion up, but the service fails: nginx answers" in human.stderr
    status = json.loads(cli("status", "proofgone", "--json").stdout)
    assert status["stage"] == "failing" and "nginx answers" in status["reason"]
    listed = cli("ls")
    assert "failing" in listed.stdout and "proofgone: the onion answers, but nginx answers" in \
        listed.stderr.replace("\n", " ")
    real_manager.remove("proofgone", purge=True)


def test_rm_keeps_what_a_persistent_service_made(real_manager: Manager,
                                                 docker_runtime: DockerRuntime) -> None:
    shared = json.loads(cli("share", "iot-receiver", "-o", f"devices=kitchen:{TOKEN}",
                            "--name", "proofkeep", "--persistent", "--client", "alice",
                            "--json").stdout)
    address = shared["address"]
    proxy = real_manager.testnet.socks()
    for n in range(3):
        posted = fetch_post(proxy, address, {"n": n})
        assert posted == 201, posted
    removed = cli("rm", "proofkeep")
    assert f"kept its onion key ({address}), 1 client key(s), its data" in removed.stderr
    assert docker_runtime.get(container_name("proofkeep")) is None
    volumes = docker_runtime.list_volumes({"org.myonion.service": "proofkeep"})
    assert {"myonion-proofkeep-tor", "myonion-proofkeep-data"} <= set(volumes)
    listed = json.loads(cli("ls", "--json").stdout)
    kept = [s for s in listed if s["name"] == "proofkeep"]
    assert kept and kept[0]["state"] == "stopped" and "rm --purge proofkeep" in kept[0]["reason"]
    assert "alice" in cli("clients", "ls", "proofkeep").stdout
    # back at the same address, with its readings
    again = json.loads(cli("start", "proofkeep", "--json").stdout)
    assert again["address"] == address and again["stage"] == "reachable"
    line = real_manager.client_line("proofkeep", "alice")  # alice's key was kept, too
    assert line.startswith(address.removesuffix(".onion"))
    code, body = fetch_get(real_manager, "proofkeep", address)
    assert code == 200 and [r["data"]["n"] for r in body["readings"]] == [0, 1, 2]
    # --purge deletes them
    cli("rm", "--purge", "proofkeep")
    assert docker_runtime.list_volumes({"org.myonion.service": "proofkeep"}) == []
    assert "proofkeep" not in cli("ls").stdout


def fetch_post(proxy: tuple[str, int], address: str, data: dict[str, int]) -> int:
    sock = fetch.socks_connect(proxy, address, 80, timeout=60)
    try:
        body = json.dumps(data).encode()
        sock.sendall(f"POST /api/v1/readings/kitchen HTTP/1.0\r\nHost: {address}\r\n"
                     f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return int(sock.recv(64).split()[1])
    finally:
        sock.close()


def fetch_get(manager: Manager, name: str, address: str) -> tuple[int, dict[str, object]]:
    """GET the readings through the test network's client, which has alice's key."""
    response = fetch.http_get_retry(f"http://{address}/api/v1/readings/kitchen",
                                    manager.testnet.socks(), timeout=60)
    return response.status, json.loads(response.body)


def test_a_forward_is_reachable_only_when_its_target_answers(
        real_manager: Manager, docker_runtime: DockerRuntime) -> None:
    """A forward whose target refuses is not reachable (share exits 1 with the target's own
    refusal); once the target answers, check says reachable, through the onion."""
    from myonion import testnet
    from myonion.build import images
    from myonion.runtime.base import ContainerSpec

    target = f"proof-target-{os.getpid()}"
    image = images.template_image(docker_runtime, real_manager.template("forward"),
                                  lambda event: None)
    docker_runtime.create(ContainerSpec(
        name=target, image=image, labels={"org.myonion.test": "proof-target"},
        entrypoint=["sleep", "infinity"], command=[], user="10002:10002",
        tmpfs={"/tmp": "rw,nosuid,nodev,size=8m"}, network=testnet.NETWORK, hostname=target))
    try:
        docker_runtime.start(target)
        failed = cli("share", "forward", "-o", f"target_host={target}", "-o",
                     "target_port=8123", "--name", "proofdead", ok=False)
        print(failed.stderr)
        assert "published, but it does not work" in failed.stderr
        assert f"the forward: target {target}:8123" in failed.stderr
        assert "refused the connection" in failed.stderr
        assert docker_runtime.get(container_name("proofdead")) is None
        # the target answers now: the same forward is reachable
        docker_runtime.client.containers.get(target).exec_run(
            ["python3", "-m", "http.server", "8123", "--bind", "0.0.0.0", "--directory", "/tmp"],
            detach=True, user="10002:10002")
        shared = json.loads(cli("share", "forward", "-o", f"target_host={target}", "-o",
                                "target_port=8123", "--name", "proofalive", "--json").stdout)
        assert shared["stage"] == "reachable"
        checked = json.loads(cli("check", "proofalive", "--json").stdout)
        assert checked["reachable"] and "answered" in checked["probes"][0]["detail"]
        real_manager.remove("proofalive", purge=True)
    finally:
        docker_runtime.remove(target)
