"""The forward template end to end: an HTTP server in a container of ours, reached via the onion."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from myonion import fetch, images, testnet
from myonion.events import Stage
from myonion.manager import Manager, container_name
from myonion.runtime.base import ContainerSpec
from myonion.runtime.docker import DockerRuntime

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

TARGET = f"myonion-fwdtarget-{os.getpid()}"
MARKER = f"forwarded {os.getpid()}"


@pytest.fixture
def target(docker_runtime: DockerRuntime, real_manager: Manager) -> Iterator[str]:
    """A plain HTTP server on port 8000 of a container on the test network (ours; removed)."""
    image = images.template_image(docker_runtime, real_manager.template("iot-receiver"),
                                  lambda event: None)
    script = (f"mkdir -p /tmp/www && echo '{MARKER}' > /tmp/www/index.html && "
              "exec python3 -m http.server 8000 --bind 0.0.0.0 --directory /tmp/www")
    docker_runtime.create(ContainerSpec(
        name=TARGET, image=image, labels={"org.myonion.test": "forward-target"},
        entrypoint=["bash", "-c", script], command=[], user="10001:10001",
        tmpfs={"/tmp": "rw,nosuid,nodev,size=8m"}, network=testnet.NETWORK, hostname=TARGET))
    try:
        docker_runtime.start(TARGET)
        yield TARGET
    finally:
        docker_runtime.remove(TARGET)


def test_forward_reaches_a_service_elsewhere(real_manager: Manager,
                                             docker_runtime: DockerRuntime, target: str) -> None:
    started = time.monotonic()
    view = real_manager.share("forward", {"target_host": target, "target_port": 8000},
                              name="fwdtest", timeout=120)
    print(f"forward: share → reachable {time.monotonic() - started:.1f} s, "
          f"timings {view.timings}")
    assert view.stage == Stage.REACHABLE and view.address
    proxy = real_manager.testnet.socks()
    response = fetch.http_get(f"http://{view.address}/", proxy)
    assert response.status == 200 and response.body.decode().strip() == MARKER
    # python's http.server names itself: the visitor sees the target's answer, nothing added
    assert response.headers.get("Server", "").startswith("SimpleHTTP")
    assert fetch.http_get(f"http://{view.address}/missing", proxy).status == 404
    # healthy while the target answers
    check = real_manager.template("forward").healthcheck["test"]
    code, out = docker_runtime.exec(container_name("fwdtest"), check[1:])
    assert code == 0, out
    # forwarder listens on loopback only
    code, out = docker_runtime.exec(container_name("fwdtest"), [
        "bash", "-c", "awk 'NR>1 && $4==\"0A\" {print $2}' /proc/net/tcp"])
    assert "0100007F:1F90" in out.split() and all(a[6:8] == "7F" for a in out.split()), out

    # the target gone: the onion still answers the connection, but no HTTP comes back
    docker_runtime.kill(target)
    code, out = docker_runtime.exec(container_name("fwdtest"), check[1:])
    assert code != 0
    with pytest.raises(fetch.FetchError):
        fetch.http_get(f"http://{view.address}/", proxy, timeout=30)
    real_manager.remove("fwdtest", purge=True)
