#!/usr/bin/python3
"""myonion forward: relays each onion connection to the target, if the target is what it seems.

The target's name is resolved once per connection, every address it resolves to is checked
(forward_guard.py says against what), and the connection goes to exactly an address that passed:
no second lookup, so a name cannot change its answer between the check and the connection.

Standard library only. Listens on 127.0.0.1 only; tor is the way in. Logs each refusal with its
reason and the address, never a byte of what is relayed.

    myonion_forward.py serve [CONFIG]   relay (the container's command)
    myonion_forward.py check [CONFIG]   exit 0 if the relay listens and the target answers,
                                        checked as a visitor's connection is (the healthcheck)
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import forward_guard as guard
from forward_guard import Guard, Network

CONFIG_FILE = "/etc/myonion/forward.json"
LISTEN = ("127.0.0.1", 8080)
CHUNK = 65536
#: what myonion's probe sends first (templates' ``probes``: kind line): instead of relaying it,
#: the forward answers "OK <target> answered" or "FAIL <why>", so "reachable" means the target
#: itself answered through the onion
PROBE = b"MYONION-PROBE\r\n"
#: how long a connection whose target failed waits for a probe's line before it is closed
PROBE_WAIT = 2.0
#: what getaddrinfo gives: (host, port) or (host, port, flowinfo, scope id)
SockAddr = tuple[Any, ...]

log = logging.getLogger("myonion-forward")


# --- configuration --------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    host: str
    port: int
    max_connections: int = 32
    connect_timeout: float = 10.0
    idle_timeout: float = 600.0
    guard: Guard = field(default_factory=Guard)


def load_config(path: str = CONFIG_FILE) -> Config:
    """The forward's settings, rendered by myonion (``forward.json``)."""
    with open(path) as f:
        raw = json.load(f)

    def nets(key: str) -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(t, strict=False) for t in raw.get(key, []))

    return Config(
        host=str(raw["target_host"]), port=int(raw["target_port"]),
        max_connections=int(raw["max_connections"]),
        connect_timeout=float(raw["connect_timeout"]), idle_timeout=float(raw["idle_timeout"]),
        guard=Guard(host=nets("host_addresses"), testnet=nets("testnet_addresses"),
                    allow_this_machine=bool(raw["allow_this_machine"])))


# --- connecting to the target ---------------------------------------------------------------
async def resolve(host: str, port: int) -> list[tuple[int, SockAddr]]:
    """(family, socket address) of every TCP address ``host`` resolves to, in order, once."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: set[SockAddr] = set()
    out: list[tuple[int, SockAddr]] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr not in seen:
            seen.add(sockaddr)
            out.append((family, sockaddr))
    if not out:
        raise OSError("no IPv4 or IPv6 address")
    return out


async def open_target(cfg: Config, tag: str) -> tuple[socket.socket | None, str]:
    """A socket connected to the target, to an address that passed ``guard.refusal``, and
    what happened in words; no socket (each reason logged) if it does not resolve, every
    address is refused or none answers."""
    where = f"{cfg.host}:{cfg.port}"
    try:
        addresses = await asyncio.wait_for(resolve(cfg.host, cfg.port), cfg.connect_timeout)
    except (OSError, TimeoutError) as e:
        log.warning("%s: refused: %s does not resolve (%s)", tag, where, str(e) or "timed out")
        return None, f"target {where} does not resolve"
    try:
        local = guard.read_local_view()
    except (OSError, ValueError) as e:
        log.warning("%s: refused: this container's addresses cannot be read (%s)", tag, e)
        return None, "this container's addresses cannot be read"
    loop = asyncio.get_running_loop()
    outcome = f"target {where} has no address"
    for family, sockaddr in addresses:
        why = guard.refusal(sockaddr[0], cfg.guard, local)
        if why is not None:
            log.warning("%s: refused: %s resolves to %s, which is %s", tag, where, sockaddr[0],
                        why)
            outcome = f"target {where} is refused: it resolves to {sockaddr[0]}, which is {why}"
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, sockaddr), cfg.connect_timeout)
            return sock, f"target {where} ({sockaddr[0]}) answered"
        except (OSError, TimeoutError) as e:
            sock.close()
            log.warning("%s: %s (%s) does not answer: %s", tag, where, sockaddr[0],
                        str(e) or "timed out")
            outcome = (f"target {where} ({sockaddr[0]}) "
                       + ("refused the connection" if isinstance(e, ConnectionRefusedError)
                          else f"does not answer ({str(e) or 'timed out'})"))
    return None, outcome


# --- relaying -------------------------------------------------------------------------------
class Activity:
    """When a byte last went either way (for the idle timeout)."""

    def __init__(self) -> None:
        self.last = time.monotonic()


class Probed(Exception):
    """The visitor was myonion's probe (PROBE as its first bytes): answered, not relayed."""


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               activity: Activity, probe_answer: tuple[asyncio.StreamWriter, str] | None = None
               ) -> None:
    """Copy until end of stream, then half-close the other side (the other way goes on).
    With ``probe_answer`` (the visitor's side): a first chunk that is exactly PROBE is not
    relayed but answered with "OK <what happened>" on that writer."""
    if probe_answer is not None:
        first = await reader.read(CHUNK)
        if first == PROBE:
            back, outcome = probe_answer
            back.write(f"OK {outcome}\r\n".encode())
            await back.drain()
            raise Probed
        if first:
            activity.last = time.monotonic()
            writer.write(first)
            await writer.drain()
        else:
            reader.feed_eof()
    while data := await reader.read(CHUNK):
        activity.last = time.monotonic()
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof() and not writer.is_closing():
        writer.write_eof()


