"""The mqtt-bridge's doors (containers/mqtt-bridge/files/bridge_doors.py) on loopback: the status
page that an idle crowd cannot take down, and the broker front that throttles failed logins.

Before (issue 16): 140 idle connections to the status page (a thread each, no timeout) took the
bridge to its pid limit ("can't start new thread"); broker passwords could be tried over the onion
without a throttle (60 tries in 13 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.templates.bridge_app import (
    Loop,
    connect_packet,
    fake_broker,
    load,
    port_of,
    running_loop,
)

STATUS = {"delivered": 3, "pending": 1, "rejected": 0, "dropped": 0, "queue_full": 0}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load(tmp_path, monkeypatch)


@pytest.fixture
def loop() -> Iterator[Loop]:
    with running_loop() as running:
        yield running


def doors_of(app: ModuleType, **kwargs: Any) -> Any:
    return app.Doors(lambda: dict(STATUS), lambda message: None, **kwargs)


def get_status(port: int, timeout: float = 5) -> tuple[bytes, dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, json.loads(body)


def login(port: int, password: str, timeout: float = 30, user: str = "sensors",
          client_id: str | None = None) -> int | None:
    """CONNECT (as "sensors", client id client-sensors) through the front; the CONNACK's return
    code, None if closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(connect_packet(user, password, client_id))
        answer = sock.recv(4)
    return answer[3] if len(answer) == 4 else None


# the status page -------------------------------------------------------------------------------
def test_the_status_page_shows_counts_only(app: ModuleType, loop: Loop) -> None:
    doors = doors_of(app)
    port = port_of(loop.run(doors.start_page("127.0.0.1", 0)))
    head, body = get_status(port)
    assert head.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in head
    assert body == {"service": "myonion mqtt-bridge", **STATUS}
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /kitchen HTTP/1.1\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 404 ")


def test_140_idle_connections_cannot_take_the_status_page_down(app: ModuleType,
                                                               loop: Loop) -> None:
    doors = doors_of(app, page_connections=32, grace=0.1)
    port = port_of(loop.run(doors.start_page("127.0.0.1", 0)))
    threads_before = threading.active_count()
    with contextlib.ExitStack() as stack:
        for n in range(140):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            if n % 2:
                sock.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
        time.sleep(0.2)
        started = time.monotonic()
        head, _ = get_status(port)
        latency = time.monotonic() - started
        print(f"\nmqtt-bridge: status page answered in {latency * 1000:.0f} ms with 140 idle "
              f"connections open ({doors.page_crowd.evicted} closed to make room, "
              f"{len(doors.page_crowd.conns)} open, {threading.active_count() - threads_before} "
              "threads more)")
        assert head.startswith(b"HTTP/1.1 200 ") and latency < 2
        assert len(doors.page_crowd.conns) <= 32 and threading.active_count() == threads_before


def test_a_prompt_request_is_answered_while_idle_connections_crowd_in(app: ModuleType,
                                                                      loop: Loop) -> None:
    """Hostile-after (issue 16): with the page's places full, a crowd that keeps reconnecting
    closed a real client that had come but not yet sent its request (2 of 5 through the onion);
    the one closed to make room is now the one quiet longest, never one quiet less than
    ``grace``."""
    doors = doors_of(app, page_connections=16, grace=0.5)
    port = port_of(loop.run(doors.start_page("127.0.0.1", 0)))
    with contextlib.ExitStack() as stack:
        for _ in range(16):
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.6)  # the crowd holds every place, quiet for longer than the grace
        real = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.05)
        for _ in range(60):  # more of the crowd arrives before the client's request does
            with contextlib.suppress(OSError):
                stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.1)  # a tor round trip later, the request
        real.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = real.recv(100)
        print(f"\nmqtt-bridge: a prompt request answered {answer[:12]!r} while 76 idle "
              f"connections came ({doors.page_crowd.evicted} closed to make room, "
              f"{len(doors.page_crowd.conns)} open; before: closed)")
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert len(doors.page_crowd.conns) <= 16


