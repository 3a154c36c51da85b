"""The forward's relay on loopback (no engine): a refused target closes the visitor's connection
and is never connected; an allowed one relays both ways, half-closes, is bounded and times out.

The target here is a server on 127.0.0.1, which the relay refuses (loopback, this machine's
own address). To show what happens to an *allowed* target, the tests that need one take
loopback off the refused list and give an empty view of the container's own addresses:
monkeypatched here only, never by the relay itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any

import pytest

from tests.templates.forward_relay_module import guard_module, relay_module

FWD = relay_module()
GUARD = guard_module()


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The relay with 127.0.0.0/8 and ::1 allowed, as a LAN address would be."""
    monkeypatch.setattr(GUARD, "ALWAYS_REFUSED", tuple(
        (reason, nets) for reason, nets in GUARD.ALWAYS_REFUSED if reason != "loopback"))
    monkeypatch.setattr(GUARD, "read_local_view", lambda proc=GUARD.PROC_NET: GUARD.LocalView())
    return FWD


class Target:
    """A server on 127.0.0.1 that reads until the visitor half-closes, then answers with what
    it got, reversed, and closes; it counts the connections it was given."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        data = await reader.read()  # until the visitor's end of stream came through
        writer.write(b"got " + data[::-1])
        await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def running(target: Target, **settings: Any) -> AsyncIterator[int]:
    """The target server and a relay to it; yields the relay's port."""
    server = await asyncio.start_server(target.handle, "127.0.0.1", 0)
    target.port = server.sockets[0].getsockname()[1]
    cfg = FWD.Config(host=settings.pop("host", "127.0.0.1"), port=target.port, **settings)
    listener = FWD.listen(cfg, ("127.0.0.1", 0))
    relay = asyncio.ensure_future(FWD.serve(cfg, listener))
    try:
        yield listener.getsockname()[1]
    finally:
        relay.cancel()
        listener.close()
        server.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


async def exchange(port: int, data: bytes) -> bytes:
    """What comes back for ``data``; b"" when the relay closed the connection (a reset, as
    the relay closes without reading what the visitor sent, counts as closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    writer.write_eof()  # half-close: the answer must still come back
    try:
        answer = await reader.read()
    except ConnectionResetError:
        answer = b""
    writer.close()
    return answer


def test_a_refused_target_closes_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    target = Target()

    async def test() -> None:
        async with running(target) as port:
            assert await exchange(port, b"GET / HTTP/1.0\r\n\r\n") == b""
        assert target.connections == 0

    with caplog.at_level(logging.WARNING, logger="myonion-forward"):
        run(test)
    assert f"refused: 127.0.0.1:{target.port} resolves to 127.0.0.1, which is loopback" \
        in caplog.text
    assert "GET" not in caplog.text  # never the visitor's data


def test_a_refused_name_closes_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    target = Target()

    async def test() -> None:
        async with running(target, host="localhost") as port:
            assert await exchange(port, b"secret") == b""
        assert target.connections == 0

    with caplog.at_level(logging.WARNING, logger="myonion-forward"):
        run(test)
    assert "localhost" in caplog.text and "loopback" in caplog.text
    assert "secret" not in caplog.text


def test_an_allowed_target_relays_both_ways(loopback_allowed: ModuleType) -> None:
    target = Target()
    payload = bytes(range(256)) * 1024  # 256 KiB, several reads

    async def test() -> None:
        async with running(target) as port:
            assert await exchange(port, payload) == b"got " + payload[::-1]
            assert await exchange(port, b"abc") == b"got cba"
        assert target.connections == 2

    run(test)


def test_one_lookup_per_connection(loopback_allowed: ModuleType,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is resolved once and the relay connects to that very address: no second
    lookup that a rebinding name could answer differently."""
    target = Target()
    lookups: list[str] = []
    real = asyncio.BaseEventLoop.getaddrinfo

    async def counting(self: asyncio.BaseEventLoop, host: str, *args: Any,
                       **kwargs: Any) -> Any:
        lookups.append(host)
        return await real(self, host, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", counting)

    async def test() -> None:
        async with running(target, host="localhost") as port:
            assert await exchange(port, b"xy") == b"got yx"

    run(test)
    assert lookups == ["localhost"]


def test_at_most_max_connections(loopback_allowed: ModuleType) -> None:
    target = Target()

    async def test() -> None:
        async with running(target, max_connections=1) as port:
            r1, w1 = await asyncio.open_connection("127.0.0.1", port)
            w1.write(b"one")
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)  # in the listen queue
            w2.write(b"two")
            w2.write_eof()
            await asyncio.sleep(0.3)
            assert target.connections == 1
            w1.write_eof()
            assert await r1.read() == b"got eno"
            assert await r2.read() == b"got owt"
            assert target.connections == 2
            w1.close()
            w2.close()

    run(test)


