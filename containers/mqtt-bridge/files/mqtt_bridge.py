#!/usr/bin/python3
"""myonion mqtt-bridge: forwards MQTT readings through tor to an HTTP receiver (an iot-receiver).

Subscribes to <prefix>/<device> on the local broker; every message is first written to a queue
in SQLite (a volume), then POSTed through tor's SOCKS port to the device's destination URL with
its bearer token. Transient failures (destination down, tor errors, 5xx) are retried with backoff
and never dropped; a 4xx answer is final. Every delivery and failure is logged (never tokens).
A status page on 127.0.0.1:8080 (the onion's port 80) shows the queue's counts, nothing else.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import sqlite3
import struct
import sys
import threading
import time
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

CONF = os.environ.get("BRIDGE_CONF", "/etc/myonion")
DB_FILE = os.environ.get("BRIDGE_DB", "/var/lib/myonion-mqtt/queue.db")
SOCKS = ("127.0.0.1", 9050)
CONTROL = os.environ.get("BRIDGE_CONTROL", "/run/myonion/ctl")
STATUS = ("127.0.0.1", 8080)
MAX_BACKOFF = 60.0
#: tor accepts NEWNYM at most every 10 s; asking more often only queues it
NEWNYM_INTERVAL = 15.0


def log(message: str) -> None:
    print(f"mqtt-bridge: {message}", file=sys.stderr, flush=True)


def load_routes() -> dict[str, tuple[str, str]]:
    routes: dict[str, tuple[str, str]] = {}
    with open(os.path.join(CONF, "routes")) as f:
        for raw in f:
            line = raw.strip()
            if line and not line.startswith("#"):
                device, url, token = line.split()
                routes[device] = (url, token)
    return routes


def socks_connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection through tor's SOCKS5 port, the name resolved by tor."""
    sock = socket.create_connection(SOCKS, timeout=timeout)
    try:
        sock.sendall(b"\x05\x01\x00")
        if sock.recv(2) != b"\x05\x00":
            raise OSError("tor's SOCKS port refused the handshake")
        name = host.encode()
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
        reply = b""
        while len(reply) < 10:
            chunk = sock.recv(10 - len(reply))
            if not chunk:
                raise OSError("tor closed the SOCKS connection")
            reply += chunk
        if reply[1] != 0:
            raise OSError(f"tor could not connect (SOCKS reply {reply[1]})")
        return sock
    except BaseException:
        sock.close()
        raise


def fresh_onion_state() -> bool:
    """Ask our tor (SIGNAL NEWNYM) to forget cached onion descriptors and failed intro points.

    After a destination was down, tor keeps its stale descriptor, remembers the dead intro
    points and will not ask the same HSDir again for 15 minutes, so a destination that is back
    (with a new descriptor) can stay unreachable for that long. NEWNYM purges all of that.
    """
    try:
        with open(os.path.join(CONTROL, "control.authcookie"), "rb") as f:
            cookie = f.read().hex()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(os.path.join(CONTROL, "control.sock"))
            stream = sock.makefile("rwb")
            for command in (f"AUTHENTICATE {cookie}", "SIGNAL NEWNYM"):
                stream.write(command.encode() + b"\r\n")
                stream.flush()
                if not stream.readline().startswith(b"250"):
                    return False
            stream.write(b"QUIT\r\n")
            stream.flush()
        return True
    except OSError:
        return False


class TorHTTP(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = socks_connect(self.host, self.port, self.timeout or 60)


class Queue:
    def __init__(self, path: str) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY, device TEXT, "
                        "payload BLOB, received REAL, attempts INTEGER DEFAULT 0, "
                        "state TEXT DEFAULT 'pending', status INTEGER, done REAL)")

    def add(self, device: str, payload: bytes) -> int:
        with self.lock:
            cur = self.db.execute("INSERT INTO queue (device, payload, received) VALUES (?, ?, ?)",
                                  (device, payload, time.time()))
        self.wake.set()
        return int(cur.lastrowid or 0)

    def pending(self) -> list[tuple[int, str, bytes, int]]:
        with self.lock:
            return self.db.execute("SELECT id, device, payload, attempts FROM queue WHERE "
                                   "state='pending' ORDER BY id LIMIT 100").fetchall()

    def finish(self, ident: int, state: str, status: int | None) -> None:
        with self.lock:
            self.db.execute("UPDATE queue SET state=?, status=?, done=?, attempts=attempts+1 "
                            "WHERE id=?", (state, status, time.time(), ident))

    def attempt(self, ident: int) -> None:
        with self.lock:
            self.db.execute("UPDATE queue SET attempts=attempts+1 WHERE id=?", (ident,))

    def counts(self) -> dict[str, int]:
        with self.lock:
            return dict(self.db.execute("SELECT state, COUNT(*) FROM queue GROUP BY state"))


