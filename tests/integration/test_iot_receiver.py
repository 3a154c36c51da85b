"""The iot-receiver template end to end: curl and Python post readings through the onion."""

from __future__ import annotations

import http.client
import json
import subprocess
import time

import pytest

from myonion.events import Stage
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
from tests.crowd import idle_crowd
from tests.torclient import fresh_client

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

TOKEN = "kitchen-token-0123456789"
DEVICES = f"kitchen:{TOKEN}\ngarden\n# a comment\n"


class SocksHTTP(http.client.HTTPConnection):
    """Python's own http.client, its socket opened through tor's SOCKS port (names by tor)."""

    def __init__(self, proxy: tuple[str, int], host: str, timeout: float = 60) -> None:
        super().__init__(host, 80, timeout=timeout)
        self.proxy = proxy

    def connect(self) -> None:
        self.sock = fetch.socks_connect(self.proxy, self.host, self.port, self.timeout or 60)


def request(proxy: tuple[str, int], address: str, method: str, path: str,
            body: bytes | None = None, token: str | None = None) -> tuple[int, bytes, dict]:
    conn = SocksHTTP(proxy, address)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def curl(proxy: tuple[str, int], *args: str) -> tuple[int, str]:
    host, port = proxy
    proc = subprocess.run(["curl", "-sS", "--max-time", "60", "--socks5-hostname",
                           f"{host}:{port}", "-w", "\n%{http_code}", *args],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    body, _, code = proc.stdout.rpartition("\n")
    return int(code), body


def test_readings_in_and_out(real_manager: Manager, docker_runtime: DockerRuntime) -> None:
    started = time.monotonic()
    view = real_manager.share("iot-receiver", {"devices": DEVICES, "max_body": 1024,
                                               "title": "Home sensors"},
                              name="iottest", persistent=True, timeout=120)
    print(f"iot-receiver: share → reachable {time.monotonic() - started:.1f} s, "
          f"timings {view.timings}")
    assert view.stage == Stage.REACHABLE and view.address
    proxy = real_manager.testnet.socks()
    base = f"http://{view.address}/api/v1/readings"
    # a generated token for the device given without one, printed by the tokens command
    # as the service's user: the readings and tokens are its own (root in the container has no
    # capability to read them)
    code, out = docker_runtime.exec(container_name("iottest"), ["iot-receiver", "tokens"],
                                    user="10002:10002")
    assert code == 0, out
    tokens = dict(line.split(":", 1) for line in out.split())
    assert tokens["kitchen"] == TOKEN and len(tokens["garden"]) >= 16

    # curl: POST and PUT
    code, body = curl(proxy, "-H", f"Authorization: Bearer {TOKEN}", "-d",
                      '{"temp": 21.5}', f"{base}/kitchen")
    assert code == 201 and json.loads(body)["device"] == "kitchen"
    code, _ = curl(proxy, "-X", "PUT", "-H", f"Authorization: Bearer {TOKEN}", "-H",
                   "Content-Type: application/json", "-d",
                   '{"temp": 22, "note": "<script>alert(1)</script>"}', f"{base}/kitchen")
    assert code == 201
    # Python's http.client
    status, body, _ = request(proxy, view.address, "POST", "/api/v1/readings/garden",
                              json.dumps({"moisture": 0.31, "formula": "=1+1"}).encode(),
                              tokens["garden"])
    assert status == 201, body

    # bad input: 4xx, nothing stored
    bad = [
        ("POST", "kitchen", b"{not json", TOKEN, 400),
        ("POST", "kitchen", b"[1, 2]", TOKEN, 400),
        ("POST", "kitchen", b'{"t": NaN}', TOKEN, 400),
        ("POST", "kitchen", b'{"t": 1}', "wrong-token-wrong-token", 401),
        ("POST", "kitchen", b'{"t": 1}', tokens["garden"], 401),
        ("POST", "kitchen", b'{"t": 1}', None, 401),
        ("PUT", "cellar", b'{"t": 1}', TOKEN, 404),
        ("POST", "Kitchen", b'{"t": 1}', TOKEN, 404),
        ("POST", "kitchen", json.dumps({"x": "a" * 2000}).encode(), TOKEN, 413),
        ("DELETE", "kitchen", None, TOKEN, 501),
    ]
    for method, device, payload, token, expected in bad:
        status, body, _ = request(proxy, view.address, method, f"/api/v1/readings/{device}",
                                  payload, token)
        assert status == expected, (method, device, payload, status, body)
    code, _ = curl(proxy, "-H", f"Authorization: Bearer {TOKEN}", "-d", "x" * 5000,
                   f"{base}/kitchen")
    assert code == 413

    # read back: JSON (Python) and CSV (curl)
    status, body, _ = request(proxy, view.address, "GET", "/api/v1/readings/kitchen")
    readings = json.loads(body)["readings"]
    assert status == 200 and [r["data"] for r in readings] == [
        {"temp": 21.5}, {"temp": 22, "note": "<script>alert(1)</script>"}]
    code, text = curl(proxy, f"{base}/garden?format=csv")
    lines = text.splitlines()
    assert code == 200 and lines[0] == "id,received,moisture,formula"
    assert lines[1].endswith(",0.31,'=1+1")  # no spreadsheet formula
    # the page: latest reading per device, everything escaped
    page = fetch.http_get(f"http://{view.address}/", proxy)
    assert page.status == 200 and b"Home sensors" in page.body
    assert b"<script>" not in page.body and b"&lt;script&gt;" in page.body
    assert page.headers.get("Server") == "myonion-iot"
    # tokens never reach the log nor status
    logs = "\n".join(docker_runtime.logs(container_name("iottest")))
    assert TOKEN not in logs and tokens["garden"] not in logs
    assert TOKEN not in json.dumps(real_manager.status("iottest").to_dict())

    # a restart keeps the readings and the generated token (persistent: same address too)
    real_manager.stop("iottest")
    again = real_manager.start("iottest", timeout=120)
    assert again.address == view.address
    status, body, _ = request(proxy, again.address, "GET", "/api/v1/readings/kitchen")
    assert status == 200 and len(json.loads(body)["readings"]) == 2
    status, _, _ = request(proxy, again.address, "POST", "/api/v1/readings/garden",
                           b'{"moisture": 0.4}', tokens["garden"])
    assert status == 201
    code, text = curl(proxy, f"{base}/garden")
    assert [r["data"]["moisture"] for r in json.loads(text)["readings"]] == [0.31, 0.4]

    # the template's HEALTHCHECK command passes inside the container
    check = real_manager.template("iot-receiver").healthcheck["test"]
    code, out = docker_runtime.exec(container_name("iottest"), check[1:])
    assert code == 0, out

    real_manager.remove("iottest", purge=True)
    assert not any(v.startswith("myonion-iottest") for v in docker_runtime.list_volumes({}))


def service_threads(runtime: DockerRuntime, name: str) -> int:
    """The threads of every process in the container (pids count threads)."""
    code, out = runtime.exec(container_name(name), [
        "bash", "-c", "n=0; for s in /proc/[0-9]*/status; do "
        "t=$(sed -n 's/^Threads:[[:space:]]*//p' \"$s\" 2>/dev/null); n=$((n + ${t:-0})); done; "
        "echo $n"])
    assert code == 0, out
    return int(out.strip())


def test_a_device_posts_while_an_idle_crowd_holds_140_connections(
        real_manager: Manager, docker_runtime: DockerRuntime) -> None:
    """Issue 16: 140 idle connections (a thread each) took the receiver to its pid limit and the
    device's POST got no answer. The crowd comes through a tor client of its own."""
    view = real_manager.share("iot-receiver", {"devices": DEVICES}, name="iotcrowd", timeout=120)
    assert view.address
    proxy = real_manager.testnet.socks()
    before = service_threads(docker_runtime, "iotcrowd")
    with fresh_client(docker_runtime, real_manager.testnet) as attacker, \
            idle_crowd(attacker.socks, view.address, 80, 140) as crowd:
        # the service closed the oldest idle ones to stay within max_connections (64), and the
        # crowd opened them again: the pressure is on
        deadline = time.monotonic() + 60
        while crowd.closed_by_service < 140 - 64 and time.monotonic() < deadline:
            time.sleep(0.2)
        during = service_threads(docker_runtime, "iotcrowd")
        latencies = []
        for n in range(3):
            started = time.monotonic()
            status, body, _ = request(proxy, view.address, "POST", "/api/v1/readings/kitchen",
                                      json.dumps({"seq": n}).encode(), TOKEN)
            latencies.append(time.monotonic() - started)
            assert status == 201, body
        page = fetch.http_get(f"http://{view.address}/", proxy, timeout=60)
        print(f"\niot-receiver: with a crowd of 140 idle connections through the onion "
              f"({crowd.opened} opened, {crowd.closed_by_service} closed by the service and "
              f"opened again, {crowd.held()} open now): POST 201 in "
              f"{', '.join(f'{t:.2f}' for t in latencies)} s; page {page.status}; threads in "
              f"the container {before} → {during}")
        assert page.status == 200 and max(latencies) < 30
        assert crowd.closed_by_service >= 140 - 64
        assert during < 64  # far from the pids limit (128): no thread per connection
    logs = "\n".join(docker_runtime.logs(container_name("iotcrowd")))
    assert "Traceback" not in logs and TOKEN not in logs
    real_manager.remove("iotcrowd")
