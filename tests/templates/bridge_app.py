"""Helpers for the mqtt-bridge's app tests: its modules (containers/mqtt-bridge/files) loaded on
the host's Python, an event loop on a thread of the test for its doors, and MQTT packets made by
hand (no broker needed)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, TypeVar

import pytest

from myonion import paths

FILES = paths.builtin_templates_dir() / "mqtt-bridge" / "files"
T = TypeVar("T")


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("BRIDGE_DB", str(tmp_path / "queue.db"))
    monkeypatch.setenv("BRIDGE_NEWNYM", str(tmp_path / "newnym"))
    monkeypatch.setenv("BRIDGE_CONTROL", str(tmp_path / "ctl"))
    monkeypatch.syspath_prepend(str(FILES))
    spec = importlib.util.spec_from_file_location("mqtt_bridge_under_test",
                                                  FILES / "mqtt_bridge.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Loop:
    """An asyncio loop running on a thread; ``run`` a coroutine on it from the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore

    def close(self) -> None:
        async def cancel_all() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextlib.contextmanager
def running_loop() -> Iterator[Loop]:
    loop = Loop()
    try:
        yield loop
    finally:
        loop.close()


class Message(NamedTuple):
    """What paho hands on_message (the fields the bridge reads)."""
    topic: str
    payload: bytes
    retain: bool = False


def connect_packet(user: str, password: str, client_id: str | None = None) -> bytes:
    """An MQTT 3.1.1 CONNECT with a user name and a password (client id: client-USER)."""
    def field(text: str) -> bytes:
        data = text.encode()
        return struct.pack(">H", len(data)) + data

    body = field("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 30)
    body += field(client_id or f"client-{user}") + field(user) + field(password)
    return bytes([0x10, len(body)]) + body


async def fake_broker_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             right: str) -> None:
    """A broker that accepts only the password ``right`` (CONNACK 0, else 5) and then echoes."""
    head = await reader.readexactly(2)
    body = await reader.readexactly(head[1])
    writer.write(bytes([0x20, 2, 0, 0 if body.endswith(right.encode()) else 5]))
    await writer.drain()
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


def fake_broker(right: str) -> Callable[..., Awaitable[None]]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await fake_broker_answer(reader, writer, right)
    return answer


def port_of(server: Any) -> int:
    return int(server.sockets[0].getsockname()[1])
