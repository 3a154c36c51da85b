"""The iot-receiver server (containers/iot-receiver/files) run on the host's Python."""

from __future__ import annotations

import http.client
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from myonion import paths

TOKEN = "kitchen-token-0123456789"


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    (tmp_path / "devices").write_text(f"# devices\nkitchen:{TOKEN}\n\ngarden\n")
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path / "devices"))
    monkeypatch.setenv("IOT_DB", str(tmp_path / "readings.db"))
    source = paths.builtin_templates_dir() / "iot-receiver" / "files" / "iot_receiver.py"
    spec = importlib.util.spec_from_file_location("iot_receiver_under_test", source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, ModuleType]]:
    app = load(tmp_path, monkeypatch)
    store = app.Store(str(tmp_path / "readings.db"))
    handler = type("H", (app.Handler,), {"store": store, "devices": app.load_devices(store),
                                         "max_body": 256, "title": "T"})
    httpd = app.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd.server_address[1], app
    httpd.shutdown()
    httpd.server_close()


def call(port: int, method: str, path: str, body: bytes | None = None,
         token: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=all_headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_post_and_read_back(server: tuple[int, ModuleType]) -> None:
    port, _ = server
    assert call(port, "POST", "/api/v1/readings/kitchen", b'{"t": 1}', TOKEN)[0] == 201
    assert call(port, "PUT", "/api/v1/readings/kitchen", b'{"t": 2, "s": "-x"}', TOKEN)[0] == 201
    status, body = call(port, "GET", "/api/v1/readings/kitchen?limit=1")
    assert status == 200 and [r["data"] for r in json.loads(body)["readings"]] == [
        {"t": 2, "s": "-x"}]
    status, body = call(port, "GET", "/api/v1/readings/kitchen?format=csv")
    assert body.decode().splitlines()[0] == "id,received,t,s"
    assert body.decode().splitlines()[2].endswith(",2,'-x")


@pytest.mark.parametrize(("method", "path", "body", "token", "headers", "expected"), [
    ("POST", "/api/v1/readings/kitchen", b"{", TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b'"a string"', TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b'{"a": Infinity}', TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b"\xff\xfe", TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b"[" * 300, TOKEN, {}, 413),
    ("POST", "/api/v1/readings/kitchen", b'{"a": "' + b"x" * 300 + b'"}', TOKEN, {}, 413),
    ("POST", "/api/v1/readings/kitchen", b"{}", "x" * 20, {}, 401),
    ("POST", "/api/v1/readings/kitchen", b"{}", None, {"Authorization": f"Basic {TOKEN}"}, 401),
    ("POST", "/api/v1/readings/kitchen", b"{}", TOKEN + "x", {}, 401),
    ("POST", "/api/v1/readings/cellar", b"{}", TOKEN, {}, 404),
    ("POST", "/api/v1/readings/../kitchen", b"{}", TOKEN, {}, 404),
    ("POST", "/api/v1/readings/kitchen/x", b"{}", TOKEN, {}, 404),
    ("GET", "/api/v1/readings/cellar", None, None, {}, 404),
    ("GET", "/api/v1/readings/kitchen?limit=0", None, None, {}, 400),
    ("GET", "/api/v1/readings/kitchen?format=xml", None, None, {}, 400),
    ("DELETE", "/api/v1/readings/kitchen", None, TOKEN, {}, 501),
])
def test_bad_requests_store_nothing(server: tuple[int, ModuleType], method: str, path: str,
                                    body: bytes | None, token: str | None,
                                    headers: dict[str, str], expected: int) -> None:
    port, _ = server
    assert call(port, method, path, body, token, headers)[0] == expected
    _, data = call(port, "GET", "/api/v1/readings/kitchen")
    assert json.loads(data)["readings"] == []


def test_page_escapes(server: tuple[int, ModuleType]) -> None:
    port, _ = server
    call(port, "POST", "/api/v1/readings/kitchen", b'{"x": "<b>&\\"</b>"}', TOKEN)
    status, page = call(port, "GET", "/")
    assert status == 200 and b"<b>" not in page and b"&lt;b&gt;&amp;" in page


def test_generated_tokens_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = load(tmp_path, monkeypatch)
    first = app.load_devices(app.Store(str(tmp_path / "readings.db")))
    again = app.load_devices(app.Store(str(tmp_path / "readings.db")))
    assert first == again and first["kitchen"] == TOKEN and len(first["garden"]) >= 32
