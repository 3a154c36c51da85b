"""The private-IoT gateway end to end (issue 20): the shipped Pi stack (compose/pi-iot-gateway)
brought up with `myonion up` and generated secrets, on the local test network, with real clients.

- mosquitto_pub over TLS with the gateway's CA; plaintext, and TLS against another CA, refused;
- curl PUT over HTTPS; paho (examples/device/device.py);
- device A publishing (MQTT) and PUTting (HTTP) as device B: refused, counted, never delivered;
- readings across a receiver outage all delivered, once, in order; the delivery log's lines;
- the gateway's health reported as a device of its own, with the services' states;
- a device added by one line of the file, while the stopped gateway holds queued readings:
  nothing lost;
- the dashboard fetched through the test network's SOCKS port by a headless Chromium.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from myonion.cli import main
from myonion.errors import MyOnionError
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
from tests.browser import screenshot
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

ROOT = Path(__file__).resolve().parents[2]
P = f"igw{os.getpid() % 100000}"
RECV, GW, SHELL = f"{P}-recv", f"{P}-gw", f"{P}-sh"


def stack(folder: Path, lan: int, http: int, more: str = "") -> Path:
    """compose/pi-iot-gateway/myonion.yaml with names of this test's own, free ports on
    loopback, health reports every 15 s and ``more`` devices."""
    text = (ROOT / "compose" / "pi-iot-gateway" / "myonion.yaml").read_text()
    for old, new in (("${receiver.", f"${{{RECV}."), ("\n  receiver:\n", f"\n  {RECV}:\n"),
                     ("\n  gateway:\n", f"\n  {GW}:\n"), ("\n  shell:\n", f"\n  {SHELL}:\n"),
                     ("name: pi-iot-gateway", f"name: {P}-stack"),
                     ("lan_port: 8883", f"lan_port: {lan}"),
                     ("lan_http_port: 8443", f"lan_http_port: {http}"),
                     ("lan_address: 0.0.0.0", "lan_address: 127.0.0.1"),
                     ("health_device: health", "health_device: health\n      health_interval: 15"),
                     ("        health\n", f"        health\n{more}")):
        assert old in text, old
        text = text.replace(old, new)
    folder.mkdir(exist_ok=True)
    if not (folder / "authorized_keys").exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(folder / "id")], check=True)
        shutil.copy(folder / "id.pub", folder / "authorized_keys")
    (folder / "myonion.yaml").write_text(text)
    return folder / "myonion.yaml"


def say(text: str) -> None:
    """A line of the test's report (past capsys, which the CLI's output goes to)."""
    print(text, file=sys.__stdout__, flush=True)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``myonion ARGS`` in this process; its standard output (it must succeed)."""
    capsys.readouterr()
    status = main(list(args))
    captured = capsys.readouterr()
    assert status == 0, captured.err[-3000:]
    return captured.out


def mosquitto_pub(port: int, device: str, secret: str, message: dict[str, Any],
                  topic: str | None = None, cafile: str | None = None) -> tuple[int, str]:
    command = ["mosquitto_pub", "-h", "localhost", "-p", str(port), "-u", device, "-P", secret,
               "-q", "1", "-t", topic or f"readings/{device}", "-m", json.dumps(message)]
    if cafile:
        command[1:1] = ["--cafile", cafile]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def curl_put(port: int, device: str, secret: str, message: dict[str, Any],
             cafile: str) -> int:
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cafile, "-X", "PUT",
         "-H", f"Authorization: Bearer {secret}", "-H", "Content-Type: application/json",
         "-d", json.dumps(message), f"https://localhost:{port}/api/v1/readings/{device}"],
        capture_output=True, text=True, timeout=60)
    return int(done.stdout or 0)


def readings(proxy: tuple[str, int], address: str, device: str) -> list[dict[str, Any]]:
    body = fetch.http_get(f"http://{address}/api/v1/readings/{device}?limit=10000", proxy,
                          timeout=60).body
    return [r["data"] for r in json.loads(body)["readings"]]


