"""The iot-receiver's readings in SQLite, kept within a bound on count and size.

One connection, used only from the server's event loop (so no lock). Per-device counts and sizes
are kept in memory (loaded once at the start), so the bound is checked without a table scan.

When a new reading would pass ``max_readings`` or ``max_bytes`` the policy decides:

- ``drop-oldest``: the oldest readings of the device that holds the most are deleted until the new
  one fits, so one device (or one leaked token) cannot push out another device's history;
- ``refuse-newest``: nothing stored is deleted; ``add`` raises ``StoreFull`` (HTTP 507).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator

POLICIES = ("drop-oldest", "refuse-newest")
#: what one row costs beyond its data (id, device, time, index entry), for the size bound
ROW_OVERHEAD = 64
#: rows fetched at a time by exports: memory per export stays a few rows, whatever the data
PAGE_ROWS = 8


class StoreFull(Exception):
    """The storage bound is reached and the policy is refuse-newest (or the reading alone is
    larger than the bound)."""


class Store:
    """The readings and the generated tokens, in one SQLite file, within the given bounds."""

    def __init__(self, path: str, max_readings: int = 10**9, max_bytes: int = 2**62,
                 when_full: str = "drop-oldest") -> None:
        if when_full not in POLICIES:
            raise ValueError(f"when_full must be one of {', '.join(POLICIES)}")
        self.max_readings, self.max_bytes, self.when_full = max_readings, max_bytes, when_full
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # the write-ahead log: checkpointed every 256 pages, then truncated back to 1 MiB
        self.db.execute("PRAGMA wal_autocheckpoint=256")
        self.db.execute("PRAGMA journal_size_limit=1048576")
        self.db.execute("CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, "
                        "device TEXT NOT NULL, received REAL NOT NULL, data TEXT NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS readings_device ON readings(device, id)")
        self.db.execute("CREATE TABLE IF NOT EXISTS tokens (device TEXT PRIMARY KEY, "
                        "token TEXT NOT NULL)")
        #: device -> [readings, bytes (data + ROW_OVERHEAD each)]
        self.held: dict[str, list[int]] = {
            device: [n, size + n * ROW_OVERHEAD] for device, n, size in self.db.execute(
                "SELECT device, COUNT(*), SUM(LENGTH(data)) FROM readings GROUP BY device")}
        self.dropped = 0

    # totals ------------------------------------------------------------------------------------
    def total(self) -> tuple[int, int]:
        """(readings, bytes) held now."""
        return (sum(n for n, _ in self.held.values()), sum(b for _, b in self.held.values()))

    def count(self, device: str) -> int:
        return self.held.get(device, [0, 0])[0]

    def trim(self) -> int:
        """Enforce the bound on what is already stored (the bound may have been lowered since):
        drop-oldest deletes; refuse-newest keeps it and refuses until there is room."""
        if self.when_full != "drop-oldest":
            return 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            dropped = self._make_room(0)
        finally:
            self.db.execute("COMMIT")
        return dropped

    # writes ------------------------------------------------------------------------------------
    def token_for(self, device: str) -> str:
        """The generated token of a device that was given without one (made once, then kept)."""
        row = self.db.execute("SELECT token FROM tokens WHERE device=?", (device,)).fetchone()
        if row:
            return str(row[0])
        token = secrets.token_urlsafe(24)
        self.db.execute("INSERT INTO tokens (device, token) VALUES (?, ?)", (device, token))
        return token

    def add(self, device: str, data: str) -> tuple[int, float, int]:
        """Store one reading (compact JSON text); returns (id, time, readings dropped for it).
        Raises StoreFull when the bound is reached and the policy refuses."""
        size = len(data) + ROW_OVERHEAD
        if size > self.max_bytes:
            raise StoreFull("the reading alone is larger than the storage bound")
        readings, held = self.total()
        full = readings + 1 > self.max_readings or held + size > self.max_bytes
        if full and self.when_full == "refuse-newest":
            raise StoreFull("the storage bound is reached")
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            dropped = self._make_room(size) if full else 0
            cur = self.db.execute(
                "INSERT INTO readings (device, received, data) VALUES (?, ?, ?)",
                (device, now, data))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        entry = self.held.setdefault(device, [0, 0])
        entry[0] += 1
        entry[1] += size
        return int(cur.lastrowid or 0), now, dropped

    def _make_room(self, size: int) -> int:
        """Delete the oldest readings of the largest holder until ``size`` more bytes and one
        more reading (when size > 0) fit; inside the caller's transaction."""
        dropped = 0
        extra = 1 if size else 0
        while True:
            readings, held = self.total()
            over_count = readings + extra > self.max_readings
            if not over_count and held + size <= self.max_bytes:
                return dropped
            if not self.held:
                raise StoreFull("the reading does not fit in the storage bound")
            index = 0 if over_count else 1
            victim = max(self.held, key=lambda d: self.held[d][index])
            row = self.db.execute("SELECT id, LENGTH(data) FROM readings WHERE device=? "
                                  "ORDER BY id LIMIT 1", (victim,)).fetchone()
            if row is None:  # a count that outlived its rows: forget it
                del self.held[victim]
                continue
            self.db.execute("DELETE FROM readings WHERE id=?", (row[0],))
            entry = self.held[victim]
            entry[0] -= 1
            entry[1] -= row[1] + ROW_OVERHEAD
            if entry[0] <= 0:
                del self.held[victim]
            dropped += 1
            self.dropped += 1

    # reads -------------------------------------------------------------------------------------
    def window(self, device: str, limit: int) -> tuple[int, int] | None:
        """The id range of a device's last ``limit`` readings, fixed now (readings that arrive
        during an export are not in it); None when it has none."""
        last = self.db.execute("SELECT MAX(id) FROM readings WHERE device=?",
                               (device,)).fetchone()[0]
        if last is None:
            return None
        first = self.db.execute("SELECT id FROM readings WHERE device=? ORDER BY id DESC "
                                "LIMIT 1 OFFSET ?", (device, limit - 1)).fetchone()
        return (int(first[0]) if first else 0), int(last)

    def rows(self, device: str, span: tuple[int, int]) -> Iterator[tuple[int, float, str]]:
        """The readings of ``span`` (from ``window``), oldest first, PAGE_ROWS at a time: no
        cursor stays open between pages, and memory does not grow with the span."""
        after, last = span[0] - 1, span[1]
        while True:
            page = self.db.execute(
                "SELECT id, received, data FROM readings WHERE device=? AND id>? AND id<=? "
                "ORDER BY id LIMIT ?", (device, after, last, PAGE_ROWS)).fetchall()
            if not page:
                return
            yield from page
            after = page[-1][0]

    def latest(self, device: str) -> tuple[int, float, str] | None:
        return self.db.execute("SELECT id, received, data FROM readings WHERE device=? "
                               "ORDER BY id DESC LIMIT 1", (device,)).fetchone()
