#!/usr/bin/python3
"""myonion iot-receiver: devices POST/PUT JSON readings with a per-device bearer token.

Standard library only (asyncio + sqlite3). Listens on 127.0.0.1 only; tor is the way in.

    iot_receiver.py serve     run the HTTP API (the container's command)
    iot_receiver.py tokens    print every device's token (generated ones included)

Bounded against hostile visitors and devices: connections and request time by iot_http's
server, exports streamed in linear time (iot_export) with at most ``max_exports`` at a time,
storage by iot_store.Store; readings must be JSON objects of finite numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import math
import os
import re
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

# the modules beside this file (also when it is run through the /usr/local/bin link)
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from iot_export import csv_export, iso, json_export
from iot_http import (
    BoundedServer,
    HTTPError,
    Limits,
    Request,
    Response,
    error,
    json_response,
)
from iot_store import Store, StoreFull

DEVICES_FILE = os.environ.get("IOT_DEVICES", "/etc/myonion/devices")
SETTINGS_FILE = os.environ.get("IOT_SETTINGS", "/etc/myonion/settings.json")
DB_FILE = os.environ.get("IOT_DB", "/var/lib/myonion-iot/readings.db")
DEVICE_RE = re.compile(r"[a-z0-9_-]{1,64}")
TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
PATH_RE = re.compile(r"/api/v1/readings/([^/]+)")
MAX_LIMIT = 10000
LOG_EVERY = 60.0  # seconds between two "storage full" lines


def reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def finite_float(text: str) -> float:
    """JSON numbers must be finite: 1e999 would be stored as Infinity, which is not JSON."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def parse_reading(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=reject_constant,
                          parse_float=finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise HTTPError(400, "the body is not valid JSON (finite numbers only)") from e
    if not isinstance(data, dict):
        raise HTTPError(400, "a reading is a JSON object")
    return data


def log(message: str) -> None:
    print(f"iot-receiver: {message}", file=sys.stderr, flush=True)


