"""The site template end to end on the real engine and the private Tor network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from myonion.errors import FetchError, NameInUse
from myonion.events import Stage
from myonion.manager import Manager, container_name
from myonion.onion import is_valid as is_valid_onion
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]


def inside_get(runtime: DockerRuntime, name: str, path: str) -> str:
    """GET a path from the service inside its own container (loopback only)."""
    script = (f"exec 3<>/dev/tcp/127.0.0.1/8080; printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3; "
              "cat <&3")
    code, output = runtime.exec(container_name(name), ["bash", "-c", script])
    assert code == 0, output
    return output.split("\r\n\r\n", 1)[1]


def test_share_fetch_stop_start_rm(real_manager: Manager, docker_runtime: DockerRuntime,
                                   site_dir: Path, events: list) -> None:
    view = real_manager.share("site", {"dir": str(site_dir)}, name="blog", timeout=90)
    assert view.state == "running" and view.stage == Stage.REACHABLE
    assert view.address and is_valid_onion(view.address)
    stages = [e.stage for e in events]
    for stage in (Stage.BUILDING, Stage.STARTING, Stage.BOOTSTRAPPING, Stage.PUBLISHED,
                  Stage.REACHABLE):
        assert stage in stages
    assert set(view.timings) >= {"bootstrapped", "published", "reachable"}

    expected = (site_dir / "index.html").read_text()
    proxy = real_manager.testnet.socks()
    body = fetch.http_get(f"http://{view.address}/", proxy).body.decode()
    assert body == expected
    assert inside_get(docker_runtime, "blog", "/data.txt") == "some data\n"
    # no server version leaks
    response = fetch.http_get(f"http://{view.address}/missing", proxy)
    assert response.status == 404 and response.headers.get("Server") == "nginx"

    check = real_manager.check("blog")
    assert check.reachable and check.status == 200

    first = view.address
    stopped = real_manager.stop("blog")
    assert stopped.state == "stopped" and stopped.address is None
    with pytest.raises(FetchError):
        fetch.http_get(f"http://{first}/", proxy, timeout=20)

    again = real_manager.start("blog", timeout=90)
    assert again.state == "running" and again.address and again.address != first
    assert fetch.http_get(f"http://{again.address}/", proxy).body.decode() == expected

    real_manager.remove("blog", purge=True)
    assert docker_runtime.get(container_name("blog")) is None
    assert docker_runtime.list_volumes({"org.myonion.service": "blog"}) == []
    assert not any(v.startswith("myonion-blog") for v in
                   docker_runtime.list_volumes({}))
    assert real_manager.list() == []


def test_persistent_keeps_its_address(real_manager: Manager, docker_runtime: DockerRuntime,
                                      site_dir: Path) -> None:
    view = real_manager.share("site", {"dir": str(site_dir)}, name="keep", persistent=True,
                              timeout=90)
    real_manager.stop("keep")
    again = real_manager.start("keep", timeout=90)
    assert again.address == view.address
    assert real_manager.check("keep").reachable
    real_manager.remove("keep", purge=True)
    assert not any(v.startswith("myonion-keep") for v in docker_runtime.list_volumes({}))


def test_default_page_and_name_in_use(real_manager: Manager) -> None:
    view = real_manager.share("site", {}, name="plain", timeout=90)
    body = fetch.http_get(f"http://{view.address}/", real_manager.testnet.socks()).body
    assert b"It works" in body
    with pytest.raises(NameInUse):
        real_manager.share("site", {}, name="plain")


def test_service_death_stops_the_container(real_manager: Manager,
                                           docker_runtime: DockerRuntime) -> None:
    real_manager.share("site", {}, name="fragile", wait=False)
    name = container_name("fragile")
    code, out = docker_runtime.exec(name, ["bash", "-c", "kill $(cat /tmp/nginx.pid)"])
    assert code == 0, out
    # the supervisor stops the container with a failure status; the restart policy restarts it
    found = ""
    for _ in range(100):
        found = "\n".join(docker_runtime.logs(name))
        if "exited with status" in found:
            break
        import time

        time.sleep(0.1)
    assert "the service (nginx) exited" in found


def test_failed_build_shows_log_and_leaves_nothing(real_manager: Manager,
                                                   docker_runtime: DockerRuntime,
                                                   myonion_home: Path) -> None:
    from myonion import paths
    from myonion.errors import BuildFailed
    from myonion.templates import TemplateRegistry

    folder = paths.user_templates_dir() / "broken"
    folder.mkdir(parents=True)
    (folder / "template.yaml").write_text(
        "id: broken\ntitle: Broken\ndescription: fails to build\n"
        "ports: [{virtual: 80, target: 8080}]\n")
    (folder / "Dockerfile.j2").write_text(
        "FROM {{ tor_image }}\nRUN echo about to fail && false\n")
    (folder / "torrc.j2").write_text('{% include "torrc-common.j2" %}\n')
    real_manager.registry = TemplateRegistry()
    with pytest.raises(BuildFailed) as info:
        real_manager.share("broken", {}, name="broken")
    assert "about to fail" in (info.value.detail or "")
    assert real_manager.list() == []
    assert docker_runtime.get(container_name("broken")) is None


def test_cli_end_to_end(real_manager: Manager, site_dir: Path) -> None:
    env = {**os.environ, "MYONION_NETWORK": "local"}

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "myonion.cli", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert (proc.returncode == 0) == ok, proc.stderr
        return proc

    shared = json.loads(cli("share", "site", "-o", f"dir={site_dir}", "--name", "clidemo",
                            "--json").stdout)
    address = shared["address"]
    assert is_valid_onion(address) and shared["stage"] == "reachable"
    listed = json.loads(cli("ls", "--json").stdout)
    assert [s["address"] for s in listed if s["name"] == "clidemo"] == [address]
    assert json.loads(cli("status", "clidemo", "--json").stdout)["state"] == "running"
    assert cli("address", "clidemo").stdout.strip() == address
    assert "█" in cli("address", "clidemo", "--qr").stdout or "▀" in cli(
        "address", "clidemo", "--qr").stdout
    assert "Bootstrapped 100%" in cli("logs", "clidemo").stdout
    assert json.loads(cli("check", "clidemo", "--json").stdout)["reachable"] is True
    assert cli("fetch", f"http://{address}/").stdout == (site_dir / "index.html").read_text()
    again = cli("share", "site", "--name", "clidemo", ok=False)
    assert again.returncode == 1 and "exists already" in again.stderr
    cli("stop", "clidemo")
    assert cli("check", "clidemo", ok=False).returncode == 1
    cli("rm", "clidemo")
    assert json.loads(cli("ls", "--json").stdout) == []
