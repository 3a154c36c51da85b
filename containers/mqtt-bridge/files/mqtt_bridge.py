#!/usr/bin/python3
"""myonion mqtt-bridge: forwards MQTT readings through tor to an HTTP receiver (an iot-receiver).

Subscribes to <prefix>/<device> on the local broker; every message is first written to a queue
in SQLite (a volume, bounded: bridge_queue), then POSTed through tor's SOCKS port to the device's
destination URL with its bearer token, the devices taken in turn by a few sender threads.
Transient failures (destination down, tor errors, 5xx) are retried with backoff; a 4xx answer is
final. Delivered messages leave the queue (their count stays). Retained messages that the broker
sends again on (re)subscribing are not queued again. Every delivery and failure is logged (never
tokens). The status page on 127.0.0.1:8080 (the onion's port 80) shows counts only; with
onion_broker, the onion's port 1883 reaches the broker through a front that throttles failed
logins (bridge_doors).
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import json
import os
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

# the modules beside this file
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from bridge_doors import Doors
from bridge_queue import Item, Queue

CONF = os.environ.get("BRIDGE_CONF", "/etc/myonion")
DB_FILE = os.environ.get("BRIDGE_DB", "/var/lib/myonion-mqtt/queue.db")
SOCKS = ("127.0.0.1", 9050)
#: a FIFO read by tor's side of the container: a line written asks it for NEWNYM (rate-limited)
NEWNYM_FIFO = os.environ.get("BRIDGE_NEWNYM", "/run/myonion/newnym/request")
STATUS = ("127.0.0.1", 8080)
FRONT = ("127.0.0.1", 1884)
BROKER = ("127.0.0.1", 1883)
MAX_BACKOFF = 60.0
MAX_SENDERS = 4
#: tor accepts NEWNYM at most every 10 s; asking more often only queues it
NEWNYM_INTERVAL = 15.0


def log(message: str) -> None:
    print(f"mqtt-bridge: {message}", file=sys.stderr, flush=True)


class RateLog:
    """A kind of log line written at most once a minute, with how often it happened since."""

    def __init__(self, every: float = 60.0) -> None:
        self.every, self.last, self.count = every, -every, 0

    def __call__(self, message: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            more = f" ({self.count - 1} more like it since)" if self.count > 1 else ""
            log(message + more)
            self.last, self.count = now, 0


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
    The bridge cannot read tor's control cookie (tor runs as another user): it writes a line to
    the FIFO that tor's side (myonion-newnym) reads and turns into the signal.
    """
    try:
        fd = os.open(NEWNYM_FIFO, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: nobody reads the FIFO at the moment; ENOENT: not made yet
        return False
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        os.write(fd, b"NEWNYM\n")
        return True
    except OSError as e:  # EAGAIN: a request is waiting already
        return e.errno == errno.EAGAIN
    finally:
        os.close(fd)


class TorHTTP(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = socks_connect(self.host, self.port, self.timeout or 60)


def deliver(url: str, token: str, payload: bytes) -> int:
    parts = urlsplit(url)
    # tor gives up on an unreachable onion after up to ~2 minutes; a retry comes sooner
    conn = TorHTTP(parts.hostname or "", parts.port or 80, timeout=45)
    try:
        conn.request("POST", parts.path or "/", body=payload, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read(65536)
        return response.status
    finally:
        conn.close()


class Senders:
    """A few threads that deliver the queue, the devices in turn; backoff per device."""

    def __init__(self, queue: Queue, routes: dict[str, tuple[str, str]],
                 send: Callable[[str, str, bytes], int] = deliver) -> None:
        self.queue, self.routes, self.send = queue, routes, send
        self.backoff: dict[str, float] = {}
        self.lock = threading.Lock()
        self.last_newnym = 0.0
        self.stopped = threading.Event()

    def start(self, count: int) -> None:
        for _ in range(count):
            threading.Thread(target=self.run, daemon=True).start()

    def stop(self) -> None:
        """Stop after the deliveries under way (within a second)."""
        self.stopped.set()

    def run(self) -> None:
        while not self.stopped.is_set():
            item = self.queue.claim(1.0)
            if item is not None:
                self.one(item)

    def one(self, item: Item) -> None:
        url, token = self.routes[item.device]
        host = urlsplit(url).hostname
        try:
            status: int | None = self.send(url, token, item.payload)
        except OSError as e:
            status, error = None, str(e) or type(e).__name__
        else:
            error = f"HTTP {status}"
        if status is not None and 200 <= status < 300:
            self.queue.finish(item, "delivered")
            with self.lock:
                self.backoff.pop(item.device, None)
            log(f"delivered #{item.ident} {item.device} → {host} ({status}) "
                f"after {item.attempts + 1} attempt(s)")
        elif status is not None and 400 <= status < 500:
            self.queue.finish(item, "rejected")
            log(f"rejected #{item.ident} {item.device} by {host} ({status}); not retried")
        else:
            with self.lock:
                delay = self.backoff[item.device] = min(
                    MAX_BACKOFF, self.backoff.get(item.device, 1.0) * 2)
            self.queue.finish(item, "retry", delay)
            log(f"could not deliver #{item.ident} {item.device} → {host} ({error}); "
                f"retrying in {delay:.0f} s")
            if status is None:
                self.refresh_onions()

    def refresh_onions(self) -> None:
        with self.lock:
            if time.monotonic() - self.last_newnym <= NEWNYM_INTERVAL:
                return
            self.last_newnym = time.monotonic()
        if fresh_onion_state():
            log("asked tor to fetch the destinations' descriptors afresh")


def message_handler(queue: Queue, routes: dict[str, tuple[str, str]]) -> Callable[..., None]:
    """paho's on_message: queue a reading of a routed device (retained ones only when live)."""
    no_route, dropped = RateLog(), RateLog()

    def on_message(client: Any, userdata: object, msg: Any) -> None:
        if msg.retain:
            # sent because the bridge (re)subscribed, not because it was just published: it was
            # queued when it arrived live (retain is 0 then)
            return
        device = msg.topic.split("/", 1)[1]
        if device not in routes:
            no_route(f"no route for device '{device[:64]}'; message dropped")
            return
        ident, older = queue.add(device, bytes(msg.payload))
        if ident is None:
            dropped(f"queue share of {device} full: a new message dropped "
                    f"(queue_when_full={queue.when_full})")
            return
        if older:
            dropped(f"queue share of {device} full: {older} oldest message(s) dropped "
                    f"(queue_when_full={queue.when_full})")
        log(f"queued #{ident} {device} ({len(msg.payload)} bytes)")

    return on_message


def start_doors(queue: Queue, onion_broker: bool) -> Doors:
    """The status page (and the broker front) on an event loop in a thread of its own."""
    doors = Doors(queue.status, log)
    loop = asyncio.new_event_loop()

    async def open_doors() -> None:
        await doors.start_page(*STATUS)
        if onion_broker:
            await doors.start_front(*FRONT, BROKER)

    loop.run_until_complete(open_doors())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return doors


def main() -> int:
    import paho.mqtt.client as mqtt

    with open(os.path.join(CONF, "bridge.json")) as f:
        settings = json.load(f)
    prefix = settings["topic_prefix"]
    routes = load_routes()
    queue = Queue(DB_FILE, sorted(routes), int(settings.get("queue_max_messages", 10000)),
                  int(settings.get("queue_max_mb", 64)) << 20,
                  str(settings.get("queue_when_full", "drop-oldest")))
    status = queue.status()
    log(f"routes for {len(routes)} device(s): {', '.join(sorted(routes))}; "
        f"queued from before: {status['pending']}; bound {queue.max_messages} messages, "
        f"{queue.max_bytes >> 20} MiB (an equal share each), when full: {queue.when_full}")
    Senders(queue, routes).start(max(1, min(MAX_SENDERS, len(routes))))
    start_doors(queue, bool(settings.get("onion_broker")))

    def on_connect(client: mqtt.Client, userdata: object, flags: object, rc: int) -> None:
        if rc != 0:
            log(f"the broker refused the bridge (rc {rc})")
            return
        client.subscribe(f"{prefix}/+", qos=1)
        log(f"subscribed to {prefix}/+")

    with open("/tmp/mosquitto/bridge.pw") as f:
        password = f.read().strip()
    client = mqtt.Client(client_id="myonion-bridge", clean_session=False)
    client.username_pw_set("_bridge", password)
    client.on_connect = on_connect
    client.on_message = message_handler(queue, routes)
    for _ in range(100):
        try:
            client.connect(*BROKER, keepalive=30)
            break
        except OSError:
            time.sleep(0.1)
    client.loop_forever(retry_first_connection=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