def test_a_slow_drip_to_the_status_page_is_cut_at_the_deadline(app: ModuleType,
                                                               loop: Loop) -> None:
    doors = doors_of(app, timeout=1.0)
    port = port_of(loop.run(doors.start_page("127.0.0.1", 0)))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(0.05)
        started = time.monotonic()
        closed = None
        for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(100) == b"":
                    closed = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = time.monotonic() - started
                break
    assert closed is not None and 0.9 <= closed < 2.5


# the broker front ------------------------------------------------------------------------------
def front_of(app: ModuleType, loop: Loop, burst: int = 3, every: float = 0.5,
             max_waiting: int = 8, throttle_args: dict[str, Any] | None = None,
             **kwargs: Any) -> tuple[Any, int]:
    throttle = sys.modules["bridge_doors"].LoginThrottle(burst, every, max_waiting,
                                                         **(throttle_args or {}))
    doors = doors_of(app, throttle=throttle, **kwargs)
    broker = loop.run(asyncio.start_server(fake_broker("right-password"), "127.0.0.1", 0))
    front = loop.run(doors.start_front("127.0.0.1", 0, ("127.0.0.1", port_of(broker))))
    return doors, port_of(front)


def test_failed_logins_are_throttled(app: ModuleType, loop: Loop) -> None:
    doors, port = front_of(app, loop, burst=3, every=0.5)
    started = time.monotonic()
    answers = [login(port, "wrong-guess") for _ in range(10)]
    taken = time.monotonic() - started
    print(f"\nmqtt-bridge: 10 wrong passwords through the front took {taken:.1f} s "
          f"(3 at once, then one every 0.5 s; before: no throttle)")
    assert answers == [5] * 10 and taken >= (10 - 3) * 0.5 - 0.2
    assert doors.throttle.failed == 10
    # the bucket refills; a right password is answered, and gives its token back
    time.sleep(1.6)
    started = time.monotonic()
    assert [login(port, "right-password") for _ in range(10)] == [0] * 10
    assert time.monotonic() - started < 1.0


def guess(port: int, stop: threading.Event, worker: int, tries: list[int],
          user: str = "sensors", client_id: str | None = None) -> None:
    """A guesser: wrong passwords, each on a new connection (and client id), until ``stop``."""
    n = 0
    while not stop.is_set():
        n += 1
        with contextlib.suppress(OSError):
            if login(port, f"guess-{worker}-{n}", timeout=1, user=user,
                     client_id=client_id or f"guesser-{worker}-{n}") == 5:
                tries.append(1)


@contextlib.contextmanager
def guessing(port: int, workers: int = 4, **kwargs: Any) -> Iterator[list[int]]:
    stop, tries = threading.Event(), []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=guess, args=(port, stop, w, tries), kwargs=kwargs)
               for w in range(workers)]
    for thread in threads:
        thread.start()
    try:
        yield tries
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def timed_login(port: int, **kwargs: Any) -> tuple[int | None, float]:
    started = time.monotonic()
    answer = login(port, "right-password", timeout=5, **kwargs)
    return answer, time.monotonic() - started


def test_a_device_gets_in_while_four_guess_its_password(app: ModuleType, loop: Loop) -> None:
    """Hostile-after (issue 16): one bucket for everyone, and four guessers queued ahead of a
    real device's login kept it out past its 30 s (0 of 2). A device that has logged in before
    has a lane of its own (its user name and client id); the guessers stay throttled."""
    doors, port = front_of(app, loop, burst=2, every=2.0, throttle_args={"names": ["sensors"]})
    assert login(port, "right-password") == 0  # the device has been in before
    started = time.monotonic()
    with guessing(port) as tries:
        time.sleep(1.0)  # the guessers have the name's tokens, and wait for more
        answers = [timed_login(port) for _ in range(3)]
        elapsed = time.monotonic() - started
    print(f"\nmqtt-bridge: with 4 guessers, the device's logins took "
          f"{', '.join(f'{t:.2f}' for _, t in answers)} s; {len(tries)} guesses in "
          f"{elapsed:.1f} s (2 at once, then one every 2 s)")
    assert [code for code, _ in answers] == [0, 0, 0]
    assert max(t for _, t in answers) < 2.0
    assert doors.throttle.failed <= 2 + elapsed / 2.0 + 1


