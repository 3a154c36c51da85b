"""tests.torclient.refused, the integration tests' proof that tor refused a client's key,
against a fake SOCKS5 server: only tor's own answer for the key counts, not any failure."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.torclient import MISSING_KEY, WRONG_KEY, refused

ADDRESS = "a" * 56 + ".onion"
HANG = -1


@pytest.fixture
def socks_server() -> Iterator[tuple[list[int], tuple[str, int]]]:
    """A SOCKS5 server on loopback that answers each connection with the next reply code of
    its list (the last one repeats); HANG answers nothing."""
    replies: list[int] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            code = replies.pop(0) if len(replies) > 1 else replies[0]
            conn.recv(3)
            conn.sendall(b"\x05\x00")
            conn.recv(300)
            if code != HANG:
                conn.sendall(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield replies, server.getsockname()
    stop.set()
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize("expected", [MISSING_KEY, WRONG_KEY])
def test_tors_answer_for_the_key_is_the_proof(socks_server: tuple[list[int], tuple[str, int]],
                                              expected: int) -> None:
    replies, proxy = socks_server
    replies[:] = [0xF0, expected]  # a descriptor not found at first is retried
    assert refused(ADDRESS, proxy, expected, seconds=10) == expected


@pytest.mark.parametrize(("expected", "answer", "said"), [
    (MISSING_KEY, 0x00, "accepted a connection"),  # served: the key was not needed
    (MISSING_KEY, WRONG_KEY, "it said: 0xf5"),  # the other key answer
    (WRONG_KEY, 0xF3, "it said: 0xf3"),  # a rendezvous that failed
    (MISSING_KEY, 0x04, "it said: 0x04"),  # a client without ExtendedErrors: "unreachable"
    (MISSING_KEY, HANG, "timed out"),  # a hang
])
def test_anything_else_fails_the_test(socks_server: tuple[list[int], tuple[str, int]],
                                      expected: int, answer: int, said: str) -> None:
    replies, proxy = socks_server
    replies[:] = [answer]
    with pytest.raises(AssertionError, match=said):
        refused(ADDRESS, proxy, expected, seconds=2)
