#!/usr/bin/python3
"""myonion mqtt-bridge: forwards readings of LAN devices through tor to an HTTP receiver (an
iot-receiver).

    mqtt_bridge.py            run the bridge (the container's command, after ``passwd``)
    mqtt_bridge.py passwd     write mosquitto's password file (one user per device, and the
                              bridge's own with a fresh random password)
    mqtt_bridge.py deliveries [N]   print the last N lines of the delivery log and what waits, as
                              JSON (``myonion deliveries NAME`` runs it)

Devices log in as themselves (user name = device id) and publish on <prefix>/<device>, through
the LAN front (TLS unless lan_tls is off; bridge_doors) or as HTTP PUT/POST (bridge_lan); a
message for another device's topic is refused (mosquitto's ACL; the fronts count it). The bridge
subscribes to <prefix>/+ on the broker; every message is first written to a queue in SQLite (a
volume, bounded: bridge_queue), then POSTed through tor's SOCKS port to the device's destination
URL with its bearer token, the devices taken in turn by a few sender threads. Transient failures
(destination down, tor errors, 5xx) are retried with backoff; a 4xx answer is final. Delivered
messages leave the queue (their count stays, and a line in the delivery log). Retained messages
that the broker sends again on (re)subscribing are not queued again. Every delivery and failure
is logged (never tokens). The status page on 127.0.0.1:8080 (the onion's port 80) shows counts
only; with onion_broker, the onion's port 1883 reaches the broker through a front that throttles
failed logins. With health, the machine's health is queued as a device's reading
(bridge_health).
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import json
import os
import socket
import ssl
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

# the modules beside this file
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import bridge_health
from bridge_doors import Doors
from bridge_lan import HttpDoor
from bridge_queue import Item, Queue, read_log

CONF = os.environ.get("BRIDGE_CONF", "/etc/myonion")
DB_FILE = os.environ.get("BRIDGE_DB", "/var/lib/myonion-mqtt/queue.db")
SOCKS = ("127.0.0.1", 9050)
#: a FIFO read by tor's side of the container: a line written asks it for NEWNYM (rate-limited)
NEWNYM_FIFO = os.environ.get("BRIDGE_NEWNYM", "/run/myonion/newnym/request")
STATUS = ("127.0.0.1", 8080)
FRONT = ("127.0.0.1", 1884)
LAN_FRONT = ("0.0.0.0", 1883)
LAN_HTTP = ("0.0.0.0", 8088)
BROKER = ("127.0.0.1", 1885)
PASSWD = os.environ.get("BRIDGE_PASSWD", "/tmp/mosquitto/passwd")
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


def load_settings() -> dict[str, Any]:
    with open(os.path.join(CONF, "bridge.json")) as f:
        return dict(json.load(f))


def load_routes() -> dict[str, tuple[str, str]]:
    routes: dict[str, tuple[str, str]] = {}
    with open(os.path.join(CONF, "routes")) as f:
        for raw in f:
            line = raw.strip()
            if line and not line.startswith("#"):
                device, url, token = line.split()
                routes.setdefault(device, (url, token))
    return routes


def load_devices(settings: dict[str, Any]) -> dict[str, str]:
    """The LAN devices: id → password (the health device has no login)."""
    devices: dict[str, str] = {}
    with open(os.path.join(CONF, "devices")) as f:
        for raw in f:
            line = raw.strip()
            if line and not line.startswith("#"):
                device, _, password = line.partition(":")
                if device != settings.get("health_device") and password:
                    devices[device] = password
    return devices


def write_passwd() -> int:
    """mosquitto's password file: every LAN device (user = id) and the bridge's own user."""
    devices = load_devices(load_settings())
    os.makedirs(os.path.dirname(PASSWD), mode=0o700, exist_ok=True)
    bridge_pw = os.urandom(24).hex()
    with open(os.path.join(os.path.dirname(PASSWD), "bridge.pw"), "w") as f:
        f.write(bridge_pw)
    fd = os.open(PASSWD, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for device, password in devices.items():
            f.write(f"{device}:{password}\n")
        f.write(f"_bridge:{bridge_pw}\n")
    # hashes every line in place (one run: no password on a command line)
    return subprocess.run(["mosquitto_passwd", "-U", PASSWD], check=False).returncode


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
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", target, body=payload, headers={
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
        # when the gateway got it: a reading that waited out an outage keeps its time
        when = f"?queued_at={item.received:.3f}" if item.received else ""
        try:
            status: int | None = self.send(url + when, token, item.payload)
        except OSError as e:
            status, error = None, str(e) or type(e).__name__
        else:
            error = f"HTTP {status}"
        if status is not None and 200 <= status < 300:
            self.queue.finish(item, "delivered", detail=f"HTTP {status}")
            with self.lock:
                self.backoff.pop(item.device, None)
            log(f"delivered #{item.ident} {item.device} → {host} ({status}) "
                f"after {item.attempts + 1} attempt(s)")
        elif status is not None and 400 <= status < 500:
            self.queue.finish(item, "rejected", detail=f"HTTP {status}")
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


def identity_guard(queue: Queue, prefix: str) -> Callable[[str | None, str], None]:
    """The fronts' check of every PUBLISH: a device writes <prefix>/<its own id> only; anything
    else is refused by mosquitto's ACL, and counted and logged here."""
    refused = RateLog()

    def guard(user: str | None, topic: str) -> None:
        if user is not None and topic == f"{prefix}/{user}":
            return
        queue.refuse(user or "(no user)", topic)
        refused(f"refused a message of '{(user or '')[:64]}' for topic '{topic[:80]}': a device "
                "publishes on its own topic only (counted as refused)")

    return guard


def tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(os.path.join(CONF, "tls_server.crt"),
                            os.path.join(CONF, "tls_server.key"))
    return context


def http_door(queue: Queue, devices: dict[str, str], settings: dict[str, Any]) -> HttpDoor:
    prefix = settings["topic_prefix"]

    def accept(device: str, body: bytes) -> int | None:
        ident, _ = queue.add(device, body)
        if ident is not None:
            log(f"queued #{ident} {device} ({len(body)} bytes, HTTP)")
        return ident

    return HttpDoor(devices, accept, lambda device, claimed: queue.refuse(
        device, f"{prefix}/{claimed}"), log, max_body=int(settings.get("max_message", 65536)))


def start_doors(queue: Queue, devices: dict[str, str], settings: dict[str, Any]) -> Doors:
    """The status page, the LAN fronts (MQTT and HTTP) and with onion_broker the onion front,
    on an event loop in a thread of its own."""
    doors = Doors(lambda: status(), log, guard=identity_guard(queue, settings["topic_prefix"]),
                  max_message=int(settings.get("max_message", 65536)), names=devices)
    http = http_door(queue, devices, settings)

    def status() -> dict[str, Any]:
        return {**queue.status(), "failed_logins": {
            "lan": doors.lan_failed + http.failed, "onion": doors.throttle.failed}}

    loop = asyncio.new_event_loop()
    context = tls_context() if settings.get("lan_tls") else None

    async def open_doors() -> None:
        await doors.start_page(*STATUS)
        await doors.start_lan(*LAN_FRONT, BROKER, context)
        await http.start(*LAN_HTTP, context)
        if settings.get("onion_broker"):
            await doors.start_front(*FRONT, BROKER)

    loop.run_until_complete(open_doors())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return doors


def start_health(queue: Queue, settings: dict[str, Any]) -> None:
    """Queue a health reading of this machine every health_interval seconds."""
    device, every = str(settings["health_device"]), float(settings["health_interval"])

    def run() -> None:
        while True:
            reading = json.dumps(bridge_health.reading(os.path.dirname(DB_FILE))).encode()
            ident, _ = queue.add(device, reading)
            log(f"queued #{ident} {device} (health report, {len(reading)} bytes)")
            time.sleep(every)

    threading.Thread(target=run, daemon=True).start()


def check_routes(devices: dict[str, str], routes: dict[str, tuple[str, str]],
                 settings: dict[str, Any]) -> None:
    """Every LAN device (and the health device) needs a destination."""
    wanted = list(devices) + ([settings["health_device"]] if settings.get("health") else [])
    missing = [d for d in wanted if d not in routes]
    if missing:
        raise SystemExit(f"mqtt-bridge: no destination for {', '.join(missing)}: give each a "
                         "token in receiver_tokens (with receiver) or a line in routes")


def main() -> int:
    import paho.mqtt.client as mqtt

    settings = load_settings()
    prefix = settings["topic_prefix"]
    routes = load_routes()
    devices = load_devices(settings)
    check_routes(devices, routes, settings)
    queue = Queue(DB_FILE, sorted(routes), int(settings.get("queue_max_messages", 10000)),
                  int(settings.get("queue_max_mb", 64)) << 20,
                  str(settings.get("queue_when_full", "drop-oldest")),
                  int(settings.get("delivery_log", 10000)))
    status = queue.status()
    log(f"routes for {len(routes)} device(s): {', '.join(sorted(routes))}; LAN devices: "
        f"{len(devices)} (TLS {'on' if settings.get('lan_tls') else 'off'}); "
        f"queued from before: {status['pending']}; bound {queue.max_messages} messages, "
        f"{queue.max_bytes >> 20} MiB (an equal share each), when full: {queue.when_full}")
    Senders(queue, routes).start(max(1, min(MAX_SENDERS, len(routes))))
    start_doors(queue, devices, settings)
    if settings.get("health"):
        start_health(queue, settings)

    def on_connect(client: mqtt.Client, userdata: object, flags: object, rc: int) -> None:
        if rc != 0:
            log(f"the broker refused the bridge (rc {rc})")
            return
        client.subscribe(f"{prefix}/+", qos=1)
        log(f"subscribed to {prefix}/+")

    with open(os.path.join(os.path.dirname(PASSWD), "bridge.pw")) as f:
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


def command(argv: list[str]) -> int:
    if argv[1:2] == ["passwd"]:
        return write_passwd()
    if argv[1:2] == ["deliveries"]:
        limit = int(argv[2]) if len(argv) > 2 else 100
        print(json.dumps(read_log(DB_FILE, max(1, min(limit, 100000)))))
        return 0
    return main()


if __name__ == "__main__":
    sys.exit(command(sys.argv))
