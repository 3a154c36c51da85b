"""Attackers for integration tests and bench/hostile.py: connections to an onion service
through a tor client's SOCKS port that say nothing (or begin a request and never finish it) and
stay open.

tor puts streams that log in to SOCKS with different user names on different circuits
(``IsolateSOCKSAuth``, on by default): ``socks_open(..., user="a")`` and ``user="b"`` arrive at
the onion service on two circuits, and ``user=None`` (what curl, nc and myonion's own fetch do)
on a third. That is how a test plays several visitors through one tor client.

``silent_crowd`` opens a fixed number of silent connections once; ``idle_crowd`` holds ``size``
connections and opens again, all at once, whatever the service closes (an attacker that keeps
the pressure on), half of them with a request begun and never finished.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from myonion.tor import fetch

Proxy = tuple[str, int]


class SocksRefused(OSError):
    """tor's SOCKS port answered a CONNECT with an error (e.g. 1: general failure)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"SOCKS reply {code}")
        self.code = code


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from ``sock`` (ConnectionError if it closes first)."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the SOCKS port closed the connection")
        data += chunk
    return data


def socks_open(proxy: Proxy, host: str, port: int, timeout: float,
               user: str | None = None) -> socket.socket:
    """A socket to ``host:port`` through tor's SOCKS5 port; ``user`` picks the circuit
    (isolation by SOCKS user name), None asks without one."""
    sock = socket.create_connection(proxy, timeout=timeout)
    try:
        if user is None:
            sock.sendall(b"\x05\x01\x00")
            if recv_exactly(sock, 2) != b"\x05\x00":
                raise ConnectionError("not a SOCKS5 port without authentication")
        else:
            sock.sendall(b"\x05\x01\x02")
            if recv_exactly(sock, 2) != b"\x05\x02":
                raise ConnectionError("the SOCKS port refused user name authentication")
            name = user.encode()
            sock.sendall(b"\x01" + bytes([len(name)]) + name + b"\x01x")
            if recv_exactly(sock, 2)[1] != 0:
                raise ConnectionError("the SOCKS port refused the user name")
        target = host.encode()
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(target)]) + target
                     + struct.pack(">H", port))
        head = recv_exactly(sock, 4)
        if head[1] != 0:
            raise SocksRefused(head[1])
        skip = {1: 4, 4: 16}.get(head[3])
        recv_exactly(sock, (skip if skip is not None else recv_exactly(sock, 1)[0]) + 2)
        return sock
    except BaseException:
        sock.close()
        raise


def is_open(sock: socket.socket) -> bool:
    """Whether the other end still holds the connection (what it sent is read and dropped)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        while True:
            if not sock.recv(65536):
                return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)


@contextlib.contextmanager
def silent_crowd(proxy: Proxy, host: str, port: int, count: int, circuits: int,
                 tag: str = "crowd", timeout: float = 60) -> Iterator[list[socket.socket]]:
    """``count`` connections that never send a byte, spread over ``circuits`` SOCKS user names
    (connection i on ``tag-(i % circuits)``), opened one after the other; those that could not
    be opened are left out. All closed at the end."""
    held: list[socket.socket] = []
    try:
        for i in range(count):
            with contextlib.suppress(OSError):
                held.append(socks_open(proxy, host, port, timeout, f"{tag}-{i % circuits}"))
        yield held
    finally:
        for sock in held:
            sock.close()


class IdleCrowd:
    def __init__(self, proxy: tuple[str, int], address: str, port: int, size: int) -> None:
        self.proxy, self.address, self.port, self.size = proxy, address, port, size
        self.socks: list[socket.socket | None] = [None] * size
        self.opened = 0
        self.closed_by_service = 0
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep, daemon=True)

    def _open(self, index: int) -> None:
        with contextlib.suppress(OSError, fetch.FetchError):
            sock = fetch.socks_connect(self.proxy, self.address, self.port, timeout=60)
            if index % 2:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            self.socks[index] = sock
            self.opened += 1

    def start(self) -> None:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(self._open, range(self.size)))
        self._keeper.start()

    def held(self) -> int:
        return sum(s is not None for s in self.socks)

    def _keep(self) -> None:
        with ThreadPoolExecutor(16) as pool:
            while not self._stop.is_set():
                live = [s for s in self.socks if s is not None]
                readable = select.select(live, [], [], 0.5)[0] if live else []
                for sock in readable:
                    with contextlib.suppress(OSError):
                        if sock.recv(4096):
                            continue
                    index = self.socks.index(sock)
                    sock.close()
                    self.socks[index] = None
                    self.closed_by_service += 1
                # open them again, all at once (an attacker keeps the pressure on)
                missing = [i for i, s in enumerate(self.socks) if s is None]
                if missing and not self._stop.is_set():
                    list(pool.map(self._open, missing))

    def stop(self) -> None:
        self._stop.set()
        if self._keeper.is_alive():
            self._keeper.join(10)
        for sock in self.socks:
            if sock is not None:
                sock.close()


@contextlib.contextmanager
def idle_crowd(proxy: tuple[str, int], address: str, port: int,
               size: int = 140) -> Iterator[IdleCrowd]:
    crowd = IdleCrowd(proxy, address, port, size)
    try:
        crowd.start()
        yield crowd
    finally:
        crowd.stop()