async def idle(activity: Activity, timeout: float) -> None:
    """Returns once nothing went either way for ``timeout`` seconds."""
    while (left := activity.last + timeout - time.monotonic()) > 0:
        await asyncio.sleep(left)


async def splice(visitor: socket.socket, upstream: socket.socket, cfg: Config, tag: str,
                 outcome: str = "") -> None:
    """Relay both ways until both ends are done, either fails, or the idle timeout."""
    vr, vw = await asyncio.open_connection(sock=visitor)
    ur, uw = await asyncio.open_connection(sock=upstream)
    activity = Activity()
    pumps = {asyncio.ensure_future(pump(vr, uw, activity, (vw, outcome))),
             asyncio.ensure_future(pump(ur, vw, activity))}
    watch = asyncio.ensure_future(idle(activity, cfg.idle_timeout))
    clean = False
    try:
        while pumps:
            done, _ = await asyncio.wait(pumps | {watch}, return_when=asyncio.FIRST_COMPLETED)
            if watch in done:
                log.info("%s: closed after %g s without traffic", tag, cfg.idle_timeout)
                break
            pumps -= done
            if any(isinstance(t.exception(), Probed) for t in done):
                pumps.clear()  # answered: close both cleanly, the answer is sent first
                break
            if any(t.exception() is not None for t in done):
                break  # a reset or broken pipe: end both sides
        clean = not pumps
    finally:
        for task in (*pumps, watch):
            task.cancel()
        for writer in (vw, uw):
            if clean:
                writer.close()
            else:
                writer.transport.abort()
        for writer in (vw, uw):
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 5)


async def relay(visitor: socket.socket, cfg: Config, tag: str) -> None:
    """One visitor's connection: the target checked and connected, then relayed; closed if
    the target is refused or does not answer."""
    upstream = None
    try:
        upstream, outcome = await open_target(cfg, tag)
        if upstream is None:
            await answer_probe(visitor, outcome)
            visitor.close()
            return
        await splice(visitor, upstream, cfg, tag, outcome)
    except Exception as e:  # one connection's trouble never ends the relay
        log.warning("%s: ended by %s", tag, type(e).__name__)
        for sock in (visitor, upstream):
            if sock is not None:
                sock.close()


async def answer_probe(visitor: socket.socket, outcome: str) -> None:
    """The target failed: if the visitor is myonion's probe, tell it why before closing (a
    visitor's connection is just closed, as always)."""
    loop = asyncio.get_running_loop()
    visitor.setblocking(False)
    with contextlib.suppress(OSError, TimeoutError):
        first = await asyncio.wait_for(loop.sock_recv(visitor, len(PROBE)), PROBE_WAIT)
        if first == PROBE:
            await loop.sock_sendall(visitor, f"FAIL {outcome}\r\n".encode())


async def serve(cfg: Config, listener: socket.socket) -> None:
    """Accept on ``listener`` at most ``max_connections`` at once: a further connection waits
    in the listen queue (and tor retries) until one ends."""
    loop = asyncio.get_running_loop()
    listener.setblocking(False)
    slots = asyncio.Semaphore(cfg.max_connections)
    running: set[asyncio.Task[None]] = set()
    count = 0
    while True:
        await slots.acquire()
        try:
            conn, _ = await loop.sock_accept(listener)
        except OSError as e:  # e.g. out of descriptors: wait, do not spin
            slots.release()
            log.warning("accept failed: %s", e)
            await asyncio.sleep(0.5)
            continue
        count += 1
        task = asyncio.ensure_future(relay(conn, cfg, f"connection {count}"))
        running.add(task)

        def done(t: asyncio.Task[None]) -> None:
            running.discard(t)
            slots.release()

        task.add_done_callback(done)


def listen(cfg: Config, address: tuple[str, int] = LISTEN) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.listen(cfg.max_connections)
    return listener


def listening(port: int = LISTEN[1], proc: str = guard.PROC_NET) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (read from /proc, so the check makes
    no connection of its own through the relay)."""
    wanted = f"0100007F:{port:04X}"
    lines = guard.read_proc(f"{proc}/tcp").splitlines()[1:]
    return any(w[1] == wanted and w[3] == "0A" for w in (line.split() for line in lines))


def check(cfg: Config) -> int:
    """The healthcheck: 0 if the relay listens and the target answers through the same checks
    a visitor's connection goes through."""
    if not listening():
        log.warning("healthcheck: nothing listens on 127.0.0.1:%d", LISTEN[1])
        return 1
    sock, outcome = asyncio.run(open_target(cfg, "healthcheck"))
    if sock is None:
        log.warning("healthcheck: %s", outcome)
        return 1
    sock.close()
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="myonion-forward: %(message)s")
    command = argv[1] if len(argv) > 1 else "serve"
    cfg = load_config(argv[2] if len(argv) > 2 else CONFIG_FILE)
    if command == "check":
        return check(cfg)
    if command != "serve":
        log.error("usage: myonion_forward.py serve|check [CONFIG]")
        return 2
    listener = listen(cfg)
    log.info("relaying %s:%d to %s:%d, at most %d at once; allow_this_machine %s", *LISTEN,
             cfg.host, cfg.port, cfg.max_connections,
             "on" if cfg.guard.allow_this_machine else "off")
    asyncio.run(serve(cfg, listener))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