def deliver(url: str, token: str, payload: bytes) -> int:
    parts = urlsplit(url)
    # tor gives up on an unreachable onion after up to ~2 minutes; a retry comes sooner
    conn = TorHTTP(parts.hostname or "", parts.port or 80, timeout=45)
    try:
        conn.request("POST", parts.path or "/", body=payload, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def sender(queue: Queue, routes: dict[str, tuple[str, str]]) -> None:
    """Delivers in order; a device whose destination is down waits, with growing backoff."""
    backoff: dict[str, float] = {}
    next_try: dict[str, float] = {}
    last_newnym = 0.0
    while True:
        now = time.monotonic()
        waiting = False
        blocked: set[str] = set()
        for ident, device, payload, attempts in queue.pending():
            if device in blocked or next_try.get(device, 0) > now:
                blocked.add(device)
                waiting = True
                continue
            url, token = routes[device]
            host = urlsplit(url).hostname
            try:
                status = deliver(url, token, payload)
            except OSError as e:
                status, error = None, str(e) or type(e).__name__
            else:
                error = f"HTTP {status}"
            if status is not None and 200 <= status < 300:
                queue.finish(ident, "delivered", status)
                backoff.pop(device, None)
                log(f"delivered #{ident} {device} → {host} ({status}) "
                    f"after {attempts + 1} attempt(s)")
            elif status is not None and 400 <= status < 500:
                queue.finish(ident, "rejected", status)
                log(f"rejected #{ident} {device} by {host} ({status}); not retried")
            else:
                queue.attempt(ident)
                delay = min(MAX_BACKOFF, backoff.get(device, 1.0) * 2)
                backoff[device] = delay
                next_try[device] = time.monotonic() + delay
                blocked.add(device)
                waiting = True
                log(f"could not deliver #{ident} {device} → {host} ({error}); "
                    f"retrying in {delay:.0f} s")
                if status is None and time.monotonic() - last_newnym > NEWNYM_INTERVAL:
                    last_newnym = time.monotonic()
                    if fresh_onion_state():
                        log("asked tor to fetch the destinations' descriptors afresh")
        queue.wake.wait(1.0 if waiting else 30.0)
        queue.wake.clear()


def serve_status(queue: Queue) -> http.server.ThreadingHTTPServer:
    """GET / answers the queue's counts as JSON; no device ids, topics or payloads."""

    class Status(http.server.BaseHTTPRequestHandler):
        server_version = "myonion-mqtt-bridge"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            if self.path != "/":
                self.send_error(404)
                return
            counts = queue.counts()
            body = json.dumps({"service": "myonion mqtt-bridge",
                               **{k: counts.get(k, 0)
                                  for k in ("delivered", "pending", "rejected")}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(STATUS, Status)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    with open(os.path.join(CONF, "bridge.json")) as f:
        settings = json.load(f)
    prefix = settings["topic_prefix"]
    routes = load_routes()
    queue = Queue(DB_FILE)
    log(f"routes for {len(routes)} device(s): {', '.join(sorted(routes))}; "
        f"queued from before: {queue.counts().get('pending', 0)}")
    threading.Thread(target=sender, args=(queue, routes), daemon=True).start()
    serve_status(queue)

    def on_connect(client: mqtt.Client, userdata: object, flags: object, rc: int) -> None:
        if rc != 0:
            log(f"the broker refused the bridge (rc {rc})")
            return
        client.subscribe(f"{prefix}/+", qos=1)
        log(f"subscribed to {prefix}/+")

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        device = msg.topic.split("/", 1)[1]
        if device not in routes:
            log(f"no route for device '{device[:64]}'; message dropped")
            return
        ident = queue.add(device, bytes(msg.payload))
        log(f"queued #{ident} {device} ({len(msg.payload)} bytes)")

    with open("/tmp/mosquitto/bridge.pw") as f:
        password = f.read().strip()
    client = mqtt.Client(client_id="myonion-bridge", clean_session=False)
    client.username_pw_set("_bridge", password)
    client.on_connect = on_connect
    client.on_message = on_message
    for _ in range(100):
        try:
            client.connect("127.0.0.1", 1883, keepalive=30)
            break
        except OSError:
            time.sleep(0.1)
    client.loop_forever(retry_first_connection=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
