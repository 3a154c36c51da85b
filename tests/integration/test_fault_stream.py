"""The iot-receiver crashes while the mqtt-bridge keeps sending: no reading is lost.

A device on the LAN side publishes a numbered reading every half second; in the middle of the
stream the receiver's container is killed (SIGKILL of its init from the host, as a crash or the
OOM killer would). Docker's restart policy brings it back at the same address; the bridge keeps
what it could not deliver on disk and retries. Every reading must arrive, in order; the counts
are printed (``bench/suite_tables.py`` keeps them in ``bench/results/fault-stream.md``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from myonion.errors import MyOnionError
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
from tests import lan, tables

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

TOKEN = "faultstream-token-0123456789"
PASSWORD = "faultstream-password-01"
LAN = f"myonion-faultlan-{os.getpid()}"
COUNT = 60
KILL_AFTER = 15


@pytest.fixture
def lan_device(docker_runtime: DockerRuntime, real_manager: Manager) -> Iterator[str]:
    """A device on the LAN side: a container of ours with mosquitto_pub (removed after)."""
    with lan.lan_device(docker_runtime, real_manager, LAN) as name:
        yield name


def stored(proxy: tuple[str, int], address: str) -> list[int]:
    """The sequence numbers the receiver has stored, oldest first."""
    with contextlib.suppress(MyOnionError, ValueError, KeyError):
        body = fetch.http_get(f"http://{address}/api/v1/readings/kitchen?limit=10000", proxy,
                              timeout=30).body
        return [r["data"]["seq"] for r in json.loads(body)["readings"]]
    return []


def test_no_reading_lost_when_the_receiver_crashes(real_manager: Manager,
                                                   docker_runtime: DockerRuntime,
                                                   lan_device: str) -> None:
    receiver = real_manager.share("iot-receiver", {"devices": f"kitchen:{TOKEN}"},
                                  name="fault-recv", persistent=True, timeout=150)
    address = receiver.address
    assert address
    routes = f"kitchen http://{address}/api/v1/readings/kitchen {TOKEN}\n"
    real_manager.share("mqtt-bridge", {"routes": routes, "lan_users": f"sensors:{PASSWORD}"},
                       name="fault-br", timeout=150)
    proxy = real_manager.testnet.socks()
    failed: list[tuple[int, str]] = []
    killed = threading.Event()

    def device() -> None:
        for seq in range(1, COUNT + 1):
            code, out = docker_runtime.exec(LAN, [
                "mosquitto_pub", "-h", container_name("fault-br"), "-p", "1883", "-u",
                "sensors", "-P", PASSWORD, "-q", "1", "-t", "readings/kitchen", "-m",
                json.dumps({"seq": seq})])
            if code != 0:
                failed.append((seq, out))
            if seq == KILL_AFTER:
                killed.wait(30)
            time.sleep(0.5)

    sender = threading.Thread(target=device)
    started = time.monotonic()
    sender.start()
    deadline = time.monotonic() + 120
    while len(stored(proxy, address)) < 5:  # the stream is flowing end to end
        assert time.monotonic() < deadline, "no reading arrived before the crash"
        time.sleep(1)
    state = docker_runtime.client.api.inspect_container(container_name("fault-recv"))["State"]
    before = state["StartedAt"]
    os.kill(int(state["Pid"]), signal.SIGKILL)
    crashed = time.monotonic()
    killed.set()
    while not ((info := docker_runtime.get(container_name("fault-recv"))) and info.running
               and info.started_at != before):
        assert time.monotonic() - crashed < 60, "the receiver did not come back"
        time.sleep(0.2)
    back = time.monotonic() - crashed
    sender.join(timeout=COUNT * 3)
    assert not sender.is_alive() and failed == [], failed
    sent = time.monotonic()
    got: list[int] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        got = stored(proxy, address)
        if len(set(got)) >= COUNT:
            break
        time.sleep(2)
    all_in = time.monotonic() - sent
    logs = "\n".join(docker_runtime.logs(container_name("fault-br")))
    missing = sorted(set(range(1, COUNT + 1)) - set(got))
    duplicates = len(got) - len(set(got))
    retried = logs.count("could not deliver")
    line = (f"| {COUNT} | {len(set(got))} | {len(missing)} | {duplicates} | "
            f"{'yes' if got == sorted(got) else 'no'} | {back:.1f} | {retried} | "
            f"{all_in:.1f} | {time.monotonic() - started:.1f} |")
    tables.publish("fault-stream.md",
        "# The iot-receiver crashes while the mqtt-bridge keeps sending\n\n"
        f"Measured by `tests/integration/test_fault_stream.py` (run by `bench/suite_tables.py`) on "
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC (local test network): a LAN device publishes "
        f"{COUNT} numbered readings (QoS 1, one every 0.5 s); after the first readings arrive "
        "the receiver's container is killed (SIGKILL of its init) and Docker's restart policy "
        "brings it back at the same address.\n\n"
        "| sent | stored | lost | duplicates | in order | receiver back after (s) | "
        "failed deliveries retried | all stored after the last send (s) | total (s) |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + line + "\n")
    print("\n" + line)
    assert missing == [], (missing, logs[-3000:])
    assert got == sorted(got), got
    real_manager.remove("fault-br", purge=True)
    real_manager.remove("fault-recv", purge=True)
