#!/usr/bin/python3
"""myonion iot-receiver: devices POST/PUT JSON readings with a per-device bearer token.

Standard library only (http.server + sqlite3). Listens on 127.0.0.1 only; tor is the way in.

    iot_receiver.py serve     run the HTTP API (the container's command)
    iot_receiver.py tokens    print every device's token (generated ones included)
"""

from __future__ import annotations

import csv
import hmac
import html
import io
import json
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEVICES_FILE = os.environ.get("IOT_DEVICES", "/etc/myonion/devices")
SETTINGS_FILE = os.environ.get("IOT_SETTINGS", "/etc/myonion/settings.json")
DB_FILE = os.environ.get("IOT_DB", "/var/lib/myonion-iot/readings.db")
DEVICE_RE = re.compile(r"[a-z0-9_-]{1,64}")
TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
PATH_RE = re.compile(r"/api/v1/readings/([^/]+)")
MAX_LIMIT = 10000


def load_settings() -> dict:
    with open(SETTINGS_FILE) as f:
        return json.load(f)


class Store:
    """The readings and the generated tokens, in one SQLite file; one connection, one lock."""

    def __init__(self, path: str) -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, "
                        "device TEXT NOT NULL, received REAL NOT NULL, data TEXT NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS readings_device ON readings(device, id)")
        self.db.execute("CREATE TABLE IF NOT EXISTS tokens (device TEXT PRIMARY KEY, "
                        "token TEXT NOT NULL)")

    def token_for(self, device: str) -> str:
        """The generated token of a device that was given without one (made once, then kept)."""
        with self.lock:
            row = self.db.execute("SELECT token FROM tokens WHERE device=?", (device,)).fetchone()
            if row:
                return str(row[0])
            token = secrets.token_urlsafe(24)
            self.db.execute("INSERT INTO tokens (device, token) VALUES (?, ?)", (device, token))
            return token

    def add(self, device: str, data: str) -> tuple[int, float]:
        now = time.time()
        with self.lock:
            cur = self.db.execute("INSERT INTO readings (device, received, data) VALUES (?, ?, ?)",
                                  (device, now, data))
            return int(cur.lastrowid or 0), now

    def readings(self, device: str, limit: int) -> list[tuple[int, float, str]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT id, received, data FROM readings WHERE device=? ORDER BY id DESC LIMIT ?",
                (device, limit)).fetchall()
        return list(reversed(rows))

    def latest(self) -> dict[str, tuple[int, float, str, int]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT r.device, r.id, r.received, r.data, c.n FROM readings r JOIN "
                "(SELECT device, MAX(id) AS last, COUNT(*) AS n FROM readings GROUP BY device) c "
                "ON r.id = c.last").fetchall()
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def load_devices(store: Store) -> dict[str, str]:
    """``device_id[:token]`` lines → {device: token}; devices without a token get one generated."""
    devices: dict[str, str] = {}
    with open(DEVICES_FILE) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            device, _, token = line.partition(":")
            if not DEVICE_RE.fullmatch(device) or (token and not TOKEN_RE.fullmatch(token)):
                raise SystemExit(f"iot-receiver: a malformed line in {DEVICES_FILE}")
            devices[device] = token or store.token_for(device)
    return devices


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, separators=(",", ":"))
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class Handler(BaseHTTPRequestHandler):
    server_version = "myonion-iot"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30  # a slow or idle client cannot hold a thread for long
    store: Store
    devices: dict[str, str]
    max_body: int
    title: str

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # method, path and status only: never headers (they carry the tokens) nor bodies
        sys.stderr.write("iot-receiver: %s\n" % (format % args))

    # responses ----------------------------------------------------------------------------
    def send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def json(self, status: int, obj: object, extra: dict | None = None) -> None:
        self.send(status, json.dumps(obj).encode() + b"\n", "application/json", extra)

    def error(self, status: int, message: str, extra: dict | None = None) -> None:
        self.json(status, {"error": message}, extra)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (bad request line, too many headers) as JSON, closing
        self.close_connection = True
        try:
            self.error(code, message or self.responses.get(code, ("error",))[0],
                       {"Connection": "close"})
        except OSError:
            pass

    # routes -------------------------------------------------------------------------------
    def route(self) -> tuple[str, str | None, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        match = PATH_RE.fullmatch(parts.path)
        query = parse_qs(parts.query, max_num_fields=10)
        return parts.path, match.group(1) if match else None, query

    def do_GET(self) -> None:  # noqa: N802
        path, device, query = self.route()
        if path == "/":
            return self.page()
        if path == "/healthz":
            return self.send(200, b"ok\n", "text/plain; charset=utf-8")
        if device is None:
            return self.error(404, "not found")
        if device not in self.devices:
            return self.error(404, "unknown device")
        try:
            limit = int(query.get("limit", ["1000"])[0])
        except ValueError:
            return self.error(400, "limit must be a whole number")
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(400, f"limit must be between 1 and {MAX_LIMIT}")
        rows = self.store.readings(device, limit)
        fmt = query.get("format", ["json"])[0]
        if fmt == "json":
            return self.json(200, {"device": device, "readings": [
                {"id": i, "received": iso(ts), "data": json.loads(data)} for i, ts, data in rows]})
        if fmt != "csv":
            return self.error(400, "format must be json or csv")
        decoded = [(i, ts, json.loads(data)) for i, ts, data in rows]
        keys: list[str] = []
        for _, _, data in decoded:
            for key in data:
                if key not in keys:
                    keys.append(key)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["id", "received"] + [csv_cell(k) for k in keys])
        for i, ts, data in decoded:
            writer.writerow([i, iso(ts)] + [csv_cell(data.get(k, "")) for k in keys])
        self.send(200, out.getvalue().encode(), "text/csv; charset=utf-8",
                  {"Content-Disposition": f'attachment; filename="{device}.csv"'})

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        self.receive()

    def do_PUT(self) -> None:  # noqa: N802
        self.receive()

    def receive(self) -> None:
        _, device, _ = self.route()
        if device is None:
            self.close_connection = True
            return self.error(404, "not found")
        # the body is never read unless the device, its token and the size are right
        self.close_connection = True
        expected = self.devices.get(device) if DEVICE_RE.fullmatch(device) else None
        auth = self.headers.get("Authorization", "")
        scheme, _, given = auth.partition(" ")
        if expected is None:
            return self.error(404, "unknown device")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                  expected.encode()):
            return self.error(401, "a valid bearer token is needed",
                              {"WWW-Authenticate": 'Bearer realm="myonion-iot"'})
        if self.headers.get("Transfer-Encoding"):
            return self.error(411, "send a Content-Length, not a chunked body")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self.error(411, "a Content-Length is needed")
        if length < 0:
            return self.error(400, "bad Content-Length")
        if length > self.max_body:
            return self.error(413, f"the body is larger than {self.max_body} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            return self.error(400, "the body is shorter than its Content-Length")
        try:
            data = json.loads(body.decode("utf-8"), parse_constant=reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return self.error(400, "the body is not valid JSON")
        if not isinstance(data, dict):
            return self.error(400, "a reading is a JSON object")
        self.close_connection = False
        ident, ts = self.store.add(device, json.dumps(data, separators=(",", ":")))
        self.json(201, {"id": ident, "device": device, "received": iso(ts)})

    def page(self) -> None:
        e = html.escape
        rows = []
        latest = self.store.latest()
        for device in sorted(self.devices):
            if device in latest:
                _, ts, data, n = latest[device]
                rows.append(f"<tr><td>{e(device)}</td><td>{e(iso(ts))}</td><td>{n}</td>"
                            f"<td><code>{e(data)}</code></td></tr>")
            else:
                rows.append(f"<tr><td>{e(device)}</td><td>—</td><td>0</td><td></td></tr>")
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(self.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}code{{white-space:pre-wrap}}</style>
</head><body><h1>{e(self.title)}</h1>
<table><tr><th>device</th><th>last reading (UTC)</th><th>readings</th><th>data</th></tr>
{''.join(rows)}
</table><p>JSON: <code>/api/v1/readings/&lt;device&gt;</code> · CSV: add <code>?format=csv</code></p>
</body></html>
"""
        self.send(200, body.encode(), "text/html; charset=utf-8",
                  {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    store = Store(DB_FILE)
    devices = load_devices(store)
    if command == "tokens":
        for device, token in sorted(devices.items()):
            print(f"{device}:{token}")
        return 0
    if command != "serve":
        print(__doc__, file=sys.stderr)
        return 2
    settings = load_settings()
    Handler.store = store
    Handler.devices = devices
    Handler.max_body = int(settings["max_body"])
    Handler.title = str(settings["title"])
    server = ThreadingHTTPServer(("127.0.0.1", 8080), Handler)
    server.daemon_threads = True
    print(f"iot-receiver: listening on 127.0.0.1:8080 for {len(devices)} device(s): "
          f"{', '.join(sorted(devices))}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
