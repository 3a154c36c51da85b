"""Probes on loopback: a small SOCKS5 server stands in for tor, a local server for the service.

Each kind passes on the right answer and fails, with the reason, on a wrong one; a refusal by
the SOCKS server (the onion not reachable) is told apart from a service that answers wrongly.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from myonion.templates import PortSpec, TemplateRegistry
from myonion.tor import probes
from myonion.tor.probes import ProbeSpec

Handler = Callable[[socket.socket], None]


def serve(handler: Handler) -> tuple[socket.socket, int]:
    """A TCP server on a free loopback port calling ``handler`` for each connection."""
    server = socket.create_server(("127.0.0.1", 0))

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                handler(conn)

    threading.Thread(target=loop, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.fixture
def socks() -> Iterator[dict[str, Any]]:
    """A SOCKS5 server that connects every request to ``state['target']`` (a local port),
    answers with ``state['reply']`` (a SOCKS error code) when that is set, or never answers
    (as tor waiting on a rendezvous nobody answers) while ``state['hang']``."""
    state: dict[str, Any] = {"target": None, "reply": 0, "hang": False}

    def handler(conn: socket.socket) -> None:
        conn.recv(3)
        conn.sendall(b"\x05\x00")
        head = conn.recv(5)
        conn.recv(head[4] + 2)
        if state["hang"]:
            conn.recv(1)  # until the client gives up
            return
        if state["reply"]:
            conn.sendall(bytes([5, state["reply"], 0, 1]) + b"\0" * 6)
            return
        upstream = socket.create_connection(("127.0.0.1", state["target"]))
        conn.sendall(b"\x05\x00\x00\x01" + b"\0" * 4 + struct.pack(">H", 0))
        pipe(conn, upstream)

    server, port = serve(handler)
    state["proxy"] = ("127.0.0.1", port)
    yield state
    server.close()


def pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=copy, args=(b, a), daemon=True)
    t.start()
    copy(a, b)
    t.join(5)
    b.close()


def http_answer(status_line: bytes) -> Handler:
    def handler(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(status_line + b"\r\nContent-Length: 2\r\n\r\nhi")
    return handler


def run(socks: dict[str, Any], spec: ProbeSpec, handler: Handler) -> probes.ProbeResult:
    server, port = serve(handler)
    socks["target"] = port
    try:
        return probes.run(spec, socks["proxy"], "x" * 56 + ".onion", timeout=5)
    finally:
        server.close()


HTTP = ProbeSpec(kind="http", port=80, who="nginx",
                 explain=((403, "the folder is not readable by the service"),))


def test_http_2xx_passes(socks: dict[str, Any]) -> None:
    result = run(socks, HTTP, http_answer(b"HTTP/1.1 200 OK"))
    assert result.ok and result.onion_up and result.status == 200


def test_http_403_fails_with_the_templates_reason(socks: dict[str, Any]) -> None:
    result = run(socks, HTTP, http_answer(b"HTTP/1.1 403 Forbidden"))
    assert not result.ok and result.onion_up and result.status == 403
    assert result.detail == "nginx answers 403: the folder is not readable by the service"


def test_http_500_and_a_dropped_connection_fail(socks: dict[str, Any]) -> None:
    assert not run(socks, HTTP, http_answer(b"HTTP/1.1 500 Oops")).ok
    dropped = run(socks, HTTP, lambda conn: None)
    assert not dropped.ok and dropped.onion_up
    assert "closed the connection without an answer" in dropped.detail
    garbage = run(socks, HTTP, lambda conn: conn.sendall(b"SSH-2.0-OpenSSH\r\n"))
    assert not garbage.ok and "did not answer in HTTP" in garbage.detail


def test_an_unreachable_onion_is_not_the_services_failure(socks: dict[str, Any]) -> None:
    socks["reply"] = 4
    result = probes.run(HTTP, socks["proxy"], "y" * 56 + ".onion", timeout=5)
    assert not result.ok and not result.onion_up and "SOCKS reply 4" in result.detail


def test_banner(socks: dict[str, Any]) -> None:
    spec = ProbeSpec(kind="banner", port=22, prefix="SSH-2.0-", who="sshd")
    good = run(socks, spec, lambda conn: conn.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n"))
    assert good.ok and "SSH-2.0-OpenSSH_9.2p1" in good.detail
    silent = run(socks, spec, lambda conn: None)
    assert not silent.ok and silent.onion_up and "without a banner" in silent.detail
    wrong = run(socks, spec, lambda conn: conn.sendall(b"220 smtp ready\r\n"))
    assert not wrong.ok and "no 'SSH-2.0-' banner" in wrong.detail


def test_mqtt_connack_of_any_return_code_proves_a_broker(socks: dict[str, Any]) -> None:
    spec = ProbeSpec(kind="mqtt", port=1883, who="mosquitto")

    def broker(conn: socket.socket) -> None:
        assert conn.recv(64) == probes.MQTT_CONNECT
        conn.sendall(b"\x20\x02\x00\x05")  # not authorised: still a broker

    result = run(socks, spec, broker)
    assert result.ok and "not authorised" in result.detail
    assert not run(socks, spec, lambda conn: conn.sendall(b"HTTP/1.1 400 x\r\n")).ok


def test_line_probe_reports_the_services_own_reason(socks: dict[str, Any]) -> None:
    spec = ProbeSpec(kind="line", port=80, send="MYONION-PROBE", prefix="OK", who="the forward")

    def refusing(conn: socket.socket) -> None:
        assert conn.recv(64) == b"MYONION-PROBE\r\n"
        conn.sendall(b"FAIL target client:8123 refused the connection\r\n")

    result = run(socks, spec, refusing)
    assert not result.ok and result.detail == \
        "the forward: target client:8123 refused the connection"
    assert run(socks, spec, lambda conn: conn.sendall(b"OK target answered\r\n")).ok


def test_run_until_gives_a_wrong_answer_a_moment_then_reports_it(socks: dict[str, Any]) -> None:
    server, port = serve(http_answer(b"HTTP/1.1 403 Forbidden"))
    socks["target"] = port
    result = probes.run_until(HTTP, socks["proxy"], "z" * 56 + ".onion", timeout=30, settle=1)
    server.close()
    assert not result.ok and result.onion_up and result.status == 403


def test_run_until_makes_a_client_that_hung_forget_then_tries_again(
        socks: dict[str, Any]) -> None:
    server, port = serve(http_answer(b"HTTP/1.1 200 OK"))
    socks["target"], socks["hang"] = port, True
    forgotten: list[float] = []

    def stuck() -> None:  # the client forgets: its next attempt is answered
        forgotten.append(time.monotonic())
        socks["hang"] = False

    start = time.monotonic()
    result = probes.run_until(HTTP, socks["proxy"], "z" * 56 + ".onion", timeout=30,
                              attempt=1, stuck=stuck)
    server.close()
    assert result.ok and len(forgotten) == 1
    assert 1 <= forgotten[0] - start < 5  # after the one attempt's second, not the whole 30


def test_run_until_leaves_a_client_that_answers_at_once_alone(socks: dict[str, Any]) -> None:
    """A quick "not found" is tor's own retrying (a descriptor not up yet), not a hang."""
    socks["reply"] = 4
    forgotten: list[int] = []
    result = probes.run_until(HTTP, socks["proxy"], "z" * 56 + ".onion", timeout=2,
                              attempt=1, stuck=lambda: forgotten.append(1))
    assert not result.ok and not result.onion_up and forgotten == []


