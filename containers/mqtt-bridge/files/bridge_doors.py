"""The bridge's doors on its onion, on one asyncio loop: the status page (onion port 80 →
127.0.0.1:8080) and, with onion_broker, a front for the broker (onion port 1883 → 127.0.0.1:1884 →
mosquitto on 127.0.0.1:1883) that throttles failed logins.

Every visitor comes from 127.0.0.1 through tor, so nothing can be limited per address:

- connections: at most ``max_connections`` per door, no thread each; when all are taken, the
  oldest one that has not yet sent its request (or logged in) is closed to make room;
- time: a whole request, or an MQTT CONNECT, within ``timeout`` seconds (not per read);
- failed broker logins: mosquitto 2.0 has no throttle of its own, so one token bucket for
  everyone: ``burst`` failures at once, then one every ``every`` seconds. A login waits for a
  token (at most ``max_waiting`` logins wait; more are closed) and a successful one gives it back,
  so guessing costs time while devices that know their password pay nothing once it is over.
  The LAN side of the broker does not pass through here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

MAX_CONNECT = 256 << 10  # the largest CONNECT passed on (a will message included)


class Crowd:
    """A door's connections, oldest first; the ones still arriving can be made to leave."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.conns: dict[asyncio.Task[Any], list[Any]] = {}  # task -> [writer, arriving]
        self.evicted = 0

    def admit(self, writer: asyncio.StreamWriter) -> bool:
        task = asyncio.current_task()
        assert task is not None
        if len(self.conns) >= self.limit:
            victim = next((t for t, (_, arriving) in self.conns.items() if arriving), None)
            if victim is None:
                return False
            self.conns.pop(victim)[0].transport.abort()
            victim.cancel()
            self.evicted += 1
        self.conns[task] = [writer, True]
        return True

    def settle(self) -> None:
        """The current connection has arrived: it is no longer made to leave."""
        self.conns[asyncio.current_task()][1] = False  # type: ignore[index]

    def leave(self) -> None:
        self.conns.pop(asyncio.current_task(), None)  # type: ignore[arg-type]


class LoginThrottle:
    """A token bucket of failed logins, for everyone together."""

    def __init__(self, burst: int = 5, every: float = 10.0, max_waiting: int = 8) -> None:
        self.burst, self.every, self.max_waiting = burst, every, max_waiting
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.waiting = 0
        self.failed = 0
        self._turn = asyncio.Lock()  # first come, first served

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) / self.every)
        self.stamp = now

    async def take(self) -> bool:
        """Wait for a token; False (at once) when too many logins wait already."""
        if self.waiting >= self.max_waiting:
            return False
        self.waiting += 1
        try:
            async with self._turn:
                self._refill()
                while self.tokens < 1:
                    await asyncio.sleep((1 - self.tokens) * self.every)
                    self._refill()
                self.tokens -= 1
                return True
        finally:
            self.waiting -= 1

    def give_back(self) -> None:
        self._refill()
        self.tokens = min(float(self.burst), self.tokens + 1)


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


async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while data := await src.read(65536):
        dst.write(data)
        await dst.drain()


class Doors:
    """The status page and the broker front (their servers run on the caller's loop)."""

    def __init__(self, status: Callable[[], dict[str, Any]], log: Callable[[str], None],
                 max_connections: int = 32, timeout: float = 10.0,
                 throttle: LoginThrottle | None = None) -> None:
        self.status, self.log, self.timeout = status, log, timeout
        self.page_crowd, self.front_crowd = Crowd(max_connections), Crowd(max_connections)
        self.throttle = throttle or LoginThrottle()
        self.broker = ("127.0.0.1", 1883)
        self._logged_failures = 0
        self._logged_at = 0.0

    async def start_page(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.page, host, port, limit=4096)

    async def start_front(self, host: str, port: int,
                          broker: tuple[str, int]) -> asyncio.Server:
        self.broker = broker
        return await asyncio.start_server(self.front, host, port)

    # the status page -------------------------------------------------------------------------
    async def page(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.page_crowd.admit(writer):
            writer.transport.abort()
            return
        try:
            async with asyncio.timeout(self.timeout):
                line = await reader.readline()
                for _ in range(64):
                    if await reader.readline() in (b"\r\n", b"\n", b""):
                        break
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

    # the broker front ------------------------------------------------------------------------
    async def front(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.front_crowd.admit(writer):
            writer.transport.abort()
            return
        upstream: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                connect, _ = await read_packet(reader, MAX_CONNECT)
            if connect[0] & 0xF0 != 0x10 or not await self.throttle.take():
                return
            async with asyncio.timeout(self.timeout):
                up_reader, upstream = await asyncio.open_connection(*self.broker)
                upstream.write(connect)
                connack, start = await read_packet(up_reader, 256)
            accepted = connack[0] == 0x20 and len(connack) >= start + 2 and connack[start + 1] == 0
            if not accepted:  # counted before the client hears of it
                self.failed_login()
            writer.write(connack)
            if not accepted:
                await writer.drain()
                return
            self.throttle.give_back()
            self.front_crowd.settle()
            pipes = [asyncio.ensure_future(pipe(reader, upstream)),
                     asyncio.ensure_future(pipe(up_reader, writer))]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in pipes:
                    task.cancel()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.front_crowd.leave()
            writer.transport.abort()
            if upstream is not None:
                upstream.transport.abort()

    def failed_login(self) -> None:
        """Count a refused login (a token is gone); log at most once a minute."""
        self.throttle.failed += 1
        now = time.monotonic()
        if now - self._logged_at >= 60:
            self.log(f"{self.throttle.failed - self._logged_failures} failed broker login(s) "
                     f"through the onion; logins wait for one of {self.throttle.burst} tokens, "
                     f"one back every {self.throttle.every:.0f} s")
            self._logged_at, self._logged_failures = now, self.throttle.failed
