"""The bridge's doors, on one asyncio loop: the status page (onion port 80 → 127.0.0.1:8080),
the broker's fronts — the LAN front (the container's port 1883, TLS unless lan_tls is off) and,
with onion_broker, the onion front (onion port 1883 → 127.0.0.1:1884), which throttles failed
logins — both to mosquitto on 127.0.0.1:1885.

Both fronts read every packet a client sends: the CONNECT's user name (the device's id) and the
topic of each PUBLISH, which ``guard`` is shown, so a device publishing on another device's topic
is counted (mosquitto's ACL refuses it; the front passes it on so that the broker answers it as
MQTT says).

Every visitor comes from 127.0.0.1 through tor, so nothing can be limited per address:

- connections: at most ``max_connections`` per front and ``page_connections`` on the status page
  (an idle connection costs a socket and a few KiB, no thread); when all are taken, the arriving
  connection (no whole request yet, or not logged in) that has been quiet longest makes room —
  on the status page only one quiet for ``grace`` seconds, so that a client sending its request
  is not closed by a crowd that keeps reconnecting (``Crowd``);
- time: a whole request, or an MQTT CONNECT, within ``timeout`` seconds (not per read);
- failed broker logins: mosquitto 2.0 has no throttle of its own, so token buckets of failures,
  one a device, one for unknown names and one a (device, client id) that has logged in before;
  a login waits for a token of its bucket, a successful one gives it back (bridge_throttle).
  The LAN side of the broker does not pass through here.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

from bridge_throttle import Bucket, LoginThrottle

__all__ = ["Crowd", "Doors", "LoginThrottle", "connect_ids", "connect_user", "read_packet"]

MAX_CONNECT = 256 << 10  # the largest CONNECT passed on (a will message included)
#: what a PUBLISH may hold beyond its payload (topic, packet id, properties)
PUBLISH_OVERHEAD = 70000


class Crowd:
    """A door's connections; the ones still arriving can be made to leave.

    When all ``limit`` places are taken, the arriving connection that has been quiet longest
    (nothing heard since it came, or since its last bytes: see ``heard``) is closed to make room,
    but only one quiet for at least ``grace`` seconds: a client that has just come, or is
    sending its request, is not the one closed, however many others arrive meanwhile. With none
    to close, the newcomer is turned away. With ``grace`` 0 and no ``heard``, the oldest arriving
    connection makes room.
    """

    def __init__(self, limit: int, grace: float = 0.0) -> None:
        self.limit, self.grace = limit, grace
        self.conns: dict[asyncio.Task[Any], list[Any]] = {}  # task -> [writer, arriving, heard]
        self.evicted = 0

    def admit(self, writer: asyncio.StreamWriter) -> bool:
        task = asyncio.current_task()
        assert task is not None
        now = time.monotonic()
        if len(self.conns) >= self.limit:
            quiet = [(heard, t) for t, (_, arriving, heard) in self.conns.items()
                     if arriving and now - heard >= self.grace]
            if not quiet:
                return False
            victim = min(quiet, key=lambda pair: pair[0])[1]
            self.conns.pop(victim)[0].transport.abort()
            victim.cancel()
            self.evicted += 1
        self.conns[task] = [writer, True, now]
        return True

    def heard(self) -> None:
        """The current connection has sent something: its quiet starts again."""
        entry = self.conns.get(asyncio.current_task())  # type: ignore[arg-type]
        if entry is not None:
            entry[2] = time.monotonic()

    def settle(self) -> None:
        """The current connection has arrived: it is no longer made to leave."""
        self.conns[asyncio.current_task()][1] = False  # type: ignore[index]

    def leave(self) -> None:
        self.conns.pop(asyncio.current_task(), None)  # type: ignore[arg-type]


async def read_packet(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, int]:
    """One MQTT control packet: (its bytes, where its variable header starts)."""
    raw = await reader.readexactly(1)
    length, shift = 0, 0
    for _ in range(4):
        byte = await reader.readexactly(1)
        raw += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    else:
        raise ValueError("a malformed MQTT length")
    if length > limit:
        raise ValueError("an MQTT packet too large")
    start = len(raw)
    return raw + await reader.readexactly(length), start


def _u16(data: bytes, at: int) -> int:
    if at + 2 > len(data):
        raise ValueError("a truncated MQTT packet")
    return int.from_bytes(data[at:at + 2], "big")


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """An MQTT variable byte integer at ``at``: (its value, its length in bytes)."""
    value = 0
    for n in range(4):
        if at + n >= len(data):
            raise ValueError("a truncated MQTT packet")
        value |= (data[at + n] & 0x7F) << (7 * n)
        if not data[at + n] & 0x80:
            return value, n + 1
    raise ValueError("a malformed MQTT length")


def connect_user(packet: bytes, start: int) -> str | None:
    """The user name of an MQTT 3.1, 3.1.1 or 5 CONNECT (None when it has none)."""
    return connect_ids(packet, start)[1]


def connect_ids(packet: bytes, start: int) -> tuple[str, str | None]:
    """The client id and the user name (None when it has none) of an MQTT CONNECT."""
    at = start + 2 + _u16(packet, start)  # the protocol name
    if at + 4 > len(packet):
        raise ValueError("a truncated MQTT CONNECT")
    level, flags = packet[at], packet[at + 1]
    at += 4  # level, flags, keep-alive
    if level == 5:
        length, size = _varint(packet, at)
        at += size + length
    client_id = packet[at + 2:at + 2 + _u16(packet, at)].decode("utf-8", "replace")
    at += 2 + _u16(packet, at)
    if flags & 0x04:  # a will: (its properties,) its topic and its message
        if level == 5:
            length, size = _varint(packet, at)
            at += size + length
        at += 2 + _u16(packet, at)
        at += 2 + _u16(packet, at)
    if not flags & 0x80:
        return client_id, None
    return client_id, packet[at + 2:at + 2 + _u16(packet, at)].decode("utf-8", "replace")


def publish_topic(packet: bytes, start: int) -> str:
    """The topic of an MQTT PUBLISH (its variable header starts at ``start``)."""
    return packet[start + 2:start + 2 + _u16(packet, start)].decode("utf-8", "replace")


async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while data := await src.read(65536):
        dst.write(data)
        await dst.drain()


class Doors:
    """The status page and the broker front (their servers run on the caller's loop)."""

    def __init__(self, status: Callable[[], dict[str, Any]], log: Callable[[str], None],
                 max_connections: int = 32, timeout: float = 10.0,
                 throttle: LoginThrottle | None = None,
                 guard: Callable[[str | None, str], None] | None = None,
                 max_message: int = 65536, page_connections: int = 256, grace: float = 1.0,
                 names: Iterable[str] = ()) -> None:
        self.status, self.log, self.timeout = status, log, timeout
        self.page_crowd = Crowd(page_connections, grace)
        self.front_crowd = Crowd(max_connections)
        self.lan_crowd = Crowd(max_connections * 4)
        self.throttle = throttle or LoginThrottle(names=names)
        self.guard = guard
        self.max_packet = max_message + PUBLISH_OVERHEAD
        self.lan_failed = 0
        self.broker = ("127.0.0.1", 1885)
        self._logged_failures = 0
        self._logged_at = 0.0
        self._lan_logged_at = -60.0

    async def start_page(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.page, host, port, limit=4096)

    async def start_front(self, host: str, port: int,
                          broker: tuple[str, int]) -> asyncio.Server:
        """The onion front: failed logins throttled."""
        self.broker = broker
        return await asyncio.start_server(self.front, host, port)

    async def start_lan(self, host: str, port: int, broker: tuple[str, int],
                        context: ssl.SSLContext | None) -> asyncio.Server:
        """The LAN front: TLS with ``context`` (None: plaintext), failed logins counted."""
        self.broker = broker
        handler = functools.partial(self.front, crowd=self.lan_crowd, throttled=False)
        return await asyncio.start_server(handler, host, port, ssl=context,
                                          ssl_handshake_timeout=self.timeout if context else None)

    # the status page -------------------------------------------------------------------------
    async def page(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.page_crowd.admit(writer):
            writer.transport.abort()
            return
        try:
            async with asyncio.timeout(self.timeout):
                line = await self.request_line(reader)
                self.page_crowd.settle()
                parts = line.decode("latin-1").split()
                if len(parts) != 3 or parts[0] not in ("GET", "HEAD"):
                    status, body = 405, b'{"error": "GET only"}'
                elif parts[1] != "/":
                    status, body = 404, b'{"error": "not found"}'
                else:
                    status, body = 200, json.dumps(
                        {"service": "myonion mqtt-bridge", **self.status()}).encode()
                head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                        "Server: myonion-mqtt-bridge\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                        "Connection: close\r\n\r\n").encode()
                writer.write(head + (body if parts[:1] != ["HEAD"] else b""))
                await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # went away, too slow (TimeoutError is an OSError), too long, or made room
        finally:
            self.page_crowd.leave()
            writer.transport.abort()

    async def request_line(self, reader: asyncio.StreamReader) -> bytes:
        """Read a request's head (up to its blank line, or the end); its first line. Every read
        tells the crowd that this client is sending."""
        data = b""
        while b"\r\n\r\n" not in data and b"\n\n" not in data:
            chunk = await reader.read(4096)
            if not chunk:
                break
            data += chunk
            self.page_crowd.heard()
            if len(data) > 16384:
                raise ValueError("a request head too long")
        return data.split(b"\n", 1)[0]

    # the broker front ------------------------------------------------------------------------
    async def front(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    crowd: Crowd | None = None, throttled: bool = True) -> None:
        crowd = crowd or self.front_crowd
        if not crowd.admit(writer):
            writer.transport.abort()
            return
        upstream: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                connect, begin = await read_packet(reader, MAX_CONNECT)
            if connect[0] & 0xF0 != 0x10:
                return
            client_id, user = connect_ids(connect, begin)
            bucket: Bucket | None = self.throttle.bucket(user, client_id) if throttled else None
            if bucket is not None and not await bucket.take():
                return
            async with asyncio.timeout(self.timeout):
                up_reader, upstream = await asyncio.open_connection(*self.broker)
                upstream.write(connect)
                connack, start = await read_packet(up_reader, 256)
            accepted = connack[0] == 0x20 and len(connack) >= start + 2 and connack[start + 1] == 0
            if not accepted and throttled:  # counted before the client hears of it
                self.failed_login()
            elif not accepted:
                self.lan_login_failed()
            writer.write(connack)
            if not accepted:
                await writer.drain()
                return
            if bucket is not None:
                self.throttle.succeeded(user, client_id, bucket)
            crowd.settle()
            pipes = [asyncio.ensure_future(self.guarded(reader, upstream, user)),
                     asyncio.ensure_future(pipe(up_reader, writer))]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in pipes:
                    task.cancel()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            crowd.leave()
            writer.transport.abort()
            if upstream is not None:
                upstream.transport.abort()

    async def guarded(self, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter,
                      user: str | None) -> None:
        """The client's packets to the broker, one at a time; each PUBLISH's topic is shown to
        ``guard`` with the user who sent it."""
        while True:
            packet, start = await read_packet(reader, self.max_packet)
            if packet[0] & 0xF0 == 0x30 and self.guard is not None:
                self.guard(user, publish_topic(packet, start))
            upstream.write(packet)
            await upstream.drain()

    def lan_login_failed(self) -> None:
        """Count a refused login on the LAN side; log at most once a minute."""
        self.lan_failed += 1
        now = time.monotonic()
        if now - self._lan_logged_at >= 60:
            self.log(f"{self.lan_failed} failed broker login(s) on the LAN side so far")
            self._lan_logged_at = now

    def failed_login(self) -> None:
        """Count a refused login (a token is gone); log at most once a minute."""
        self.throttle.failed += 1
        now = time.monotonic()
        if now - self._logged_at >= 60:
            self.log(f"{self.throttle.failed - self._logged_failures} failed broker login(s) "
                     f"through the onion; logins wait for one of {self.throttle.burst} tokens "
                     f"of their device, one back every {self.throttle.every:.0f} s")
            self._logged_at, self._logged_failures = now, self.throttle.failed
