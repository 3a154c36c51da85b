"""The iot-receiver server (containers/iot-receiver/files) run on the host's Python: the API."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.templates.iot_app import TOKEN, Served, call, load, serve, strict_json


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load(tmp_path, monkeypatch)


@pytest.fixture
def served(app: ModuleType, tmp_path: Path) -> Iterator[Served]:
    with serve(app, app.Store(str(tmp_path / "readings.db"))) as running:
        yield running


def test_post_and_read_back(served: Served) -> None:
    port = served.port
    assert call(port, "POST", "/api/v1/readings/kitchen", b'{"t": 1}', TOKEN)[0] == 201
    assert call(port, "PUT", "/api/v1/readings/kitchen", b'{"t": 2, "s": "-x"}', TOKEN)[0] == 201
    status, body = call(port, "GET", "/api/v1/readings/kitchen?limit=1")
    assert status == 200 and [r["data"] for r in json.loads(body)["readings"]] == [
        {"t": 2, "s": "-x"}]
    status, body = call(port, "GET", "/api/v1/readings/kitchen")
    assert [r["id"] for r in json.loads(body)["readings"]] == [1, 2]
    status, body = call(port, "GET", "/api/v1/readings/kitchen?format=csv")
    assert body.decode().splitlines()[0] == "id,received,t,s"
    assert body.decode().splitlines()[2].endswith(",2,'-x")
    assert json.loads(call(port, "GET", "/api/v1/readings/garden")[1])["readings"] == []


@pytest.mark.parametrize(("method", "path", "body", "token", "headers", "expected"), [
    ("POST", "/api/v1/readings/kitchen", b"{", TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b'"a string"', TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b'{"a": Infinity}', TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b'{"a": NaN}', TOKEN, {}, 400),
    # numbers too large for a float: Python reads them as inf, which would export as Infinity
    ("POST", "/api/v1/readings/kitchen", b'{"a": 1e999}', TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b'{"a": [-1.5e400]}', TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b"\xff\xfe", TOKEN, {}, 400),
    ("POST", "/api/v1/readings/kitchen", b"[" * 300, TOKEN, {}, 413),
    ("POST", "/api/v1/readings/kitchen", b'{"a": "' + b"x" * 300 + b'"}', TOKEN, {}, 413),
    ("POST", "/api/v1/readings/kitchen", b"{}", "x" * 20, {}, 401),
    ("POST", "/api/v1/readings/kitchen", b"{}", None, {"Authorization": f"Basic {TOKEN}"}, 401),
    ("POST", "/api/v1/readings/kitchen", b"{}", TOKEN + "x", {}, 401),
    ("POST", "/api/v1/readings/kitchen", b"{}", TOKEN, {"Transfer-Encoding": "chunked"}, 411),
    ("POST", "/api/v1/readings/cellar", b"{}", TOKEN, {}, 404),
    ("POST", "/api/v1/readings/../kitchen", b"{}", TOKEN, {}, 404),
    ("POST", "/api/v1/readings/kitchen/x", b"{}", TOKEN, {}, 404),
    ("GET", "/api/v1/readings/cellar", None, None, {}, 404),
    ("GET", "/api/v1/readings/kitchen?limit=0", None, None, {}, 400),
    ("GET", "/api/v1/readings/kitchen?limit=x", None, None, {}, 400),
    ("GET", "/api/v1/readings/kitchen?format=xml", None, None, {}, 400),
    ("GET", "/nowhere", None, None, {}, 404),
    ("GET", "/", None, None, {"X-Big": "y" * 9000}, 431),
    ("DELETE", "/api/v1/readings/kitchen", None, TOKEN, {}, 501),
])
def test_bad_requests_store_nothing(served: Served, method: str, path: str,
                                    body: bytes | None, token: str | None,
                                    headers: dict[str, str], expected: int) -> None:
    port = served.port
    assert call(port, method, path, body, token, headers)[0] == expected
    _, data = call(port, "GET", "/api/v1/readings/kitchen")
    assert json.loads(data)["readings"] == []


def test_finite_numbers_and_a_reading_at_the_size_limit(served: Served) -> None:
    port = served.port
    body = b'{"a": 1.7976931348623157e308, "b": -5e-324, "c": "' + b"x" * 200 + b'"}'
    assert call(port, "POST", "/api/v1/readings/kitchen", body, TOKEN)[0] == 201
    readings = strict_json(call(port, "GET", "/api/v1/readings/kitchen")[1])["readings"]
    assert readings[0]["data"]["a"] == 1.7976931348623157e308


def test_infinity_stored_by_an_older_version_exports_as_null(served: Served) -> None:
    served.store.add("kitchen", '{"t":Infinity,"u":-Infinity,"v":NaN,"w":1}')
    status, body = call(served.port, "GET", "/api/v1/readings/kitchen")
    assert status == 200
    assert strict_json(body)["readings"][0]["data"] == {"t": None, "u": None, "v": None, "w": 1}
    status, body = call(served.port, "GET", "/api/v1/readings/kitchen?format=csv")
    assert body.decode().splitlines()[1].endswith(",,,,1")


def test_page_escapes(served: Served) -> None:
    port = served.port
    call(port, "POST", "/api/v1/readings/kitchen", b'{"x": "<b>&\\"</b>"}', TOKEN)
    status, page = call(port, "GET", "/")
    assert status == 200 and b"<b>" not in page and b"&lt;b&gt;&amp;" in page
    assert b"<td>kitchen</td>" in page and b"<td>1</td>" in page


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, read whole."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(1000)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(1000)
    return data


def test_keep_alive_expect_continue_and_http_1_0(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        body = b'{"t": 1}'
        sock.sendall(b"POST /api/v1/readings/kitchen HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 201 ") and b"Connection: close" not in first
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"GET /api/v1/readings/kitchen?format=csv HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, text = data.partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"chunked" not in head
    assert text.startswith(b"id,received,t\r\n1,")


def test_generated_tokens_are_kept(app: ModuleType, tmp_path: Path) -> None:
    first = app.load_devices(app.Store(str(tmp_path / "readings.db")))
    again = app.load_devices(app.Store(str(tmp_path / "readings.db")))
    assert first == again and first["kitchen"] == TOKEN and len(first["garden"]) >= 32


def test_settings_reach_the_limits_and_the_store(app: ModuleType, tmp_path: Path) -> None:
    settings = {"max_body": 1024, "title": "T", "max_readings": 500, "max_storage_mb": 3,
                "when_full": "refuse-newest", "max_connections": 10, "request_timeout": 7,
                "max_exports": 3}
    limits = app.limits_of(settings)
    assert (limits.max_body, limits.max_connections, limits.request_timeout,
            limits.max_exports) == (1024, 10, 7.0, 3)
    store = app.open_store(settings)
    assert (store.max_readings, store.max_bytes, store.when_full) == (
        500, 3 << 20, "refuse-newest")
