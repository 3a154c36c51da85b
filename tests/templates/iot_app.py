"""Helpers for the iot-receiver's app tests: the app's modules (containers/iot-receiver/files)
loaded on the host's Python, and a receiver served on a loopback port of its own (port 0), in an
event loop on a thread of the test."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest

from myonion import paths

TOKEN = "kitchen-token-0123456789"
FILES = paths.builtin_templates_dir() / "iot-receiver" / "files"


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The receiver's main module, with devices kitchen (token TOKEN) and garden (generated)."""
    (tmp_path / "devices").write_text(f"# devices\nkitchen:{TOKEN}\n\ngarden\n")
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path / "devices"))
    monkeypatch.setenv("IOT_DB", str(tmp_path / "readings.db"))
    monkeypatch.syspath_prepend(str(FILES))
    spec = importlib.util.spec_from_file_location("iot_receiver_under_test",
                                                  FILES / "iot_receiver.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Served(NamedTuple):
    port: int
    receiver: Any  # iot_receiver.Receiver
    store: Any  # iot_store.Store
    loop: asyncio.AbstractEventLoop


@contextlib.contextmanager
def serve(app: ModuleType, store: Any, **limits: Any) -> Iterator[Served]:
    """``app``'s Receiver over ``store`` on 127.0.0.1:<free port>, with the given limits."""
    loop = asyncio.new_event_loop()
    receiver = app.Receiver(store, app.load_devices(store),
                            app.Limits(**{"max_body": 256, **limits}), "T")
    server = loop.run_until_complete(receiver.start("127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Served(server.sockets[0].getsockname()[1], receiver, store, loop)
    finally:
        async def stop() -> None:
            server.close()
            for task in list(receiver.conns):
                task.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def call(port: int, method: str, path: str, body: bytes | None = None,
         token: str | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def strict_json(body: bytes) -> Any:
    """JSON as a strict parser reads it: NaN and Infinity are errors."""
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in the output")
    return json.loads(body, parse_constant=refuse)


def wide_reading(row: int, keys: int = 5000) -> str:
    """A reading of ``keys`` keys that no other row has (the issue's CSV attack): ~55 KB."""
    return json.dumps({f"{row}.{i}": 0 for i in range(keys)}, separators=(",", ":"))
