"""The attacks of bench/hostile.py on SSH and MQTT: silent connections to sshd, a LAN user's
flood into the MQTT bridge, and password guessing on the broker through the onion."""

from __future__ import annotations

import http.client
import json
import secrets
import shlex
import subprocess
import threading
import time
from typing import Any

from hostile_core import PREFIX, Bench, baseline, say, wave
from hostile_http import NOWHERE, PROBE_TOKEN, RECEIVER_TOKEN
from hostile_net import (
    Crowd,
    SocksHTTP,
    Try,
    mqtt_login,
    mqtt_try,
    ssh_try,
    tries_during,
    tries_summary,
)

from myonion.manager import container_name

# the repository's LAN device helper (tests/lan.py; hostile_net put the root on the path)
from tests import lan

PASSWORD = "bench-" + secrets.token_hex(10)
#: the real device's MQTT client id, the same on every login (as a device's is); each guess
#: takes a new one
REAL_CLIENT_ID = "bench-real-sensor"


def attack_ssh(bench: Bench, count: int = 70, per_circuit: int = 10) -> dict[str, Any]:
    """3. ``count`` silent connections to the ssh template's onion, all on one circuit and
    then spread over circuits of ``per_circuit``; real logins (OpenSSH through the SOCKS port,
    ProxyCommand nc -X 5, key auth) meanwhile."""
    name = f"{PREFIX}-ssh"
    key = bench.workdir / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f",
                        str(key)], check=True)
    view = bench.share("ssh", {"authorized_keys": key.with_suffix(".pub").read_text()}, name)
    address = str(view.address)
    known = bench.workdir / "known_hosts"

    def attempt() -> Try:
        return ssh_try(bench.proxy, address, key, known)

    watch = bench.watch(name)
    try:
        base = baseline(watch, attempt)
        waves = [{**wave(bench, watch, f"{count} silent, one circuit", [
            Crowd(bench.proxy, address, 22, count, 1, "silent", "ssh1")], attempt, limit=4),
            "baseline": base}]
        spread = max(1, -(-count // per_circuit))
        waves.append(wave(bench, watch, f"{count} silent over {spread} circuits", [
            Crowd(bench.proxy, address, 22, count, spread, "silent", "sshn")], attempt,
            limit=4))
    finally:
        watch.stop()
    return {"attack": "ssh", "service": "ssh", "waves": waves}


def _flood_command(bridge: str, password: str, count: int, size: int) -> list[str]:
    """A shell line for the LAN device: ``count`` JSON messages of ``size`` bytes, published
    as one user with QoS 1 (mosquitto_pub -l: one message a line)."""
    script = (f"import sys; line = '{{\"junk\": \"' + 'x' * {size - 12} + '\"}}\\n'; "
              f"sys.stdout.write(line * {count})")
    return ["sh", "-c", f"python3 -c {shlex.quote(script)} | mosquitto_pub -h "
            f"{container_name(bridge)} -p 1883 -u sensors -P {shlex.quote(password)} -q 1 "
            "-t readings/flood -l"]


def attack_flood(bench: Bench, count: int = 1500, size: int = 59 * 1024,
                 wait: float = 100.0) -> dict[str, Any]:
    """4. One LAN user publishes ``count`` messages of ``size`` bytes into the bridge; then
    another device's real reading: how long until the receiver has it (at most ``wait``)."""
    recv_name, bridge_name = f"{PREFIX}-flood-recv", f"{PREFIX}-flood-bridge"
    receiver = bench.share("iot-receiver", {"devices": f"flood:{RECEIVER_TOKEN}\n"
                                            f"real:{PROBE_TOKEN}"}, recv_name)
    base_url = f"http://{receiver.address}/api/v1/readings"
    routes = (f"flood {base_url}/flood {RECEIVER_TOKEN}\n"
              f"real {base_url}/real {PROBE_TOKEN}\n")
    bench.share("mqtt-bridge", {"routes": routes, "lan_users": f"sensors:{PASSWORD}"},
                bridge_name)
    device = f"{PREFIX}-lan-{secrets.token_hex(3)}"
    bridge_watch = bench.watch(bridge_name, ("queue",))
    recv_watch = bench.watch(recv_name, ("data",))
    try:
        with lan.lan_device(bench.runtime, bench.manager, device):
            bridge_watch.phase = recv_watch.phase = "flood"
            started = time.monotonic()
            code, out = bench.runtime.exec(device, _flood_command(bridge_name, PASSWORD, count,
                                                                  size))
            flood_s = round(time.monotonic() - started, 2)
            say(f"flood: {count} messages published in {flood_s} s (exit {code})")
            code_real, _ = bench.runtime.exec(device, [
                "mosquitto_pub", "-h", container_name(bridge_name), "-p", "1883", "-u",
                "sensors", "-P", PASSWORD, "-q", "1", "-t", "readings/real", "-m",
                json.dumps({"real": 1})])
            sent = time.monotonic()
            arrived = _wait_for_reading(bench, str(receiver.address), "real", wait)
            delay = round(arrived - sent, 2) if arrived else None
            say(f"flood: the real reading arrived after {delay} s (limit {wait} s)")
            bridge_watch.phase = recv_watch.phase = "flood: after"
            time.sleep(bench.after)
    finally:
        bridge_watch.stop()
        recv_watch.stop()
    return {"attack": "flood", "service": "mqtt-bridge", "waves": [{
        "wave": f"{count} MQTT messages of {size // 1024} KiB from one LAN user",
        "attackers": {"published_s": flood_s, "exit": code, "output": out[-300:]},
        "client": {"ok": 1 if delay is not None else 0, "n": 1, "ok_median_s": delay,
                   "ok_max_s": delay, "all_median_s": delay, "all_max_s": delay,
                   "published_exit": code_real, "waited_at_most_s": wait},
        "during": bridge_watch.summary("flood"), "after": bridge_watch.summary("flood: after"),
        "receiver_during": recv_watch.summary("flood"),
        "receiver_after": recv_watch.summary("flood: after")}]}


def _wait_for_reading(bench: Bench, address: str, device: str, wait: float) -> float | None:
    """When the receiver first had a reading of ``device`` (polled through the onion)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _readings_count(bench, address, device):
            return time.monotonic()
        time.sleep(2)
    return None


def _readings_count(bench: Bench, address: str, device: str) -> int:
    """How many readings of ``device`` the receiver returns (0 when it does not answer)."""
    conn = SocksHTTP(bench.proxy, address, 20)
    try:
        conn.request("GET", f"/api/v1/readings/{device}?limit=1")
        data = json.loads(conn.getresponse().read() or b"{}")
        return len(data.get("readings", []))
    except (OSError, ValueError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


class Guesser:
    """``workers`` password guessers on the broker through the onion, each on its own circuit,
    for as long as it runs: every try is a new connection, a CONNECT and its CONNACK."""

    def __init__(self, bench: Bench, address: str, workers: int) -> None:
        self.bench, self.address = bench, address
        self.tries = self.refused = self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(w,), daemon=True)
                         for w in range(workers)]

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=40)
        elapsed = time.monotonic() - self.started
        return {"workers": len(self._threads), "tries": self.tries, "refused": self.refused,
                "errors": self.errors, "seconds": round(elapsed, 1),
                "tries_per_s": round(self.tries / elapsed, 2)}

    def _run(self, worker: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                code = mqtt_login(self.bench.proxy, self.address, "sensors",
                                  f"guess-{worker}-{n}", 30, socks_user=f"guess-{worker}")
            except OSError:
                with self._lock:
                    self.errors += 1
                self._stop.wait(1.0)
                continue
            with self._lock:
                self.tries += 1
                self.refused += code != 0


def attack_broker(bench: Bench, workers: int = 4) -> dict[str, Any]:
    """5. Password guessing on the broker over the onion (onion_broker=true): tries a second
    achieved; a real device's login meanwhile."""
    name = f"{PREFIX}-broker"
    routes = f"probe http://{NOWHERE}.onion/api/v1/readings/probe {PROBE_TOKEN}\n"
    view = bench.share("mqtt-bridge", {"routes": routes, "lan_users": f"sensors:{PASSWORD}",
                                       "onion_broker": "true"}, name)
    address = str(view.address)

    def attempt() -> Try:
        # a device keeps its client id from one connection to the next (the broker keys its
        # session on it); the guessers take a new one each try
        return mqtt_try(bench.proxy, address, "sensors", PASSWORD, client_id=REAL_CLIENT_ID)

    watch = bench.watch(name)
    try:
        base = baseline(watch, attempt)
        watch.phase = "guessing"
        guesser = Guesser(bench, address, workers)
        guesser.start()
        time.sleep(bench.arrive)
        tries = tries_during(attempt, bench.window, bench.every, 5)
        guessed = guesser.stop()
        say(f"broker: {guessed}")
        watch.phase = "guessing: after"
        time.sleep(bench.after)
    finally:
        watch.stop()
    return {"attack": "broker", "service": "mqtt-bridge", "waves": [{
        "wave": f"password guessing, {workers} parallel", "baseline": base,
        "attackers": guessed, "client": tries_summary(tries),
        "during": watch.summary("guessing"), "after": watch.summary("guessing: after")}]}
