"""One identity per device in the mqtt-bridge (containers/mqtt-bridge/files), on the host's
Python: the fronts read who logged in and what topic each PUBLISH is for, and count a device
publishing as another; the HTTP door takes a device's readings only under its own id; the
delivery log records every message's outcome, within its bound; the health reading reads the
host's figures it is given."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.templates.bridge_app import (
    Loop,
    connect_packet,
    fake_broker,
    load,
    port_of,
    running_loop,
)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load(tmp_path, monkeypatch)


@pytest.fixture
def loop() -> Iterator[Loop]:
    with running_loop() as running:
        yield running


def field(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def packet(kind: int, body: bytes) -> bytes:
    length, encoded = len(body), b""
    while True:
        byte, length = length & 0x7F, length >> 7
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            return bytes([kind]) + encoded + body


def publish(topic: str, payload: bytes, qos: int = 1) -> bytes:
    return packet(0x30 | qos << 1, field(topic) + (b"\x00\x01" if qos else b"") + payload)


def test_the_user_of_a_connect_in_every_protocol_version(app: ModuleType) -> None:
    doors = sys.modules["bridge_doors"]
    v311 = connect_packet("kitchen", "pw-0123456789")
    assert doors.connect_user(v311, 2) == "kitchen"
    # MQTT 5 with properties and a will (its own properties, topic and message)
    body = (field("MQTT") + bytes([5, 0xC4 | 0x04]) + struct.pack(">H", 30) + b"\x03\x21\x00\x0a"
            + field("client-1") + b"\x02\x01\x01" + field("will/topic") + field("bye")
            + field("garden") + field("pw-0123456789"))
    assert doors.connect_user(packet(0x10, body), 2) == "garden"
    # no user name at all, and a packet cut short
    anonymous = field("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 30) + field("c")
    assert doors.connect_user(packet(0x10, anonymous), 2) is None
    with pytest.raises(ValueError):
        doors.connect_user(packet(0x10, field("MQTT") + bytes([4])), 2)
    assert doors.publish_topic(publish("readings/garden", b"{}"), 2) == "readings/garden"


def test_a_device_publishing_as_another_is_counted_and_passed_to_the_broker_acl(
        app: ModuleType, loop: Loop, tmp_path: Path) -> None:
    queue = app.Queue(str(tmp_path / "queue.db"), ["garden", "kitchen"])
    doors = app.Doors(queue.status, lambda message: None,
                      guard=app.identity_guard(queue, "readings"))
    broker = loop.run(asyncio.start_server(fake_broker("pw-0123456789"), "127.0.0.1", 0))
    lan = loop.run(doors.start_lan("127.0.0.1", 0, ("127.0.0.1", port_of(broker)), None))
    with socket.create_connection(("127.0.0.1", port_of(lan)), timeout=5) as sock:
        sock.sendall(connect_packet("kitchen", "pw-0123456789"))
        assert sock.recv(4) == bytes([0x20, 2, 0, 0])
        own, forged = publish("readings/kitchen", b'{"t":1}'), publish("readings/garden", b"{}")
        sock.sendall(own + forged)
        echoed = b""
        while len(echoed) < len(own + forged):  # the fake broker echoes what reached it
            echoed += sock.recv(4096)
    assert echoed == own + forged  # the broker sees it (its ACL refuses it), in order
    deadline = time.monotonic() + 5
    while queue.status()["refused"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue.status()["refused"] == 1  # counted once; the own topic is not
    log = app.read_log(str(tmp_path / "queue.db"))["deliveries"]
    assert [(r["device"], r["result"], r["detail"]) for r in log] == [
        ("kitchen", "refused", "sent as readings/garden")]
    # a wrong password on the LAN side is counted too (not throttled: devices know theirs)
    with socket.create_connection(("127.0.0.1", port_of(lan)), timeout=5) as sock:
        sock.sendall(connect_packet("kitchen", "wrong-pw-000"))
        assert sock.recv(4) == bytes([0x20, 2, 0, 5])
    assert doors.lan_failed == 1 and doors.throttle.failed == 0


def http_call(port: int, method: str, path: str, body: bytes, token: str | None
              ) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_http_devices_send_as_themselves_into_the_same_queue(app: ModuleType, loop: Loop,
                                                            tmp_path: Path) -> None:
    queue = app.Queue(str(tmp_path / "queue.db"), ["garden", "kitchen"])
    devices = {"kitchen": "kitchen-pw-0123", "garden": "garden-pw-01234"}
    settings = {"topic_prefix": "readings", "max_message": 256}
    door = app.http_door(queue, devices, settings)
    port = port_of(loop.run(door.start("127.0.0.1", 0, None)))
    path = "/api/v1/readings/kitchen"
    assert http_call(port, "PUT", path, b'{"temp": 21.5}', "kitchen-pw-0123") == (
        202, {"queued": 1, "device": "kitchen"})
    assert http_call(port, "POST", path, b'{"temp": 21.6}', "kitchen-pw-0123")[0] == 202
    # garden's password for kitchen's path: refused and counted, never queued
    assert http_call(port, "PUT", path, b'{"temp": 99}', "garden-pw-01234")[0] == 403
    assert http_call(port, "PUT", path, b'{"temp": 99}', "wrong-pw-0000")[0] == 401
    assert http_call(port, "PUT", path, b'{"temp": 99}', None)[0] == 401
    assert http_call(port, "PUT", path, b'[1, 2]', "kitchen-pw-0123")[0] == 400
    assert http_call(port, "PUT", path, b'{"t": 1e999}', "kitchen-pw-0123")[0] == 400
    assert http_call(port, "PUT", path, b'{"t": "' + b"x" * 300 + b'"}', "kitchen-pw-0123"
                     )[0] == 413
    assert http_call(port, "GET", path, b"", "kitchen-pw-0123")[0] == 405
    assert http_call(port, "PUT", "/api/v1/readings/Kitchen", b"{}", "kitchen-pw-0123")[0] == 404
    status = queue.status()
    assert status["pending"] == 2 and status["refused"] == 1 and door.failed == 2
    # the same queue as MQTT: same order, same senders
    first, second = queue.claim(0), None
    assert first.payload == b'{"temp": 21.5}'
    queue.finish(first, "delivered", detail="HTTP 201")
    second = queue.claim(0)
    assert second.payload == b'{"temp": 21.6}'


def test_the_delivery_log_records_each_outcome_within_its_bound(app: ModuleType,
                                                               tmp_path: Path) -> None:
    path = str(tmp_path / "queue.db")
    queue = app.Queue(path, ["garden", "kitchen"], max_messages=4, log_max=5)
    sent: list[int] = []

    urls: list[str] = []

    def send(url: str, token: str, payload: bytes) -> int:
        sent.append(1)
        urls.append(url)
        if len(sent) == 1:
            raise OSError("tor could not connect (SOCKS reply 4)")
        return 400 if payload == b"bad" else 201

    senders = app.Senders(queue, {d: (f"http://{d}.onion/", "t" * 20)
                                  for d in ("garden", "kitchen")}, send)
    before = time.time()
    queue.add("kitchen", b"one")
    queue.add("kitchen", b"bad")
    senders.one(queue.claim(0))  # fails once: retried
    queue.next_try.clear()
    senders.one(queue.claim(0))  # delivered on the second attempt
    senders.one(queue.claim(0))  # rejected (4xx): final
    queue.add("garden", b"a")
    queue.add("garden", b"b")
    queue.add("garden", b"c")  # garden's share (2) is full: its oldest is dropped
    log = app.read_log(path)
    assert [(r["message"], r["device"], r["result"], r["attempts"], r["detail"])
            for r in log["deliveries"]] == [
        (1, "kitchen", "delivered", 2, "HTTP 201"), (2, "kitchen", "rejected", 1, "HTTP 400"),
        (3, "garden", "dropped", 0, "its share was full")]
    delivered = log["deliveries"][0]
    assert before <= delivered["received"] <= delivered["done"] <= time.time()
    # the receiver is told when the gateway got it (a reading that waited keeps its time)
    assert urls[1] == f"http://kitchen.onion/?queued_at={delivered['received']:.3f}"
    assert [(r["message"], r["device"], r["result"]) for r in log["pending"]] == [
        (4, "garden", "pending"), (5, "garden", "pending")]
    # bounded: only the last log_max lines are kept
    for _ in range(10):
        queue.refuse("kitchen", "readings/garden")
    kept = app.read_log(path, limit=100)["deliveries"]
    assert len(kept) == 5 and {r["result"] for r in kept} == {"refused"}
    assert queue.status()["refused"] == 10


def test_a_route_removed_logs_its_waiting_messages_as_dropped(app: ModuleType,
                                                             tmp_path: Path) -> None:
    path = str(tmp_path / "queue.db")
    queue = app.Queue(path, ["garden", "kitchen"])
    queue.add("kitchen", b"k")
    queue.add("garden", b"g")
    queue.db.close()
    app.Queue(path, ["kitchen"])  # garden's route is gone (the device was removed)
    log = app.read_log(path)
    assert [(r["device"], r["result"], r["detail"]) for r in log["deliveries"]] == [
        ("garden", "dropped", "its route is gone")]
    assert [r["device"] for r in log["pending"]] == ["kitchen"]  # kitchen's stays


def test_the_health_reading_from_the_host_figures(app: ModuleType, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    health = sys.modules["bridge_health"]
    proc, thermal = tmp_path / "proc", tmp_path / "thermal"
    (thermal / "thermal_zone0").mkdir(parents=True)
    (thermal / "thermal_zone1").mkdir()
    proc.mkdir()
    (proc / "uptime").write_text("7200.50 1000.00\n")
    (proc / "loadavg").write_text("0.52 0.40 0.30 1/123 4567\n")
    (proc / "meminfo").write_text("MemTotal:  1000000 kB\nMemFree: 100000 kB\n"
                                  "MemAvailable:  250000 kB\n")
    (thermal / "thermal_zone0" / "temp").write_text("48312\n")
    (thermal / "thermal_zone1" / "temp").write_text("51000\n")
    services = tmp_path / "services.json"
    services.write_text(json.dumps({"written": time.time() - 30, "services": [
        {"name": "receiver", "state": "running"}, {"name": "shell", "state": "stopped"}]}))
    monkeypatch.setattr(health, "PROC", str(proc))
    monkeypatch.setattr(health, "THERMAL", str(thermal))
    monkeypatch.setattr(health, "SERVICES_FILE", str(services))
    reading = health.reading(str(tmp_path))
    assert reading["uptime_h"] == 2.0 and reading["load_1"] == 0.52
    assert reading["mem_total_mb"] == 976.6 and reading["mem_used_pct"] == 75.0
    assert reading["temp_c"] == 51.0 and 0 < reading["disk_used_pct"] < 100
    assert reading["services"] == {"receiver": "running", "shell": "stopped"}
    assert reading["services_running"] == 1 and 29 <= reading["services_age_s"] <= 60
    # a board without a sensor, a host without the states file: those are left out
    monkeypatch.setattr(health, "THERMAL", str(tmp_path / "none"))
    monkeypatch.setattr(health, "SERVICES_FILE", str(tmp_path / "none.json"))
    reading = health.reading(str(tmp_path))
    assert "temp_c" not in reading and "services" not in reading
    json.dumps(reading, allow_nan=False)  # a valid reading for the receiver
