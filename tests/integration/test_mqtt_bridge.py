"""The mqtt-bridge template end to end: mosquitto_pub on the LAN side, readings in an
iot-receiver on another onion, nothing lost while the receiver is down."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator

import pytest

from myonion.errors import MyOnionError
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
from tests import lan

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

TOKEN = "kitchen-token-0123456789"
PASSWORD = "correct-horse-battery-staple"
LAN = f"myonion-mqttlan-{os.getpid()}"


@pytest.fixture
def lan_device(docker_runtime: DockerRuntime, real_manager: Manager) -> Iterator[str]:
    """A device on the LAN side: a container of ours with mosquitto_pub (removed after)."""
    with lan.lan_device(docker_runtime, real_manager, LAN) as name:
        yield name


def publish(runtime: DockerRuntime, bridge: str, message: dict, password: str = PASSWORD,
            device: str = "kitchen") -> tuple[int, str]:
    return runtime.exec(LAN, ["mosquitto_pub", "-h", container_name(bridge), "-p", "1883",
                              "-u", "sensors", "-P", password, "-q", "1",
                              "-t", f"readings/{device}", "-m", json.dumps(message)])


def readings(proxy: tuple[str, int], address: str) -> list[dict]:
    body = fetch.http_get(f"http://{address}/api/v1/readings/kitchen", proxy).body
    return [r["data"] for r in json.loads(body)["readings"]]


def wait_for(proxy: tuple[str, int], address: str, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        # the receiver's onion may need a moment after its start
        with contextlib.suppress(MyOnionError):
            found = readings(proxy, address)
        if len(found) >= count:
            return found
        time.sleep(1)
    return found


def test_lan_to_receiver_through_tor(real_manager: Manager, docker_runtime: DockerRuntime,
                                     lan_device: str) -> None:
    receiver = real_manager.share("iot-receiver", {"devices": f"kitchen:{TOKEN}"},
                                  name="mqttrecv", persistent=True, timeout=120)
    assert receiver.address
    started = time.monotonic()
    routes = f"kitchen http://{receiver.address}/api/v1/readings/kitchen {TOKEN}\n"
    bridge = real_manager.share("mqtt-bridge", {"routes": routes,
                                                "lan_users": f"sensors:{PASSWORD}"},
                                name="mqttbr", timeout=120)
    print(f"mqtt-bridge: share → reachable {time.monotonic() - started:.1f} s, "
          f"timings {bridge.timings}")
    proxy = real_manager.testnet.socks()

    code, out = publish(docker_runtime, "mqttbr", {"seq": 1})
    assert code == 0, out
    first = time.monotonic()
    assert wait_for(proxy, receiver.address, 1, 120) == [{"seq": 1}]
    print(f"mqtt-bridge: first reading published → stored in {time.monotonic() - first:.1f} s")

    # a wrong password is refused by the broker; so is a device without a route (the ACL names
    # the routed devices: no one stores retained messages on topics of their own)
    code, out = publish(docker_runtime, "mqttbr", {"seq": 99}, password="wrong-password-x")
    assert code != 0, out
    publish(docker_runtime, "mqttbr", {"seq": 98}, device="cellar")

    # the receiver goes away for a while: messages are queued and retried, not dropped
    real_manager.stop("mqttrecv")
    for seq in (2, 3, 4):
        assert publish(docker_runtime, "mqttbr", {"seq": seq})[0] == 0
    # each failed attempt may take tor up to the bridge's 45 s timeout to report
    deadline = time.monotonic() + 150
    logs = ""
    while time.monotonic() < deadline and logs.count("could not deliver #2") < 2:
        time.sleep(1)
        logs = "\n".join(docker_runtime.logs(container_name("mqttbr")))
    assert logs.count("could not deliver #2") >= 2, logs
    # the queue is on disk: a restart of the bridge itself loses nothing either
    real_manager.stop("mqttbr")
    real_manager.start("mqttbr", timeout=120)
    logs = "\n".join(docker_runtime.logs(container_name("mqttbr")))
    assert "queued from before: 3" in logs, logs
    back = time.monotonic()
    real_manager.start("mqttrecv", timeout=120)
    got = wait_for(proxy, receiver.address, 4, 240)
    print(f"mqtt-bridge: queued readings delivered {time.monotonic() - back:.1f} s after the "
          "receiver was started again")
    logs = "\n".join(docker_runtime.logs(container_name("mqttbr")))
    assert got == [{"seq": 1}, {"seq": 2}, {"seq": 3}, {"seq": 4}], logs

    print("\n".join(line for line in logs.splitlines() if "mqtt-bridge:" in line))
    assert logs.count("delivered #") >= 4 and "cellar" not in logs
    # delivered messages left the queue; the status page counts them (and nothing dropped)
    address = real_manager.address("mqttbr")  # ephemeral: a new one since the restart
    status = json.loads(fetch.http_get_retry(f"http://{address}/", proxy).body)
    assert status["delivered"] >= 4 and status["pending"] == 0 and status["dropped"] == 0
    assert status["queue"]["max_messages"] == 10000 and status["queue"]["messages"] == 0
    # after failures the bridge had its tor drop the stale descriptor (through the control port)
    assert "descriptors afresh" in logs
    assert TOKEN not in logs and PASSWORD not in logs
    shown = json.dumps(real_manager.status("mqttbr").to_dict())
    assert TOKEN not in shown and PASSWORD not in shown
    check = real_manager.template("mqtt-bridge").healthcheck["test"]
    assert docker_runtime.exec(container_name("mqttbr"), check[1:])[0] == 0
    real_manager.remove("mqttbr", purge=True)
    real_manager.remove("mqttrecv", purge=True)