def test_guessing_with_a_devices_client_id_is_throttled_too(app: ModuleType,
                                                            loop: Loop) -> None:
    doors, port = front_of(app, loop, burst=2, every=2.0,
                           throttle_args={"names": ["sensors"], "lane_burst": 2,
                                          "lane_every": 0.5})
    assert login(port, "right-password") == 0  # the lane of (sensors, client-sensors)
    started = time.monotonic()
    answers = [login(port, f"guess-{n}", client_id="client-sensors") for n in range(6)]
    taken = time.monotonic() - started
    assert answers == [5] * 6 and taken >= (6 - 2) * 0.5 - 0.2
    # the name's bucket, untouched by those, answers another client id at once
    assert timed_login(port, client_id="elsewhere")[1] < 0.5 and doors.throttle.failed == 6


def test_guessing_one_devices_password_does_not_slow_another(app: ModuleType,
                                                             loop: Loop) -> None:
    """Each device has its own bucket (a device never seen before included); unknown names
    share one."""
    _, port = front_of(app, loop, burst=2, every=5.0,
                       throttle_args={"names": ["sensors", "kitchen", "porch"]})
    with guessing(port) as tries:
        time.sleep(1.0)
        kitchen = timed_login(port, user="kitchen")
        stranger = login(port, "right-password", timeout=2, user="nobody")
    with guessing(port, user="nobody"):
        time.sleep(1.0)
        porch = timed_login(port, user="porch")
    assert kitchen[0] == 0 and kitchen[1] < 1.0, kitchen
    assert porch[0] == 0 and porch[1] < 1.0, porch
    assert len(tries) <= 2 + 1 and stranger == 0


def test_a_logged_in_client_is_passed_through(app: ModuleType, loop: Loop) -> None:
    _, port = front_of(app, loop)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(connect_packet("sensors", "right-password"))
        assert sock.recv(4) == bytes([0x20, 2, 0, 0])
        sock.sendall(b"\xc0\x00")  # PINGREQ (echoed by the fake broker)
        assert sock.recv(2) == b"\xc0\x00"


def test_too_many_waiting_logins_are_closed_at_once(app: ModuleType, loop: Loop) -> None:
    _, port = front_of(app, loop, burst=1, every=5.0, max_waiting=2)
    assert login(port, "wrong-guess") == 5  # the one token is gone for 5 s
    results: list[str] = []

    def try_login() -> None:
        started = time.monotonic()
        try:
            answer = login(port, "x", timeout=2)
        except TimeoutError:
            results.append("waited")
            return
        results.append("closed at once" if answer is None and time.monotonic() - started < 1
                       else f"answer {answer}")

    threads = [threading.Thread(target=try_login) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # two wait for a token (until the client gives up), the others are closed at once
    assert sorted(results) == ["closed at once"] * 4 + ["waited"] * 2, results


def test_idle_connections_to_the_front_make_room(app: ModuleType, loop: Loop) -> None:
    doors, port = front_of(app, loop, max_connections=8)
    with contextlib.ExitStack() as stack:
        for _ in range(40):
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.2)
        assert login(port, "right-password", timeout=5) == 0
        assert doors.front_crowd.evicted >= 32


# NEWNYM through the FIFO -----------------------------------------------------------------------
def test_newnym_through_the_fifo(app: ModuleType, tmp_path: Path) -> None:
    """The bridge never touches tor's control socket (tor's user alone can): it only writes a
    request line to the FIFO tor's side reads."""
    assert not hasattr(app, "newnym_over_control") and not hasattr(app, "CONTROL")
    fifo = tmp_path / "newnym"
    # no FIFO yet: nothing to do, no error
    assert app.fresh_onion_state() is False
    os.mkfifo(fifo)
    # nobody reads it now: nothing to do, no error
    assert app.fresh_onion_state() is False
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert app.fresh_onion_state() is True
        assert os.read(reader, 100) == b"NEWNYM\n"
    finally:
        os.close(reader)
    fifo.unlink()
    fifo.write_text("")  # not a FIFO: left alone
    assert app.fresh_onion_state() is False and fifo.read_text() == ""
