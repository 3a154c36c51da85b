"""The bridge's HTTP door on the LAN side (the container's port 8088; the host's lan_http_port),
for devices that speak HTTP only: ``PUT`` or ``POST /api/v1/readings/<device>`` with a JSON
object and ``Authorization: Bearer <the device's password>``. A reading accepted here goes into the
same queue as an MQTT message (same order, same retries) and is answered ``202``.

One identity per device: the token says who is sending; a device that sends for another device's
path is refused (``403``) and counted, as on the broker. Bounded like the other doors: at most
``max_connections`` (the oldest still arriving makes room), a whole request within ``timeout``
seconds, a body of at most ``max_body`` bytes, one request per connection.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import re
import ssl
from collections.abc import Callable
from typing import Any

from bridge_doors import Crowd

PATH_RE = re.compile(r"/api/v1/readings/([a-z0-9_-]{1,64})")
MAX_HEADERS = 64
REASONS = {202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
           413: "Payload Too Large", 507: "Insufficient Storage"}


class Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def check_reading(body: bytes) -> None:
    """A reading is a JSON object (of finite numbers): raise Refusal(400) otherwise."""
    try:
        data = json.loads(body.decode("utf-8"), parse_float=_finite,
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refusal(400, "the body is not valid JSON (finite numbers only)") from None
    if not isinstance(data, dict):
        raise Refusal(400, "a reading is a JSON object")


class HttpDoor:
    """The LAN side's HTTP listener. ``devices``: id → password; ``accept(device, body)`` queues a
    reading (its id, or None when the device's share of the queue is full and the policy drops
    the new one); ``refuse(device, claimed)`` counts and logs a refused one."""

    def __init__(self, devices: dict[str, str], accept: Callable[[str, bytes], int | None],
                 refuse: Callable[[str, str], None], log: Callable[[str], None],
                 max_body: int = 65536, max_connections: int = 32,
                 timeout: float = 10.0) -> None:
        self.devices, self.accept, self.refuse, self.log = devices, accept, refuse, log
        self.max_body, self.timeout = max_body, timeout
        self.crowd = Crowd(max_connections)
        self.failed = 0

    async def start(self, host: str, port: int,
                    context: ssl.SSLContext | None) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=8192, ssl=context,
                                          ssl_handshake_timeout=self.timeout if context else None)

    def owner(self, token: str) -> str | None:
        """The device whose password ``token`` is (every one compared, in constant time)."""
        found = None
        for device, password in self.devices.items():
            if hmac.compare_digest(token.encode(), password.encode()):
                found = device
        return found

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.crowd.admit(writer):
            writer.transport.abort()
            return
        try:
            try:
                async with asyncio.timeout(self.timeout):
                    status, answer = await self.request(reader)
            except Refusal as e:
                status, answer = e.status, {"error": str(e)}
            body = json.dumps(answer).encode() + b"\n"
            head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
                    "Server: myonion-mqtt-bridge\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                    + ('WWW-Authenticate: Bearer realm="myonion-gateway"\r\n'
                       if status == 401 else "")
                    + "Connection: close\r\n\r\n").encode()
            writer.write(head + body)
            async with asyncio.timeout(self.timeout):
                await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # went away, too slow (TimeoutError is an OSError), too long, or made room
        finally:
            self.crowd.leave()
            writer.transport.abort()

    async def head(self, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
        line = (await reader.readline()).decode("latin-1").split()
        if len(line) != 3 or not line[2].startswith("HTTP/1."):
            raise Refusal(400, "a malformed request line")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                return line[0], line[1], headers
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raise Refusal(400, "too many headers")

    async def request(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        method, target, headers = await self.head(reader)
        self.crowd.settle()
        if method not in ("PUT", "POST"):
            raise Refusal(405, "PUT or POST a reading to /api/v1/readings/<device>")
        match = PATH_RE.fullmatch(target.split("?", 1)[0])
        if match is None:
            raise Refusal(404, "not found: PUT or POST to /api/v1/readings/<device>")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        device = self.owner(token.strip()) if scheme.lower() == "bearer" else None
        if device is None:
            self.failed += 1
            raise Refusal(401, "the device's password is needed as a bearer token")
        if device != match.group(1):
            self.refuse(device, match.group(1))
            raise Refusal(403, "a device sends its own readings only")
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            raise Refusal(411, "a Content-Length is needed") from None
        if not 0 <= length <= self.max_body:
            raise Refusal(413, f"a reading is at most {self.max_body} bytes")
        if headers.get("expect", "").lower() == "100-continue":
            raise Refusal(400, "send the body without Expect: 100-continue")
        body = await reader.readexactly(length)
        check_reading(body)
        ident = await asyncio.get_running_loop().run_in_executor(None, self.accept, device, body)
        if ident is None:
            raise Refusal(507, "the device's share of the queue is full")
        return 202, {"queued": ident, "device": device}
