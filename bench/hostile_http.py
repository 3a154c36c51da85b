"""The attacks of bench/hostile.py on HTTP services: the receiver's CSV export, idle
connections to the receiver and the bridge's status page, and nginx's slow clients."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from hostile_core import PREFIX, Bench, baseline, say, wave
from hostile_net import Crowd, Try, http_try, socks_open, tries_during, tries_summary

RECEIVER_TOKEN = "bench-" + secrets.token_hex(12)
PROBE_TOKEN = "probe-" + secrets.token_hex(12)
#: a route the broker-only bridges need (never used: nothing is published on it)
NOWHERE = "a" * 55 + "d"


def reading(index: int, keys: int) -> bytes:
    """A reading of ``keys`` distinct keys (distinct from every other reading's too), ~12
    bytes each: 5,000 keys make ~60 KB."""
    data = {f"k{index:02d}{k:04d}": k % 10 for k in range(keys)}
    return json.dumps(data, separators=(",", ":")).encode()


def device_post(bench: Bench, address: str, device: str,
                token: str) -> Callable[[], Try]:
    """A device's POST of a small reading, as a real-client try."""
    body = json.dumps({"temp": 21.5}).encode()
    return lambda: http_try(bench.proxy, address, "POST", f"/api/v1/readings/{device}", 201,
                            body, {"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"})


class CsvLoad:
    """``count`` anonymous CSV exports at once (each on its own SOCKS user name, spread over
    4 circuits); the first ``abandon`` are given up after 3 s, the others wait for the answer
    (at most ``wait`` seconds)."""

    def __init__(self, bench: Bench, address: str, count: int, abandon: int,
                 wait: float) -> None:
        self.bench, self.address, self.wait = bench, address, wait
        self.count, self.abandon = count, abandon
        self.answers: list[dict[str, Any]] = []
        self._threads = [threading.Thread(target=self._one, args=(i,), daemon=True)
                         for i in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> list[dict[str, Any]]:
        for thread in self._threads:
            thread.join(timeout=self.wait + 40)
        return self.answers

    def _one(self, i: int) -> None:
        start = time.monotonic()
        row: dict[str, Any] = {"abandoned": i < self.abandon}
        try:
            sock = socks_open(self.bench.proxy, self.address, 80, 30, f"csv-{i % 4}")
        except OSError as e:
            self.answers.append({**row, "error": str(e)})
            return
        try:
            sock.sendall(f"GET /api/v1/readings/big?format=csv&limit=1000 HTTP/1.1\r\n"
                         f"Host: {self.address}\r\nConnection: close\r\n\r\n".encode())
            sock.settimeout(3 if i < self.abandon else self.wait)
            received = 0
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += len(chunk)
            row.update(bytes=received, seconds=round(time.monotonic() - start, 2))
        except OSError as e:
            row.update(seconds=round(time.monotonic() - start, 2), error=type(e).__name__)
        finally:
            sock.close()
        self.answers.append(row)


def attack_csv(bench: Bench, requests: int = 12, abandon: int = 8) -> dict[str, Any]:
    """1. A device posts 20 readings of ~60 KB with 5,000 distinct keys each, then anonymous
    visitors ask for the CSV export, some giving up; a device's POST and the page meanwhile."""
    name = f"{PREFIX}-csv"
    view = bench.share("iot-receiver", {"devices": f"big:{RECEIVER_TOKEN}\n"
                                        f"probe:{PROBE_TOKEN}"}, name)
    address = str(view.address)
    watch = bench.watch(name, ("data",))
    try:
        posted = []
        for index in range(20):
            body = reading(index, 5000)
            result = http_try(bench.proxy, address, "POST", "/api/v1/readings/big", 201, body,
                              {"Authorization": f"Bearer {RECEIVER_TOKEN}",
                               "Content-Type": "application/json"}, timeout=60)
            posted.append(result.ok)
        say(f"csv: posted {sum(posted)}/20 readings of {len(reading(0, 5000))} bytes")
        post = device_post(bench, address, "probe", PROBE_TOKEN)

        turn = itertools.count()

        def client() -> Try:  # a device's POST and a visitor's page, in turn
            if next(turn) % 2 == 0:
                return post()
            return http_try(bench.proxy, address, "GET", "/", 200)

        base = baseline(watch, client)
        watch.phase = "csv exports"
        load = CsvLoad(bench, address, requests, abandon, bench.window + bench.arrive)
        load.start()
        time.sleep(bench.arrive)
        tries = tries_during(client, bench.window, bench.every, 6)
        answers = load.join()
        watch.phase = "csv exports: after"
        time.sleep(bench.after)
        after_address = bench.address_now(name)
        waited = [a for a in answers if not a["abandoned"]]
        return {"attack": "csv", "service": "iot-receiver", "baseline": base,
                "readings_posted": sum(posted),
                "reading_bytes": len(reading(0, 5000)),
                "waves": [{"wave": f"{requests} CSV exports ({abandon} abandoned)",
                           "attackers": {"requests": requests, "abandoned": abandon,
                                         "answered": sum(1 for a in waited if a.get("bytes")),
                                         "answers": waited},
                           "client": tries_summary(tries),
                           "during": watch.summary("csv exports"),
                           "after": watch.summary("csv exports: after")}],
                "address_before": address, "address_after": after_address,
                "address_changed": after_address != address}
    finally:
        watch.stop()


def drip_crowd(bench: Bench, address: str, count: int, circuits: int, tag: str) -> Crowd:
    """Visitors that send the start of a request and then one header byte every 10 s."""
    return Crowd(bench.proxy, address, 80, count, circuits, "drip", tag,
                 first=f"GET / HTTP/1.1\r\nHost: {address}\r\n".encode())


def attack_idle(bench: Bench, count: int = 140) -> dict[str, Any]:
    """2. ``count`` idle (dripping) connections to the receiver, then to the bridge's status
    page; a device's POST / a status GET meanwhile."""
    recv_name, bridge_name = f"{PREFIX}-idle-recv", f"{PREFIX}-idle-bridge"
    receiver = bench.share("iot-receiver", {"devices": f"probe:{PROBE_TOKEN}"}, recv_name)
    routes = f"probe http://{receiver.address}/api/v1/readings/probe {PROBE_TOKEN}\n"
    # device "probe" (its secret generated: nothing logs in here); the page is on the onion's
    # port 80 whatever the LAN side speaks, so lan_tls keeps its default
    bridge = bench.share("mqtt-bridge", {"routes": routes, "devices": "probe"}, bridge_name)
    circuits = max(1, count // 14)  # 14 a circuit: under any per-circuit stream limit here
    waves = []
    for name, view, attempt in (
            (recv_name, receiver, device_post(bench, str(receiver.address), "probe",
                                              PROBE_TOKEN)),
            (bridge_name, bridge, lambda: http_try(bench.proxy, str(bridge.address), "GET",
                                                   "/", 200))):
        watch = bench.watch(name)
        try:
            base = baseline(watch, attempt)
            result = wave(bench, watch, f"{count} idle to {name}", [drip_crowd(
                bench, str(view.address), count, circuits, f"idle-{name}")], attempt)
            waves.append({**result, "baseline": base})
        finally:
            watch.stop()
    return {"attack": "idle", "service": "iot-receiver, mqtt-bridge", "waves": waves}


def attack_nginx(bench: Bench, half_sent: int = 300, stalled: int = 30) -> dict[str, Any]:
    """6. nginx: half-sent requests, then stalled downloads of a big file; a page GET
    meanwhile."""
    name = f"{PREFIX}-nginx"
    site = bench.workdir / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("<h1>hostile bench</h1>\n")
    with open(site / "big.bin", "wb") as f:
        f.write(os.urandom(16 * 2**20))
    for path in (bench.workdir, site):
        os.chmod(path, 0o755)
    os.chmod(site / "big.bin", 0o644)
    os.chmod(site / "index.html", 0o644)
    view = bench.share("site", {"dir": str(site)}, name)
    address = str(view.address)

    def attempt() -> Try:
        return http_try(bench.proxy, address, "GET", "/", 200)

    watch = bench.watch(name)
    try:
        base = baseline(watch, attempt)
        waves = [
            {**wave(bench, watch, f"{half_sent} half-sent requests", [
                drip_crowd(bench, address, half_sent, max(1, half_sent // 15), "half")],
                attempt), "baseline": base},
            wave(bench, watch, f"{stalled} stalled downloads", [Crowd(
                bench.proxy, address, 80, stalled, max(1, stalled // 14), "stall", "stall",
                first=f"GET /big.bin HTTP/1.1\r\nHost: {address}\r\n\r\n".encode())],
                attempt),
        ]
    finally:
        watch.stop()
    return {"attack": "nginx", "service": "site", "waves": waves}