def wait_readings(proxy: tuple[str, int], address: str, device: str, done: Any,
                  timeout: float) -> list[dict[str, Any]]:
    """The device's readings once ``done(readings)`` is true (or the last seen at the end)."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(MyOnionError):
            found = readings(proxy, address, device)
            if done(found):
                return found
        time.sleep(2)
    return found


def logs(runtime: DockerRuntime, name: str) -> str:
    return "\n".join(runtime.logs(container_name(name)))


def wait_log(runtime: DockerRuntime, name: str, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = logs(runtime, name)
        if text in seen:
            return seen
        time.sleep(1)
    raise AssertionError(f"'{text}' not in the log of {name}:\n{seen[-3000:]}")


def test_the_pi_stack_end_to_end(real_manager: Manager, docker_runtime: DockerRuntime,
                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("mosquitto_pub") is None or shutil.which("chromium") is None:
        pytest.fail("scripts/setup-host.sh installs mosquitto-clients and chromium")
    lan, http = free_port(), free_port()
    path = stack(tmp_path / "stack", lan, http)
    try:
        started = time.monotonic()
        cli(capsys, "up", "-f", str(path), "--timeout", "240")
        say(f"iot gateway: `myonion up` of the Pi stack took "
              f"{time.monotonic() - started:.1f} s")
        run_the_stack(real_manager, docker_runtime, tmp_path, capsys, path, lan, http)
    finally:
        print(logs(docker_runtime, GW)[-6000:])
        with contextlib.suppress(MyOnionError):
            main(["down", "-f", str(path), "--purge"])


def run_the_stack(manager: Manager, runtime: DockerRuntime, tmp_path: Path,
                  capsys: pytest.CaptureFixture[str], path: Path, lan: int, http: int) -> None:
    since = time.time() - 5
    proxy = manager.testnet.socks()
    receiver = manager.address(RECV)
    gateway = manager.address(GW)
    ca = str(tmp_path / "ca.crt")
    shown = json.loads(cli(capsys, "secrets", GW, "--json", "--ca-file", ca))
    secret = {d["device"]: d["secret"] for d in shown["devices"]}
    assert set(secret) == {"kitchen", "garden", "health"} and all(
        len(s) == 32 for s in secret.values())
    fingerprint = subprocess.run(["openssl", "x509", "-in", ca, "-noout", "-fingerprint",
                                  "-sha256"], capture_output=True, text=True).stdout
    assert shown["tls"]["fingerprint"] == "SHA256:" + fingerprint.split("=")[1].strip()
    tokens = json.loads(cli(capsys, "secrets", RECV, "--json"))["devices"]
    assert not {t["secret"] for t in tokens} & set(secret.values())  # the gateway's are its own
    # nothing secret in the file, in status or in the container's environment
    text = path.read_text() + cli(capsys, "status", GW, "--json")
    assert not any(s in text for s in [*secret.values(), *(t["secret"] for t in tokens)])

    # MQTT over TLS with the gateway's CA; plaintext and another CA refused
    assert mosquitto_pub(lan, "kitchen", secret["kitchen"], {"via": "mosquitto_pub"},
                         cafile=ca)[0] == 0
    plain = mosquitto_pub(lan, "kitchen", secret["kitchen"], {"via": "plaintext"})
    other = mosquitto_pub(lan, "kitchen", secret["kitchen"], {"via": "other-ca"},
                          cafile="/etc/ssl/certs/ca-certificates.crt")
    say(f"iot gateway: plaintext MQTT → exit {plain[0]} ({plain[1].strip()}); TLS with "
          f"another CA → exit {other[0]} ({other[1].strip()})")
    assert plain[0] != 0 and other[0] != 0
    # HTTPS PUT (curl) and paho (the example device)
    assert curl_put(http, "garden", secret["garden"], {"via": "curl", "temp": 17.5}, ca) == 202
    device = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "device" / "device.py"), "--device", "kitchen",
         "--host", "localhost", "--cafile", ca, "--mqtt-port", str(lan), "--count", "20",
         "--every", "0.5"], env={**os.environ, "DEVICE_SECRET": secret["kitchen"]},
        capture_output=True, text=True, timeout=120)
    say(device.stdout)
    assert device.returncode == 0 and device.stdout.count(": published") == 20, device.stderr
    # kitchen speaking for garden: refused by the broker and by the HTTP door, counted
    assert mosquitto_pub(lan, "kitchen", secret["kitchen"], {"forged": True},
                         topic="readings/garden", cafile=ca)[0] == 0  # QoS 1 is acknowledged
    assert curl_put(http, "garden", secret["kitchen"], {"forged": True}, ca) == 403
    got = wait_readings(proxy, receiver, "kitchen", lambda r: len(r) >= 21, 180)
    assert [r.get("via") for r in got] == ["mosquitto_pub"] + [None] * 20
    assert [r["seq"] for r in got[1:]] == list(range(1, 21))  # in order, each once
    garden = wait_readings(proxy, receiver, "garden", lambda r: len(r) >= 1, 60)
    assert garden == [{"via": "curl", "temp": 17.5}]

    outage(manager, runtime, capsys, proxy, receiver, lan, http, ca, secret)
    status = json.loads(fetch.http_get_retry(f"http://{gateway}/", proxy, timeout=60).body)
    say(f"iot gateway: status page {status}")
    assert status["refused"] == 2 and status["delivered"] >= 27
    assert not re.search(r"kitchen|garden|health|readings/", json.dumps(status))
    assert [r for r in readings(proxy, receiver, "garden") if r.get("forged")] == []

    # the gateway's health, as a device of its own, with the services' states
    cli(capsys, "health", "snapshot")
    health = wait_readings(proxy, receiver, "health",
                           lambda r: any("services" in x for x in r), 120)
    report = next(x for x in reversed(health) if "services" in x)
    say(f"iot gateway: health report {report}")
    assert {"uptime_h", "load_1", "mem_used_pct", "disk_used_pct"} <= set(report)
    assert report["services"][RECV] == report["services"][GW] == "running"

    add_a_device(manager, runtime, capsys, proxy, receiver, path, lan, http, ca, secret)
    dashboard(proxy, receiver, tmp_path, since)


def outage(manager: Manager, runtime: DockerRuntime, capsys: pytest.CaptureFixture[str],
           proxy: tuple[str, int], receiver: str, lan: int, http: int, ca: str,
           secret: dict[str, str]) -> None:
    """The receiver away: readings (MQTT and HTTP by turns) wait in the gateway's queue and
    arrive once it is back, each once, in order; the delivery log has a line for each."""
    cli(capsys, "stop", RECV)
    for seq in range(1, 7):
        if seq % 2:
            assert mosquitto_pub(lan, "kitchen", secret["kitchen"], {"outage": seq},
                                 cafile=ca)[0] == 0
        else:
            assert curl_put(http, "kitchen", secret["kitchen"], {"outage": seq}, ca) == 202
    wait_log(runtime, GW, "could not deliver", 150)
    pending = json.loads(cli(capsys, "deliveries", GW, "--json"))["pending"]
    assert sum(1 for p in pending if p["device"] == "kitchen") == 6
    back = time.monotonic()
    cli(capsys, "start", RECV, "--timeout", "240")
    got = wait_readings(proxy, receiver, "kitchen",
                        lambda r: sum("outage" in x for x in r) >= 6, 300)
    say(f"iot gateway: 6 readings queued during the outage delivered "
          f"{time.monotonic() - back:.1f} s after the receiver was started again")
    assert [x["outage"] for x in got if "outage" in x] == [1, 2, 3, 4, 5, 6]
    log = json.loads(cli(capsys, "deliveries", GW, "--json", "-n", "500"))
    lines = [d for d in log["deliveries"] if d["device"] == "kitchen"]
    delivered = [d for d in lines if d["result"] == "delivered"]
    assert len(delivered) == 27 and all(d["received"] <= d["done"] for d in delivered)
    assert max(d["attempts"] for d in delivered[-6:]) >= 2  # retried while it was away
    refused = [d for d in log["deliveries"] if d["result"] == "refused"]
    assert [(d["device"], d["detail"]) for d in refused] == [
        ("kitchen", "sent as readings/garden"), ("kitchen", "sent as readings/garden")]
    table = cli(capsys, "deliveries", GW)
    say(table)
    assert "delivered" in table and "refused" in table


def add_a_device(manager: Manager, runtime: DockerRuntime, capsys: pytest.CaptureFixture[str],
                 proxy: tuple[str, int], receiver: str, path: Path, lan: int, http: int,
                 ca: str, secret: dict[str, str]) -> None:
    """One line more in the file: the receiver and the gateway are made again; the readings
    the stopped gateway held in its queue (a volume) are delivered by the new container."""
    cli(capsys, "stop", RECV)
    for seq in (1, 2):
        assert mosquitto_pub(lan, "kitchen", secret["kitchen"], {"kept": seq}, cafile=ca)[0] == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # queued (not only sent to the broker)
        pending = json.loads(cli(capsys, "deliveries", GW, "--json"))["pending"]
        if sum(1 for p in pending if p["device"] == "kitchen") == 2:
            break
        time.sleep(1)
    cli(capsys, "stop", GW)
    stack(path.parent, lan, http, more="        cellar\n")
    planned = cli(capsys, "up", "-f", str(path), "--dry-run")
    assert f"{RECV}: recreate" in planned and f"{GW}: recreate" in planned
    cli(capsys, "up", "-f", str(path), "--timeout", "240")
    queued = re.search(r"queued from before: (\d+)", logs(runtime, GW))
    assert queued is not None and int(queued.group(1)) >= 2
    got = wait_readings(proxy, receiver, "kitchen", lambda r: sum("kept" in x for x in r) >= 2,
                        240)
    assert [x["kept"] for x in got if "kept" in x] == [1, 2]
    now = {d["device"]: d["secret"]
           for d in json.loads(cli(capsys, "secrets", GW, "--json"))["devices"]}
    assert {k: now[k] for k in secret} == secret and len(now["cellar"]) == 32
    assert mosquitto_pub(lan, "cellar", now["cellar"], {"temp": 9.5}, cafile=ca)[0] == 0
    assert wait_readings(proxy, receiver, "cellar", lambda r: len(r) >= 1, 180) == [
        {"temp": 9.5}]


def dashboard(proxy: tuple[str, int], receiver: str, tmp_path: Path, since: float) -> None:
    """The dashboard as a browser shows it, through tor: the page, its charts (SVG), and a
    screenshot by headless Chromium of kitchen's and the Pi's readings over the test's time."""
    page = fetch.http_get(f"http://{receiver}/?range=1h", proxy, timeout=60)
    assert page.status == 200 and b'<img src="/chart/kitchen.svg' in page.body
    assert b"<script" not in page.body.lower() and b"Chart without SVG" in page.body
    chart = re.search(rb'<img src="(/chart/kitchen\.svg[^"]+)"', page.body)
    assert chart is not None
    svg = fetch.http_get(f"http://{receiver}{chart.group(1).decode().replace('&amp;', '&')}",
                         proxy, timeout=60)
    assert svg.status == 200 and svg.body.count(b"<polyline") >= 1
    folder = Path(os.environ.get("MYONION_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    window = f"from={since:.0f}&to={time.time() + 5:.0f}"
    for name, query in (("iot-dashboard.png", f"device=kitchen&{window}"),
                        ("iot-dashboard-health.png", f"device=health&{window}")):
        started = time.monotonic()
        output = folder / name
        done = screenshot(proxy, f"http://{receiver}/?{query}", output, size="1000,1400")
        say(f"iot gateway: Chromium through tor took {time.monotonic() - started:.1f} s; "
            f"screenshot {output}")
        assert output.is_file() and output.stat().st_size > 20_000, done.stderr[-2000:]
