"""The mqtt-bridge's queue (containers/mqtt-bridge/files) on the host's Python: bounded, fair
between devices, emptied as it is delivered; retained messages not queued again.

Before (issue 16): 1,500 MQTT messages of 59 KB went into the queue in 0.51 s (89 MB, no bound),
delivered rows were never deleted, a real reading of another device waited ~9 minutes behind
the junk (first in, first out), and every restart queued the retained messages again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.templates.bridge_app import Message, load

JUNK = b"j" * (59 * 1024)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load(tmp_path, monkeypatch)


def queue_of(app: ModuleType, tmp_path: Path, **bounds: Any) -> Any:
    return app.Queue(str(tmp_path / "queue.db"), ["garden", "kitchen"], **bounds)


def rows(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "queue.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])


def drain(app: ModuleType, queue: Any, send: Any) -> list[str]:
    """Deliver everything on this thread, the way a sender thread does; devices in order."""
    routes = {d: (f"http://{d}.onion/", "t" * 20) for d in ("garden", "kitchen")}
    senders = app.Senders(queue, routes, send)
    order = []
    while (item := queue.claim(0)) is not None:
        order.append(item.device)
        senders.one(item)
    return order


def test_delivered_messages_leave_the_queue_and_are_counted(app: ModuleType,
                                                            tmp_path: Path) -> None:
    queue = queue_of(app, tmp_path)
    for n in range(3):
        queue.add("kitchen", b'{"n": %d}' % n)
    queue.add("garden", b"{}")
    statuses = iter([201, 201, 400, 201])
    assert drain(app, queue, lambda url, token, payload: next(statuses)) == [
        "garden", "kitchen", "kitchen", "kitchen"]
    assert rows(tmp_path) == 0
    again = queue_of(app, tmp_path)
    status = again.status()
    assert (status["delivered"], status["rejected"], status["pending"]) == (3, 1, 0)
    # the ids go on: a log's "#5" is never a message that was "#1" before
    assert again.add("kitchen", b"{}")[0] == 5


def test_an_older_queue_keeps_its_pending_rows_and_counts(app: ModuleType,
                                                          tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, device TEXT, payload BLOB, "
                   "received REAL, attempts INTEGER DEFAULT 0, state TEXT DEFAULT 'pending', "
                   "status INTEGER, done REAL)")
        db.executemany("INSERT INTO queue (device, payload, state) VALUES (?, ?, ?)",
                       [("kitchen", JUNK, "delivered")] * 200 + [("kitchen", b"{}", "rejected"),
                                                                 ("kitchen", b"{}", "pending"),
                                                                 ("cellar", b"{}", "pending")])
    before = (tmp_path / "queue.db").stat().st_size
    queue = queue_of(app, tmp_path)
    status = queue.status()
    after = (tmp_path / "queue.db").stat().st_size
    print(f"\nmqtt-bridge: an older queue of {before >> 10} KiB (200 delivered rows) is "
          f"{after >> 10} KiB after the start")
    # cellar has no route any more: dropped (and counted)
    assert (status["delivered"], status["rejected"], status["pending"], status["dropped"]) == (
        200, 1, 1, 1)
    assert after < before // 10
    assert queue.add("kitchen", b"{}")[0] == 204


@pytest.mark.parametrize("policy", ["drop-oldest", "refuse-newest"])
def test_each_device_has_an_equal_share(app: ModuleType, tmp_path: Path, policy: str) -> None:
    queue = queue_of(app, tmp_path, max_messages=10, when_full=policy)
    results = [queue.add("kitchen", b'{"n": %d}' % n) for n in range(8)]
    kept = [int(i.payload[6:-1]) for i in iter(lambda: queue.claim(0), None)
            if not queue.finish(i, "delivered")]
    if policy == "drop-oldest":
        assert kept == [3, 4, 5, 6, 7] and [r[1] for r in results[5:]] == [1, 1, 1]
    else:
        assert kept == [0, 1, 2, 3, 4] and [r[0] for r in results[5:]] == [None] * 3
    status = queue.status()
    assert status["dropped"] == 3 and status["delivered"] == 5
    # kitchen's flood left garden's share alone
    assert all(queue.add("garden", b"{}")[0] for _ in range(5))
    assert queue.status()["queue_full"] == 0


def test_the_share_in_bytes(app: ModuleType, tmp_path: Path) -> None:
    queue = queue_of(app, tmp_path, max_bytes=4 * len(JUNK), when_full="refuse-newest")
    assert [queue.add("kitchen", JUNK)[0] is not None for _ in range(3)] == [True, True, False]
    assert queue.status()["queue_full"] == 1
    assert queue.add("kitchen", b"x" * (2 * len(JUNK) + 1))[0] is None  # larger than a share


def test_a_flood_fills_only_its_share_of_the_disk(app: ModuleType, tmp_path: Path) -> None:
    queue = queue_of(app, tmp_path)  # the defaults: 10,000 messages, 64 MiB, drop-oldest
    on_message = app.message_handler(queue, {"kitchen": ("u", "t"), "garden": ("u", "t")})
    started = time.monotonic()
    for _ in range(1500):
        on_message(None, None, Message("readings/kitchen", JUNK))
    taken = time.monotonic() - started
    status = queue.status()
    size = sum(f.stat().st_size for f in tmp_path.glob("queue.db*"))
    print(f"\nmqtt-bridge: 1,500 messages of 59 KiB (86 MiB) in {taken:.2f} s: "
          f"{status['pending']} queued ({status['queue']['bytes'] >> 20} MiB), "
          f"{status['dropped']} dropped; files {size >> 20} MiB (before: 89 MB, no bound)")
    assert status["queue"]["bytes"] <= 32 << 20 and status["dropped"] >= 1500 - 32 * 1024 // 59
    assert size < 40 << 20


def test_a_backlog_of_one_device_does_not_delay_another(app: ModuleType,
                                                        tmp_path: Path) -> None:
    queue = queue_of(app, tmp_path)
    for _ in range(1500):
        queue.add("kitchen", b'{"junk": 1}')
    queue.add("garden", b'{"real": 1}')
    order = drain(app, queue, lambda url, token, payload: 201)
    print(f"\nmqtt-bridge: the real reading went out as delivery #{order.index('garden') + 1} "
          "of 1,501 (before: #1,501, about 9 minutes later)")
    assert order.index("garden") <= 1 and len(order) == 1501


def test_a_destination_that_is_down_holds_up_only_its_device(app: ModuleType,
                                                             tmp_path: Path) -> None:
    queue = queue_of(app, tmp_path)
    for n in range(3):
        queue.add("kitchen", b"{}")
        queue.add("garden", b'{"n": %d}' % n)
    delivered: list[str] = []
    lock = threading.Lock()

    def send(url: str, token: str, payload: bytes) -> int:
        if "kitchen" in url:
            time.sleep(1.0)  # tor trying an onion that is gone
            raise OSError("SOCKS reply 4")
        with lock:
            delivered.append(url)
        return 201

    routes = {d: (f"http://{d}.onion/", "t" * 20) for d in ("garden", "kitchen")}
    senders = app.Senders(queue, routes, send)
    senders.start(2)
    deadline = time.monotonic() + 5
    while len(delivered) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    senders.stop()
    assert len(delivered) == 3, delivered
    status = queue.status()
    assert status["pending"] == 3 and status["delivered"] == 3  # kitchen's wait, with backoff


def test_retained_messages_are_not_queued_again(app: ModuleType, tmp_path: Path) -> None:
    queue = queue_of(app, tmp_path)
    routes = {"kitchen": ("u", "t")}
    on_message = app.message_handler(queue, routes)
    on_message(None, None, Message("readings/kitchen", b'{"n": 1}'))  # live: retain is 0
    drain(app, queue, lambda url, token, payload: 201)
    # a restart: the bridge subscribes again and the broker sends the retained message (retain 1)
    restarted = queue_of(app, tmp_path)
    app.message_handler(restarted, routes)(None, None,
                                           Message("readings/kitchen", b'{"n": 1}', True))
    status = restarted.status()
    assert (status["pending"], status["delivered"]) == (0, 1)


def test_unrouted_and_dropped_messages_are_logged_once_a_minute(
        app: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queue = queue_of(app, tmp_path, max_messages=2, when_full="refuse-newest")
    on_message = app.message_handler(queue, {"kitchen": ("u", "t"), "garden": ("u", "t")})
    for _ in range(5):
        on_message(None, None, Message("readings/cellar", b"{}"))
        on_message(None, None, Message("readings/kitchen", b"{}"))
    err = capsys.readouterr().err
    assert err.count("no route for device 'cellar'") == 1
    assert err.count("queue share of kitchen full: a new message dropped "
                     "(queue_when_full=refuse-newest)") == 1
    assert queue.status()["dropped"] == 4