class Receiver(BoundedServer):
    """The API's routes, on the bounded server."""

    server_name = "myonion-iot"

    def __init__(self, store: Store, devices: dict[str, str], limits: Limits,
                 title: str = "Readings") -> None:
        super().__init__(limits)
        self.store, self.devices, self.title = store, devices, title
        self.exporting = 0  # exports under way (at most limits.max_exports)
        self.stats["full"] = 0
        self._full_logged = 0.0

    def log(self, message: str) -> None:
        log(message)

    # routes --------------------------------------------------------------------------------
    async def dispatch(self, request: Request, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> Response:
        try:
            if request.method in ("GET", "HEAD"):
                return self.get(request)
            if request.method in ("POST", "PUT"):
                return await self.receive(request, reader, writer)
            return error(501, "not implemented", close=True)
        except HTTPError as e:
            return error(e.status, str(e), close=True)

    def get(self, request: Request) -> Response:
        parts = urlsplit(request.target)
        if parts.path == "/":
            return self.page()
        if parts.path == "/healthz":
            return Response(200, b"ok\n", "text/plain; charset=utf-8")
        match = PATH_RE.fullmatch(parts.path)
        if match is None:
            return error(404, "not found")
        device = match.group(1)
        if device not in self.devices:
            return error(404, "unknown device")
        try:
            query = parse_qs(parts.query, max_num_fields=10)
            limit = int(query.get("limit", ["1000"])[0])
        except ValueError:
            return error(400, "limit must be a whole number")
        if not 1 <= limit <= MAX_LIMIT:
            return error(400, f"limit must be between 1 and {MAX_LIMIT}")
        fmt = query.get("format", ["json"])[0]
        if fmt not in ("json", "csv"):
            return error(400, "format must be json or csv")
        if request.method == "HEAD":
            return Response(200, ctype="application/json" if fmt == "json" else
                            "text/csv; charset=utf-8", stream=iter(()))
        return self.export(device, limit, fmt)

    def export(self, device: str, limit: int, fmt: str) -> Response:
        if self.exporting >= self.limits.max_exports:
            return error(503, "busy with other exports; try again shortly",
                         headers={"Retry-After": "5"})
        self.exporting += 1  # until Response.done, called once the export ends either way
        span = self.store.window(device, limit)
        if fmt == "json":
            return Response(200, ctype="application/json", stream=json_export(
                self.store, device, span), done=self.export_done)
        return Response(200, ctype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{device}.csv"'},
                        stream=csv_export(self.store, device, span), done=self.export_done)

    def export_done(self) -> None:
        self.exporting -= 1

    async def receive(self, request: Request, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> Response:
        # the body is never read unless the device, its token and the size are right
        match = PATH_RE.fullmatch(urlsplit(request.target).path)
        if match is None:
            raise HTTPError(404, "not found")
        device = match.group(1)
        expected = self.devices.get(device) if DEVICE_RE.fullmatch(device) else None
        if expected is None:
            raise HTTPError(404, "unknown device")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                  expected.encode()):
            return error(401, "a valid bearer token is needed", close=True,
                         headers={"WWW-Authenticate": 'Bearer realm="myonion-iot"'})
        if "transfer-encoding" in request.headers:
            raise HTTPError(411, "send a Content-Length, not a chunked body")
        try:
            length = int(request.headers.get("content-length", ""))
        except ValueError:
            raise HTTPError(411, "a Content-Length is needed") from None
        if length < 0:
            raise HTTPError(400, "bad Content-Length")
        if length > self.limits.max_body:
            raise HTTPError(413, f"the body is larger than {self.limits.max_body} bytes")
        if request.headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise HTTPError(400, "the body is shorter than its Content-Length") from None
        data = parse_reading(body)
        try:
            ident, ts, dropped = self.store.add(device, json.dumps(data, separators=(",", ":")))
        except StoreFull as e:
            self.note_full(f"refused a reading of {device}: {e} "
                           f"(when_full={self.store.when_full})")
            return error(507, f"storage full: {e}", close=True)
        if dropped:
            self.note_full(f"dropped {dropped} oldest reading(s) to store one of {device} "
                           "(when_full=drop-oldest)")
        return json_response(201, {"id": ident, "device": device, "received": iso(ts)})

    def note_full(self, message: str) -> None:
        """Log that the storage bound was met, at most once a minute (with a count)."""
        self.stats["full"] += 1
        now = time.monotonic()
        if now - self._full_logged >= LOG_EVERY:
            self._full_logged = now
            self.log(f"storage bound reached ({self.stats['full']} time(s) so far): {message}")

    def page(self) -> Response:
        e = html.escape
        rows = []
        for device in sorted(self.devices):
            latest = self.store.latest(device)
            if latest:
                _, ts, data = latest
                rows.append(f"<tr><td>{e(device)}</td><td>{e(iso(ts))}</td>"
                            f"<td>{self.store.count(device)}</td>"
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
</table><p>JSON: <code>/api/v1/readings/&lt;device&gt;</code> ·
CSV: add <code>?format=csv</code></p>
</body></html>
"""
        return Response(200, body.encode(), "text/html; charset=utf-8", headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def load_settings() -> dict[str, Any]:
    with open(SETTINGS_FILE) as f:
        return dict(json.load(f))


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


def open_store(settings: dict[str, Any]) -> Store:
    return Store(DB_FILE, max_readings=int(settings.get("max_readings", 10**9)),
                 max_bytes=int(settings.get("max_storage_mb", 2**40 >> 20)) << 20,
                 when_full=str(settings.get("when_full", "drop-oldest")))


def limits_of(settings: dict[str, Any]) -> Limits:
    keys = ("max_body", "max_connections", "request_timeout", "max_exports")
    return Limits(**{k: type(getattr(Limits, k))(settings[k]) for k in keys if k in settings})


async def serve(store: Store, devices: dict[str, str], settings: dict[str, Any]) -> None:
    receiver = Receiver(store, devices, limits_of(settings), str(settings.get("title", "")))
    server = await receiver.start()
    readings, held = store.total()
    log(f"listening on 127.0.0.1:8080 for {len(devices)} device(s): "
        f"{', '.join(sorted(devices))}; {readings} reading(s), {held >> 20} MiB held "
        f"(bound {store.max_readings} readings, {store.max_bytes >> 20} MiB, "
        f"when full: {store.when_full})")
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    if command not in ("serve", "tokens"):
        print(__doc__, file=sys.stderr)
        return 2
    settings = load_settings() if command == "serve" else {}
    store = open_store(settings)
    devices = load_devices(store)
    if command == "tokens":
        for device, token in sorted(devices.items()):
            print(f"{device}:{token}")
        return 0
    dropped = store.trim()
    if dropped:
        log(f"dropped {dropped} oldest reading(s) to fit the storage bound (when_full=drop-oldest)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(store, devices, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