def test_parse_checks_every_field() -> None:
    ports = (PortSpec(80, 8080), PortSpec(22, 2222, "tcp"))
    assert probes.parse_probes(None, ports, ()) == (ProbeSpec(kind="http", port=80),)
    for raw, words in (
            ([{"kind": "smtp"}], "kind must be one of"),
            ([{"kind": "http", "port": 8080}], "not one of the template's onion ports"),
            ([{"kind": "banner"}], "needs a prefix"),
            ([{"kind": "line", "prefix": "OK"}], "needs a line to send"),
            ([{"kind": "http", "expect": [500, 200]}], "'expect'"),
            ([{"kind": "http", "when": "nope"}], "'when' must name a bool option"),
            ([{"kind": "http", "colour": "red"}], "unknown keys: colour"),
            ([{"kind": "http", "path": "no-slash"}], "'path'"),
            ([], "non-empty list")):
        with pytest.raises(ValueError, match=words):
            probes.parse_probes(raw, ports, ())


def test_every_builtin_template_declares_what_proves_it() -> None:
    kinds = {t.id: [(p.kind, p.port, p.when) for p in t.probes]
             for t in TemplateRegistry().all()}
    assert kinds["site"] == [("http", 80, None)]
    assert kinds["ssh"] == [("banner", 22, None)]
    assert kinds["iot-receiver"] == [("http", 80, None)]
    assert kinds["mqtt-bridge"] == [("http", 80, None), ("mqtt", 1883, "onion_broker")]
    receiver = TemplateRegistry().get("iot-receiver").probes[0]
    assert receiver.path == "/healthz"
