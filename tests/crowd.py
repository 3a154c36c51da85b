"""An idle crowd for integration tests: ``size`` connections to an onion service through a tor
client's SOCKS port, held open and opened again as soon as the service closes one (an attacker
that keeps the pressure on), half of them with a request begun and never finished."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from myonion.tor import fetch


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