def test_idle_connections_are_closed(loopback_allowed: ModuleType) -> None:
    target = Target()

    async def test() -> None:
        async with running(target, idle_timeout=0.3) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"x")  # no end of stream: the target waits, nothing moves
            started = asyncio.get_running_loop().time()
            assert await reader.read() == b""
            assert 0.25 < asyncio.get_running_loop().time() - started < 5
            writer.close()

    run(test)


def test_a_target_that_does_not_answer(loopback_allowed: ModuleType,
                                       caplog: pytest.LogCaptureFixture) -> None:
    target = Target()

    async def test() -> None:
        async with running(target):
            target_port = target.port
        # the target is gone (its port closed); a relay to it closes the visitor's connection
        cfg = FWD.Config(host="127.0.0.1", port=target_port)
        listener = FWD.listen(cfg, ("127.0.0.1", 0))
        relay = asyncio.ensure_future(FWD.serve(cfg, listener))
        assert await exchange(listener.getsockname()[1], b"hello") == b""
        relay.cancel()
        listener.close()

    with caplog.at_level(logging.WARNING, logger="myonion-forward"):
        run(test)
    assert "does not answer" in caplog.text


def test_the_healthcheck(loopback_allowed: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Healthy only while the relay listens and the target answers through the same checks."""
    target = Target()
    listens = [True]
    monkeypatch.setattr(FWD, "listening", lambda: listens[0])

    async def serve_target() -> None:
        server = await asyncio.start_server(target.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        cfg = FWD.Config(host="127.0.0.1", port=port, connect_timeout=5)
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, FWD.check, cfg) == 0
        listens[0] = False  # the relay is gone: unhealthy, even though the target answers
        assert await loop.run_in_executor(None, FWD.check, cfg) == 1
        listens[0] = True
        loopback = ("loopback", (GUARD.ipaddress.ip_network("127.0.0.0/8"),))
        monkeypatch.setattr(GUARD, "ALWAYS_REFUSED", (*GUARD.ALWAYS_REFUSED, loopback))
        assert await loop.run_in_executor(None, FWD.check, cfg) == 1  # refused: unhealthy
        server.close()

    run(serve_target)


async def probe(port: int) -> bytes:
    """myonion's probe line, and the line the relay answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(FWD.PROBE)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return line


def test_the_probe_is_answered_not_relayed(loopback_allowed: ModuleType) -> None:
    """myonion's probe learns that the target itself answered; the target never sees it."""
    target = Target()

    async def test() -> None:
        async with running(target) as port:
            line = await probe(port)
            assert line.startswith(b"OK target 127.0.0.1:") and line.endswith(b"answered\r\n")
            await asyncio.sleep(0.2)
            # a visitor's bytes are still relayed as before
            assert await exchange(port, b"abc") == b"got cba"
    run(test)


def test_the_probe_learns_why_the_target_failed(loopback_allowed: ModuleType) -> None:
    target = Target()

    async def test() -> None:
        async with running(target):
            target_port = target.port
        # the target is gone: a fresh relay to its port finds nothing there
        cfg = FWD.Config(host="127.0.0.1", port=target_port)
        listener = FWD.listen(cfg, ("127.0.0.1", 0))
        relay = asyncio.ensure_future(FWD.serve(cfg, listener))
        try:
            line = await probe(listener.getsockname()[1])
        finally:
            relay.cancel()
            listener.close()
        assert line == f"FAIL target 127.0.0.1:{target_port} (127.0.0.1) refused the " \
            "connection\r\n".encode()
    run(test)


def test_the_probe_learns_a_target_is_refused() -> None:
    """Loopback stays refused here: the probe is told, as the log says."""
    target = Target()

    async def test() -> None:
        async with running(target) as port:
            line = await probe(port)
        assert line.startswith(b"FAIL target 127.0.0.1:") and b"loopback" in line
        assert target.connections == 0
    run(test)
