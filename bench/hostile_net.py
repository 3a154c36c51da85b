"""Connections through the test network's tor client for bench/hostile.py: an attacking crowd
that holds connections open, and the "real client" whose answers are timed.

A visitor arrives at an onion service through a tor client's SOCKS port. tor puts streams that
ask with different SOCKS user names on different circuits (``IsolateSOCKSAuth``, on by
default), so the attackers here log in to SOCKS as ``<tag>-<k>`` (k < ``circuits``): one name
puts the whole crowd on one circuit, as a naive attacker would; several spread it over as many
circuits, which tor's per-circuit stream limit cannot stop. The real client asks without a user
name, so it never shares a circuit with an attacker (a real visitor uses another tor anyway).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# SOCKS with circuits by user name is tests/crowd.py's, found from the repository root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.crowd import Proxy, SocksRefused, recv_exactly, socks_open

__all__ = ["Proxy", "SocksRefused", "socks_open"]


# --- the attacking crowd ------------------------------------------------------------------

@dataclass
class CrowdStats:
    opened: int = 0
    refused: int = 0  # SOCKS errors and timeouts while opening
    closed_by_service: int = 0
    answers: int = 0  # connections on which the service sent something (e.g. a 408)
    open_now: int = 0
    peak_open: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Crowd:
    """``count`` attacker connections to ``host:port`` through ``proxy``, spread over
    ``circuits`` SOCKS user names, each opened with ``first`` and then, by ``mode``:

    - ``silent``: nothing more is sent; re-opened when the service closes it;
    - ``drip``: one byte of ``drip_bytes`` every ``interval`` seconds (a request that never
      ends); re-opened when closed;
    - ``stall``: nothing is read ever again (a stalled download); held until the end.

    A member opens at most one connection a second.
    """

    def __init__(self, proxy: Proxy, host: str, port: int, count: int, circuits: int,
                 mode: str, tag: str, first: bytes = b"", drip_bytes: bytes = b"X-a: b\r\n",
                 interval: float = 10.0) -> None:
        self.proxy, self.host, self.port = proxy, host, port
        self.count, self.circuits, self.mode, self.tag = count, max(1, circuits), mode, tag
        self.first, self.drip_bytes, self.interval = first, drip_bytes, interval
        self.stats = CrowdStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self.aborted: str | None = None

    def start(self) -> Crowd:
        for i in range(self.count):
            thread = threading.Thread(target=self._member, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def abort(self, reason: str = "") -> None:
        """Close every connection now and open no more (from any thread)."""
        self.aborted = reason or "aborted"
        self._stop.set()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        with self._lock:
            for sock in self._open:  # wakes the members blocked in recv
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=40)
        s = self.stats
        return {"connections": self.count, "circuits": self.circuits, "mode": self.mode,
                "opened": s.opened, "refused": s.refused,
                "closed_by_service": s.closed_by_service, "answered": s.answers,
                "peak_open": s.peak_open, "errors": dict(s.errors),
                **({"aborted": self.aborted} if self.aborted else {})}

    def _count(self, what: str, delta: int = 1) -> None:
        with self._lock:
            setattr(self.stats, what, getattr(self.stats, what) + delta)
            if what == "open_now":
                self.stats.peak_open = max(self.stats.peak_open, self.stats.open_now)

    def _error(self, e: BaseException) -> None:
        key = f"SOCKS {e.code}" if isinstance(e, SocksRefused) else type(e).__name__
        with self._lock:
            self.stats.errors[key] = self.stats.errors.get(key, 0) + 1
            self.stats.refused += 1

    def _member(self, i: int) -> None:
        user = f"{self.tag}-{i % self.circuits}"
        last = 0.0
        while not self._stop.is_set():
            # bounded: a member opens at most one connection a second, however fast the
            # service closes them
            if self._stop.wait(max(0.0, last + 1.0 - time.monotonic())):
                return
            last = time.monotonic()
            try:
                sock = socks_open(self.proxy, self.host, self.port, 30, user)
            except OSError as e:
                self._error(e)
                continue
            self._count("opened")
            self._count("open_now")
            with self._lock:
                self._open.add(sock)
            try:
                self._hold(sock)
            finally:
                with self._lock:
                    self._open.discard(sock)
                self._count("open_now", -1)
                sock.close()

    def _hold(self, sock: socket.socket) -> None:
        """Hold one connection until the crowd stops (or, unless stalled, the service
        closes it)."""
        try:
            if self.first:
                sock.sendall(self.first)
            if self.mode == "stall":
                self._stop.wait()
                return
            position, answered = 0, False
            sock.settimeout(self.interval if self.mode == "drip" else 1.0)
            while not self._stop.is_set():
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    if self.mode == "drip":
                        sock.sendall(self.drip_bytes[position % len(self.drip_bytes):][:1])
                        position += 1
                    continue
                if not data:
                    if not self._stop.is_set():
                        self._count("closed_by_service")
                    return
                if not answered:
                    answered = True
                    self._count("answers")
        except OSError:
            if not self._stop.is_set():
                self._count("closed_by_service")


# --- the real client ----------------------------------------------------------------------

@dataclass
class Try:
    ok: bool
    seconds: float
    detail: str = ""


class SocksHTTP(http.client.HTTPConnection):
    """http.client with its socket opened through tor (no SOCKS user name)."""

    def __init__(self, proxy: Proxy, host: str, timeout: float) -> None:
        super().__init__(host, 80, timeout=timeout)
        self.proxy = proxy

    def connect(self) -> None:
        self.sock = socks_open(self.proxy, self.host, self.port, self.timeout or 30)


def http_try(proxy: Proxy, address: str, method: str, path: str, expect: int,
             body: bytes | None = None, headers: dict[str, str] | None = None,
             timeout: float = 30.0) -> Try:
    """One request of a real client; ok when it got ``expect`` within ``timeout``."""
    start = time.monotonic()
    conn = SocksHTTP(proxy, address, timeout)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        response.read()
        seconds = time.monotonic() - start
        return Try(response.status == expect, round(seconds, 3), f"HTTP {response.status}")
    except (OSError, http.client.HTTPException) as e:
        return Try(False, round(time.monotonic() - start, 3), f"{type(e).__name__}: {e}")
    finally:
        conn.close()


def ssh_try(proxy: Proxy, address: str, key: Path, known_hosts: Path,
            timeout: float = 30.0) -> Try:
    """One real login with OpenSSH's client (key auth, ProxyCommand nc through SOCKS)."""
    start = time.monotonic()
    command = ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes",
               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
               "-o", f"UserKnownHostsFile={known_hosts}", "-o", f"ConnectTimeout={int(timeout)}",
               "-o", f"ProxyCommand=nc -X 5 -x {proxy[0]}:{proxy[1]} %h %p",
               "-p", "22", f"myonion@{address}", "echo", "logged-in"]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Try(False, round(time.monotonic() - start, 3), "timed out")
    seconds = round(time.monotonic() - start, 3)
    if proc.returncode == 0 and proc.stdout.strip() == "logged-in":
        return Try(True, seconds, "logged in")
    return Try(False, seconds, (proc.stderr.strip().splitlines() or ["no output"])[-1][:160])


