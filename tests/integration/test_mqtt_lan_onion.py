"""The mqtt-bridge's two optional doors, end to end with paho (a real MQTT client):

- ``lan_port``: the broker published on this machine (127.0.0.1 here); a reading published there
  arrives in an iot-receiver on another onion. Without the option nothing is published.
- ``onion_broker``: the broker on the bridge's own onion, port 1883, through the test network's
  SOCKS port; the right password delivers, a wrong one is refused. Without it port 1883 is shut.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import socks

from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.testnet import NETWORK
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

TOKEN = "kitchen-token-0123456789"
PASSWORD = "correct-horse-battery-staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mqtt_publish(host: str, port: int, password: str, message: dict[str, Any],
                 proxy: tuple[str, int] | None = None, timeout: float = 60) -> str:
    """Connect as user "sensors" (through tor's SOCKS port when ``proxy``), publish one reading
    on readings/kitchen with QoS 1; returns "ok" or the broker's refusal."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set("sensors", password)
    if proxy is not None:
        client.proxy_set(proxy_type=socks.SOCKS5, proxy_addr=proxy[0], proxy_port=proxy[1],
                         proxy_rdns=True)
    connected = threading.Event()
    answer: list[Any] = []

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: Any,
                   properties: object) -> None:
        answer.append(reason)
        connected.set()

    client.on_connect = on_connect
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        assert connected.wait(timeout), "no CONNACK from the broker"
        if answer[0].is_failure:
            return str(answer[0])
        info = client.publish("readings/kitchen", json.dumps(message), qos=1)
        info.wait_for_publish(timeout)
        assert info.is_published()
        return "ok"
    finally:
        client.disconnect()
        client.loop_stop()


def readings(proxy: tuple[str, int], address: str, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        body = fetch.http_get(f"http://{address}/api/v1/readings/kitchen", proxy).body
        found = [r["data"] for r in json.loads(body)["readings"]]
        if len(found) >= count:
            break
        time.sleep(1)
    return found


def share_pair(manager: Manager, receiver: str, bridge: str,
               **options: object) -> tuple[str, str]:
    """An iot-receiver and a bridge routing device "kitchen" to it; their onion addresses."""
    recv = manager.share("iot-receiver", {"devices": f"kitchen:{TOKEN}"}, name=receiver,
                         timeout=120)
    assert recv.address
    routes = f"kitchen http://{recv.address}/api/v1/readings/kitchen {TOKEN}\n"
    view = manager.share("mqtt-bridge", {"routes": routes, "lan_users": f"sensors:{PASSWORD}",
                                         **options}, name=bridge, timeout=120)
    assert view.address and view.stage == "reachable"
    return recv.address, view.address


def test_lan_port_on_this_machine(real_manager: Manager, docker_runtime: DockerRuntime) -> None:
    port = free_port()
    receiver, bridge = share_pair(real_manager, "lanrecv", "lanbr", lan_port=port)
    proxy = real_manager.testnet.socks()
    info = docker_runtime.get(container_name("lanbr"))
    assert info is not None
    assert info.ports == {"1883/tcp": ("127.0.0.1", port)}  # loopback unless asked otherwise
    assert real_manager.status("lanbr").published == {"1883/tcp": f"127.0.0.1:{port}"}

    assert mqtt_publish("127.0.0.1", port, PASSWORD, {"seq": 1}) == "ok"
    assert readings(proxy, receiver, 1, 120) == [{"seq": 1}]
    refused = mqtt_publish("127.0.0.1", port, "wrong-password-x", {"seq": 99})
    assert refused != "ok", refused
    print(f"mqtt lan: wrong password refused with '{refused}'")

    # the onion's first port is the status page (what readiness and check fetched)
    status = json.loads(fetch.http_get_retry(f"http://{bridge}/", proxy, timeout=60).body)
    assert status["service"] == "myonion mqtt-bridge" and status["delivered"] >= 1
    # without onion_broker, the broker is not on the onion
    with pytest.raises(fetch.SocksError):
        fetch.socks_connect(proxy, bridge, 1883, timeout=60).close()
    assert readings(proxy, receiver, 2, 3) == [{"seq": 1}]  # the refused one never arrived


def test_broker_on_the_onion(real_manager: Manager, docker_runtime: DockerRuntime) -> None:
    receiver, bridge = share_pair(real_manager, "obrokerrecv", "obroker", onion_broker=True)
    proxy = real_manager.testnet.socks()
    info = docker_runtime.get(container_name("obroker"))
    assert info is not None
    # no lan_port: nothing published, and only on the (internal) test network
    assert info.ports == {} and set(info.ip_addresses) == {NETWORK}

    started = time.monotonic()
    assert mqtt_publish(bridge, 1883, PASSWORD, {"seq": 1}, proxy=proxy) == "ok"
    print(f"mqtt onion: connected and published through tor in "
          f"{time.monotonic() - started:.1f} s")
    assert readings(proxy, receiver, 1, 120) == [{"seq": 1}]
    # the broker saw the client arrive from tor, inside the container (not from a network)
    logs = "\n".join(docker_runtime.logs(container_name("obroker")))
    assert "from 127.0.0.1" in logs and "u'sensors'" in logs, logs[-2000:]
    refused = mqtt_publish(bridge, 1883, "wrong-password-x", {"seq": 99}, proxy=proxy)
    assert refused != "ok", refused
    print(f"mqtt onion: wrong password refused with '{refused}'")
    assert readings(proxy, receiver, 2, 3) == [{"seq": 1}]
    # guessing is throttled (issue 16: 60 tries in 13 s): 5 failures at once, then one each 10 s
    started = time.monotonic()
    for n in range(6):
        assert mqtt_publish(bridge, 1883, f"wrong-guess-{n:04d}", {"seq": 99}, proxy=proxy) != "ok"
    guessing = time.monotonic() - started
    started = time.monotonic()
    assert mqtt_publish(bridge, 1883, PASSWORD, {"seq": 2}, proxy=proxy) == "ok"
    print(f"mqtt onion: 6 more wrong passwords took {guessing:.1f} s; the right one then "
          f"{time.monotonic() - started:.1f} s")
    assert guessing >= 15
    logs = "\n".join(docker_runtime.logs(container_name("obroker")))
    assert "failed broker login(s) through the onion" in logs
