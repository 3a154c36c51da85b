"""A small HTTP/1.1 server on asyncio streams that hostile clients cannot exhaust.

Standard library only. One event loop, no thread per connection. At most ``max_connections``
connections are open; when all are taken, the oldest one that has not yet sent a whole request is
closed to make room (an idle crowd cannot keep a real client out, and every visitor of an onion
service arrives from 127.0.0.1, so nothing can be limited per address). A whole request, head and
body, must arrive within ``request_timeout`` seconds of the server starting to wait for it (a slow
drip does not reset it). Streamed responses are sent as they are made (chunked), paced by the
client's reading, and stopped when the client leaves, stops reading for ``request_timeout``
seconds, or takes longer than ``export_timeout``.

Subclasses answer requests in ``dispatch``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

MAX_LINE = 8192  # one line of the request head
MAX_HEADERS = 64


@dataclass(frozen=True)
class Limits:
    max_body: int = 65536
    max_connections: int = 64
    request_timeout: float = 20.0
    max_exports: int = 2
    #: an export that takes longer than this (a client reading very slowly) is cut
    export_timeout: float = 600.0


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        return self.version == "HTTP/1.1" and self.headers.get("connection", "").lower() != "close"


@dataclass
class Response:
    status: int
    body: bytes = b""
    ctype: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False
    #: a streamed body (chunked), and what to call once it is sent or abandoned
    stream: Iterator[bytes] | None = None
    done: Callable[[], None] | None = None


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_response(status: int, obj: object, **kwargs: Any) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n", **kwargs)


def error(status: int, message: str, **kwargs: Any) -> Response:
    return json_response(status, {"error": message}, **kwargs)


async def read_head(reader: asyncio.StreamReader) -> Request | None:
    """The request line and headers; None when the client closed before sending anything."""
    try:
        return await _read_head(reader)
    except ValueError as e:  # a line longer than the reader's limit
        raise HTTPError(431, "the request head is too large") from e


async def _read_head(reader: asyncio.StreamReader) -> Request | None:
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):  # tolerated before a request line
        line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise HTTPError(400, "a malformed request line")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n"):
            return Request(parts[0], parts[1], parts[2], headers)
        if not raw.endswith(b"\n"):
            raise asyncio.IncompleteReadError(raw, None)
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise HTTPError(400, "a malformed header")
        key = name.lower()
        if key in headers and key in ("content-length", "authorization", "transfer-encoding"):
            raise HTTPError(400, f"{name} given twice")
        headers[key] = value.strip()
    raise HTTPError(431, "too many headers")



class BoundedServer:
    """Connections, deadlines and responses; ``dispatch`` (of a subclass) answers requests."""

    server_name = "myonion"

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        #: open connections, oldest first: task -> [writer, busy]
        self.conns: dict[asyncio.Task[Any], list[Any]] = {}
        self.stats = {"evicted": 0, "refused": 0, "timeouts": 0, "exports_stopped": 0,
                      "export_steps": 0}

    async def dispatch(self, request: Request, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> Response:
        raise NotImplementedError

    def log(self, message: str) -> None:
        print(f"{self.server_name}: {message}", file=sys.stderr, flush=True)

    async def start(self, host: str = "127.0.0.1", port: int = 8080) -> asyncio.Server:
        return await asyncio.start_server(self.connection, host, port, limit=MAX_LINE,
                                          backlog=128)

    # connections ---------------------------------------------------------------------------
    def _make_room(self) -> bool:
        """Close the oldest connection still waiting for its request; False if all are busy."""
        for task, (writer, busy) in self.conns.items():
            if not busy:
                del self.conns[task]
                writer.transport.abort()
                task.cancel()
                self.stats["evicted"] += 1
                return True
        return False

    async def connection(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.conns) >= self.limits.max_connections and not self._make_room():
            self.stats["refused"] += 1
            writer.transport.abort()
            return
        state = self.conns[task] = [writer, False]
        try:
            await self.serve(reader, writer, state)
        except TimeoutError:  # (an OSError: first)
            self.stats["timeouts"] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # the client went away or sent what cannot be answered
        except asyncio.CancelledError:
            pass  # evicted (or the server is stopping)
        finally:
            self.conns.pop(task, None)
            writer.transport.abort()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    state: list[Any]) -> None:
        while True:
            state[1] = False
            # the whole request, head and body, within the deadline; waiting for it included
            async with asyncio.timeout(self.limits.request_timeout):
                try:
                    request = await read_head(reader)
                except HTTPError as e:
                    request, response = None, error(e.status, str(e), close=True)
                else:
                    if request is None:
                        return
                    state[1] = True
                    response = await self.dispatch(request, reader, writer)
            if request is not None:
                self.log(f'"{request.method} {request.target[:200]} {request.version}" '
                    f"{response.status}")
            keep = await self.send(writer, reader, request, response)
            if not keep:
                return

    # responses -----------------------------------------------------------------------------
    def _head(self, request: Request | None, response: Response, chunked: bool) -> bytes:
        close = response.close or request is None or not request.keep_alive
        lines = [f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}",
                 f"Server: {self.server_name}", f"Content-Type: {response.ctype}",
                 "Cache-Control: no-store", "X-Content-Type-Options: nosniff",
                 "Referrer-Policy: no-referrer"]
        lines += [f"{k}: {v}" for k, v in response.headers.items()]
        if response.stream is None:
            lines.append(f"Content-Length: {len(response.body)}")
        elif chunked:
            lines.append("Transfer-Encoding: chunked")
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader,
                   request: Request | None, response: Response) -> bool:
        """Write the response; True if the connection may take another request."""
        head_only = request is not None and request.method == "HEAD"
        chunked = request is not None and request.version == "HTTP/1.1"
        if response.stream is not None and not chunked:
            response.close = True  # HTTP/1.0: the end of the body is the end of the connection
        keep = not response.close and request is not None and request.keep_alive
        try:
            head = self._head(request, response, chunked)
            if response.stream is None:
                writer.write(head if head_only else head + response.body)  # one segment
                async with asyncio.timeout(self.limits.request_timeout):
                    await writer.drain()
            else:
                writer.write(head)
                if not head_only:
                    await self.stream(writer, reader, response.stream, chunked)
        finally:
            if response.done is not None:
                response.done()
        return keep

    async def stream(self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader,
                     chunks: Iterator[bytes], chunked: bool) -> None:
        """Send an export as it is made; stop when the client leaves or stops reading."""
        stall = self.limits.request_timeout
        try:
            async with asyncio.timeout(self.limits.export_timeout):
                for chunk in chunks:
                    self.stats["export_steps"] += 1
                    if reader.at_eof() or writer.is_closing():
                        raise ConnectionResetError("the client left")
                    if chunk:
                        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                        async with asyncio.timeout(stall):
                            await writer.drain()
                    else:
                        await asyncio.sleep(0)  # let the others in between two rows
            if chunked:
                writer.write(b"0\r\n\r\n")
                async with asyncio.timeout(stall):
                    await writer.drain()
        except BaseException:
            self.stats["exports_stopped"] += 1
            raise