def mqtt_connect_packet(user: str, password: str, client_id: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with user name and password (clean session, keepalive 30)."""

    def text(s: str) -> bytes:
        raw = s.encode()
        return struct.pack(">H", len(raw)) + raw

    body = text("MQTT") + b"\x04\xc2" + struct.pack(">H", 30) + text(client_id) + text(user) \
        + text(password)
    length, encoded = len(body), b""
    while True:
        byte, length = length % 128, length // 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    return b"\x10" + encoded + body


def mqtt_login(proxy: Proxy, address: str, user: str, password: str, timeout: float,
               socks_user: str | None = None, client_id: str | None = None) -> int:
    """Connect to the broker on the onion's port 1883, log in; returns the CONNACK's return
    code (0 accepted, 5 not authorized). Raises OSError when no CONNACK comes. Without
    ``client_id``, a new one each time."""
    sock = socks_open(proxy, address, 1883, timeout, socks_user)
    try:
        sock.settimeout(timeout)
        sock.sendall(mqtt_connect_packet(user, password,
                                     client_id or f"bench{time.monotonic_ns() % 10**9}"))
        ack = recv_exactly(sock, 4)
        if ack[0] != 0x20:
            raise ConnectionError(f"no CONNACK ({ack.hex()})")
        if ack[3] == 0:
            sock.sendall(b"\xe0\x00")  # DISCONNECT
        return ack[3]
    finally:
        sock.close()


def mqtt_try(proxy: Proxy, address: str, user: str, password: str,
             timeout: float = 30.0, client_id: str | None = None) -> Try:
    start = time.monotonic()
    try:
        code = mqtt_login(proxy, address, user, password, timeout, client_id=client_id)
    except OSError as e:
        return Try(False, round(time.monotonic() - start, 3), f"{type(e).__name__}: {e}")
    return Try(code == 0, round(time.monotonic() - start, 3), f"CONNACK {code}")


def tries_during(attempt: Callable[[], Try], window: float, every: float,
                 limit: int) -> list[Try]:
    """Real-client tries, one every ``every`` seconds (after the previous one ends) for
    ``window`` seconds, at most ``limit``."""
    done: list[Try] = []
    end = time.monotonic() + window
    while time.monotonic() < end and len(done) < limit:
        started = time.monotonic()
        done.append(attempt())
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    return done


def tries_summary(tries: list[Try]) -> dict[str, Any]:
    """ok count, latency (median/max) of the answered tries and of all tries."""
    ok = [t.seconds for t in tries if t.ok]
    every = [t.seconds for t in tries]
    return {"ok": len(ok), "n": len(tries),
            "ok_median_s": round(statistics.median(ok), 2) if ok else None,
            "ok_max_s": round(max(ok), 2) if ok else None,
            "all_median_s": round(statistics.median(every), 2) if every else None,
            "all_max_s": round(max(every), 2) if every else None,
            "tries": [{"ok": t.ok, "s": t.seconds, "detail": t.detail} for t in tries]}
