"""The bridge's queue in SQLite: bounded, fair between devices, emptied as it is delivered.

- Bounds: at most ``max_messages`` messages and ``max_bytes`` of payload, split evenly between the
  routed devices (each has a share: one device's flood cannot take another device's room). When a
  device's share is full the policy decides: ``drop-oldest`` drops that device's oldest queued
  message, ``refuse-newest`` drops the new one. Either way the ``dropped`` counter grows.
- Fairness: senders take the devices in turn (round robin), one message of a device at a time, so
  a device's backlog delays another device's reading by at most one delivery, not by the backlog.
- Delivered and rejected messages leave the queue at once; only their counts are kept.

Thread-safe: the MQTT thread adds, sender threads ``claim`` and ``finish``, the status page reads
``status`` (kept in memory: no table scan).
"""

from __future__ import annotations

import collections
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

POLICIES = ("drop-oldest", "refuse-newest")
COUNTERS = ("delivered", "rejected", "dropped")
#: a database left by an older version is compacted at the start when its live data is smaller
COMPACT_BELOW = 8 << 20


class Item(NamedTuple):
    ident: int
    device: str
    payload: bytes
    attempts: int


class Queue:
    def __init__(self, path: str, devices: list[str], max_messages: int = 10000,
                 max_bytes: int = 64 << 20, when_full: str = "drop-oldest") -> None:
        if when_full not in POLICIES:
            raise ValueError(f"when_full must be one of {', '.join(POLICIES)}")
        self.lock = threading.Condition()
        self.when_full = when_full
        self.max_messages, self.max_bytes = max_messages, max_bytes
        share = max(1, len(devices))
        self.quota = (max(1, max_messages // share), max(1, max_bytes // share))
        self.db = _open(path)
        stored = dict(self.db.execute("SELECT name, value FROM counters"))
        self.counters = {name: int(stored.get(name) or 0) for name in COUNTERS}
        # ids go on counting after deliveries (a log's "#12" is one message, never two)
        top = self.db.execute("SELECT MAX(id) FROM queue").fetchone()[0] or 0
        self.last_id = max(int(stored.get("last_id") or 0), int(top))
        #: device -> [messages, payload bytes] queued
        self.held: dict[str, list[int]] = {d: [n, b] for d, n, b in self.db.execute(
            "SELECT device, COUNT(*), SUM(LENGTH(payload)) FROM queue GROUP BY device")}
        self.unrouted = sum(n for d, (n, _) in self.held.items() if d not in devices)
        for device in [d for d in self.held if d not in devices]:  # routes removed since
            self.db.execute("DELETE FROM queue WHERE device=?", (device,))
            del self.held[device]
        self._count("dropped", self.unrouted)
        self.order = collections.deque(sorted(devices))
        self.busy: dict[str, int] = {}  # device -> the id being delivered
        self.next_try: dict[str, float] = {}
        self.full: set[str] = set()  # devices whose share is full now
        self._deleted = 0

    # the MQTT side -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One commit (one sync to disk) for what belongs together; under ``self.lock``."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def add(self, device: str, payload: bytes) -> tuple[int | None, int]:
        """Queue a message: (its id or None if it was dropped, older messages dropped for it)."""
        with self.lock, self._transaction():
            entry = self.held.setdefault(device, [0, 0])
            dropped = 0
            while entry[0] + 1 > self.quota[0] or entry[1] + len(payload) > self.quota[1]:
                self.full.add(device)
                oldest = None
                if self.when_full == "drop-oldest" and len(payload) <= self.quota[1]:
                    oldest = self.db.execute(
                        "SELECT id, LENGTH(payload) FROM queue WHERE device=? AND id!=? "
                        "ORDER BY id LIMIT 1", (device, self.busy.get(device, 0))).fetchone()
                if oldest is None:
                    self._count("dropped", 1 + dropped)
                    return None, dropped
                self.db.execute("DELETE FROM queue WHERE id=?", (oldest[0],))
                entry[0] -= 1
                entry[1] -= oldest[1]
                dropped += 1
            self.last_id += 1
            self.db.execute("INSERT INTO queue (id, device, payload, received) VALUES (?, ?, ?, ?)",
                            (self.last_id, device, payload, time.time()))
            self.db.execute("INSERT INTO counters (name, value) VALUES ('last_id', ?) "
                            "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                            (self.last_id,))
            entry[0] += 1
            entry[1] += len(payload)
            if dropped:
                self._count("dropped", dropped)
            elif entry[0] < self.quota[0] and entry[1] < self.quota[1]:
                self.full.discard(device)
            self.lock.notify()
            return self.last_id, dropped

    # the senders -------------------------------------------------------------------------------
    def claim(self, timeout: float = 30.0) -> Item | None:
        """The oldest message of the next device in turn that is neither being delivered nor
        waiting to retry; waits up to ``timeout`` seconds for one. The device is busy until
        ``finish``."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                now = time.monotonic()
                for _ in range(len(self.order)):
                    device = self.order[0]
                    self.order.rotate(-1)
                    if (self.held.get(device, [0])[0] and device not in self.busy
                            and self.next_try.get(device, 0) <= now):
                        row = self.db.execute(
                            "SELECT id, payload, attempts FROM queue WHERE device=? "
                            "ORDER BY id LIMIT 1", (device,)).fetchone()
                        if row is None:
                            self.held.pop(device, None)
                            continue
                        self.busy[device] = row[0]
                        return Item(row[0], device, bytes(row[1]), row[2])
                waits = [t - now for d, t in self.next_try.items()
                         if t > now and d not in self.busy and self.held.get(d, [0])[0]]
                left = deadline - now
                if left <= 0:
                    return None
                self.lock.wait(min([left, *waits]))

    def finish(self, item: Item, outcome: str, retry_in: float = 0.0) -> None:
        """``delivered`` or ``rejected``: the message leaves the queue and is counted; ``retry``:
        it stays, and its device waits ``retry_in`` seconds."""
        with self.lock:
            with self._transaction():
                self._finish(item, outcome, retry_in)
            self._deleted += outcome != "retry"
            if outcome != "retry" and self._deleted % 64 == 0:
                self.db.execute("PRAGMA incremental_vacuum(256)").fetchall()  # a page a step
            self.lock.notify_all()

    def _finish(self, item: Item, outcome: str, retry_in: float) -> None:
        self.busy.pop(item.device, None)
        if outcome == "retry":
            self.db.execute("UPDATE queue SET attempts=attempts+1 WHERE id=?", (item.ident,))
            self.next_try[item.device] = time.monotonic() + retry_in
        else:
            self.next_try.pop(item.device, None)
            if self.db.execute("DELETE FROM queue WHERE id=?", (item.ident,)).rowcount:
                entry = self.held[item.device]
                entry[0] -= 1
                entry[1] -= len(item.payload)
                if entry[0] < self.quota[0] and entry[1] < self.quota[1]:
                    self.full.discard(item.device)
            self._count(outcome, 1)

    # status ------------------------------------------------------------------------------------
    def status(self) -> dict[str, object]:
        """Counts only: no device ids, topics or payloads."""
        with self.lock:
            messages = sum(n for n, _ in self.held.values())
            held = sum(b for _, b in self.held.values())
            return {**self.counters, "pending": messages, "queue_full": len(self.full),
                    "queue": {"messages": messages, "bytes": held,
                              "max_messages": self.max_messages, "max_bytes": self.max_bytes,
                              "when_full": self.when_full}}

    def _count(self, name: str, n: int) -> None:
        if n:
            self.counters[name] += n
            self.db.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) "
                            "DO UPDATE SET value=value+excluded.value", (name, n))


def _open(path: str) -> sqlite3.Connection:
    """The queue's database; one left by an older version has its delivered and rejected rows
    turned into counts, and is compacted (made to give freed pages back) when that is cheap."""
    fresh = not os.path.exists(path)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    if fresh:
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=256")
    db.execute("PRAGMA journal_size_limit=1048576")
    db.execute("CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY, device TEXT, "
               "payload BLOB, received REAL, attempts INTEGER DEFAULT 0, "
               "state TEXT DEFAULT 'pending', status INTEGER, done REAL)")
    db.execute("CREATE INDEX IF NOT EXISTS queue_device ON queue(device, id)")
    db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER)")
    done = db.execute("SELECT state, COUNT(*) FROM queue WHERE state!='pending' "
                      "GROUP BY state").fetchall()
    if done:
        db.execute("INSERT INTO counters (name, value) SELECT 'last_id', MAX(id) FROM queue "
                   "WHERE true ON CONFLICT(name) DO UPDATE SET value=MAX(value, excluded.value)")
        for state, n in done:
            db.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) "
                       "DO UPDATE SET value=value+excluded.value", (state, n))
        db.execute("DELETE FROM queue WHERE state!='pending'")
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        live = db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM queue").fetchone()[0]
        if live < COMPACT_BELOW:
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db
