"""HTTP GET through a tor SOCKS5 port, with the host name resolved by tor (like socks5h).

A small stdlib client, so `check` and `fetch` need nothing but a SOCKS address.
"""

from __future__ import annotations

import http.client
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from myonion.errors import FetchError

T = TypeVar("T")

SOCKS_REPLIES = {
    1: "general failure", 2: "not allowed by ruleset", 3: "network unreachable",
    4: "host unreachable (the onion descriptor was not found or the service did not answer)",
    5: "connection refused", 6: "TTL expired", 7: "command not supported",
    8: "address type not supported",
}


class SocksError(FetchError):
    """The SOCKS server refused or failed the connection; ``code`` is its reply code."""

    def __init__(self, code: int, host: str) -> None:
        super().__init__(f"tor could not connect to {host}: SOCKS reply {code}, "
                         f"{SOCKS_REPLIES.get(code, 'unknown')}.")
        self.code = code


def socks_connect(proxy: tuple[str, int], host: str, port: int, timeout: float) -> socket.socket:
    """A socket connected to ``host:port`` through a SOCKS5 proxy (no authentication)."""
    try:
        sock = socket.create_connection(proxy, timeout=timeout)
    except OSError as e:
        raise FetchError(f"The tor SOCKS port {proxy[0]}:{proxy[1]} does not answer ({e}).",
                         hint="Is the tor client running (`myonion testnet status`)?") from e
    try:
        sock.sendall(b"\x05\x01\x00")
        if _recv(sock, 2) != b"\x05\x00":
            raise FetchError(f"{proxy[0]}:{proxy[1]} is not a SOCKS5 proxy without auth.")
        name = host.encode("idna")
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
        head = _recv(sock, 4)
        if head[1] != 0:
            raise SocksError(head[1], host)
        kind = head[3]
        skip = {1: 4, 4: 16}.get(kind)
        if skip is None:
            skip = _recv(sock, 1)[0]
        _recv(sock, skip + 2)
        return sock
    except BaseException:
        sock.close()
        raise


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except OSError as e:
            raise FetchError(f"The SOCKS connection failed ({e}).") from e
        if not chunk:
            raise FetchError("The SOCKS proxy closed the connection.")
        data += chunk
    return data


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


class _SocksHTTPConnection(http.client.HTTPConnection):
    def __init__(self, proxy: tuple[str, int], host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._proxy = proxy

    def connect(self) -> None:
        self.sock = socks_connect(self._proxy, self.host, self.port, self.timeout or 60)


def http_get(url: str, proxy: tuple[str, int], timeout: float = 60.0,
             max_bytes: int = 16 * 1024 * 1024) -> Response:
    """GET ``url`` (http only: onion services are already end-to-end encrypted) through tor."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise FetchError(f"'{url}' is not an http:// URL.", hint="Use http://ADDRESS.onion/path")
    start = time.monotonic()
    conn = _SocksHTTPConnection(proxy, parts.hostname, parts.port or 80, timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path, headers={"User-Agent": "myonion", "Connection": "close"})
        resp = conn.getresponse()
        body = resp.read(max_bytes)
        return Response(resp.status, dict(resp.getheaders()), body, time.monotonic() - start)
    except (OSError, http.client.HTTPException) as e:
        raise FetchError(f"Fetching {url} through tor failed: {e}.") from e
    finally:
        conn.close()


def _retrying(attempt: Callable[[float], T], timeout: float) -> T:
    """Call ``attempt(seconds_left)`` every 0.5 s until it succeeds or ``timeout`` has passed:
    a fresh descriptor may take a moment to be found. The last FetchError is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt(max(5.0, deadline - time.monotonic()))
        except FetchError:
            if time.monotonic() + 0.5 > deadline:
                raise
            time.sleep(0.5)


def http_get_retry(url: str, proxy: tuple[str, int], timeout: float = 60.0) -> Response:
    """GET with retries until ``timeout``."""
    return _retrying(lambda left: http_get(url, proxy, timeout=left), timeout)


def connect_retry(proxy: tuple[str, int], host: str, port: int, timeout: float = 60.0) -> None:
    """Connect to ``host:port`` through tor (and close again), retrying until ``timeout``."""
    _retrying(lambda left: socks_connect(proxy, host, port, timeout=left).close(), timeout)
