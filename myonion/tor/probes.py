"""How a service proves it works: the probes a template declares, run through a separate tor client.

"Reachable" means the answer a visitor would get is the right one, not merely that the onion
accepted a connection. Each template says in its ``template.yaml`` how its service is probed
(no per-template code here)::

    probes:
      - kind: http            # GET path, a status in expect (default 200-299)
        port: 80              # the onion (virtual) port; default the first one
        path: /healthz
        who: nginx            # who answers, for messages ("nginx answers 403: ...")
        explain: {403: "the folder is not readable by the service"}
      - kind: banner          # the first line the service sends starts with prefix
        port: 22
        prefix: "SSH-2.0-"
      - kind: line            # send a line, the answer starts with prefix; the rest is the reason
        send: "MYONION-PROBE"
        prefix: "OK"
      - kind: mqtt            # an MQTT CONNECT gets a CONNACK (any return code)
        port: 1883
        when: onion_broker    # only while this bool option is true

A probe's outcome has two parts: whether the onion itself answered (tor built the connection:
the descriptor was found, the introduction and rendezvous worked) and whether the service then
answered as it should. A template without probes gets one from its first port: an HTTP GET of
``/`` expecting 2xx for an http port, a TCP connection for a tcp port.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from myonion.errors import FetchError
from myonion.tor import fetch

KINDS = ("http", "banner", "line", "mqtt", "tcp")
#: how long a service that answers wrongly is asked again before it counts as failing (it may
#: still be starting behind an onion that is up already)
SETTLE = 3.0
#: one attempt waits this long at most for tor to connect: a client that waits on a
#: rendezvous nobody will answer (an old introduction point of a restarted service) would
#: otherwise spend the whole time on it; run_until then tries again
ATTEMPT = 20.0
#: an MQTT 3.1.1 CONNECT with clean session, keep-alive 60 s, client id "myonion-probe"
MQTT_CONNECT = (b"\x10\x19\x00\x04MQTT\x04\x02\x00\x3c\x00\x0dmyonion-probe")
MQTT_RETURN_CODES = {0: "accepted", 1: "bad protocol version", 2: "client id rejected",
                     3: "server unavailable", 4: "bad user name or password",
                     5: "not authorised"}


@dataclass(frozen=True)
class ProbeSpec:
    """One check of a service through its onion address (see the module docstring)."""

    kind: str
    port: int
    path: str = "/"
    expect: tuple[int, int] = (200, 299)
    prefix: str = ""
    send: str = ""
    who: str = "the service"
    when: str | None = None
    explain: tuple[tuple[int, str], ...] = ()

    def applies(self, options: dict[str, Any]) -> bool:
        return self.when is None or bool(options.get(self.when))

    @property
    def what(self) -> str:
        """What the probe looks for, in words (for messages and status)."""
        return {"http": f"HTTP {self.path} on port {self.port}",
                "banner": f"the banner on port {self.port}",
                "line": f"the answer on port {self.port}",
                "mqtt": f"an MQTT CONNACK on port {self.port}",
                "tcp": f"a connection on port {self.port}"}[self.kind]


@dataclass
class ProbeResult:
    """What one probe saw."""

    what: str
    ok: bool
    #: tor connected to the onion (the service's side then answered, rightly or not)
    onion_up: bool
    detail: str
    seconds: float
    status: int | None = None
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Verdict:
    """The outcome of every probe of a service: reachable only if each one passed."""

    results: list[ProbeResult] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def onion_up(self) -> bool:
        return any(r.onion_up for r in self.results)

    @property
    def reason(self) -> str | None:
        """The first failure, as a sentence part (None when reachable)."""
        return next((r.detail for r in self.results if not r.ok), None)


def default_probes(ports: tuple[Any, ...]) -> tuple[ProbeSpec, ...]:
    """The probe of a template that declares none: its first onion port, as it was checked
    before templates declared probes."""
    first = ports[0]
    kind = "http" if first.protocol == "http" else "tcp"
    return (ProbeSpec(kind=kind, port=first.virtual),)


def parse_probes(raw: Any, ports: tuple[Any, ...], options: tuple[Any, ...]) -> tuple[ProbeSpec,
                                                                                       ...]:
    """The ``probes`` list of a manifest, checked; raises ValueError with what is wrong."""
    if raw is None:
        return default_probes(ports)
    if not isinstance(raw, list) or not raw:
        raise ValueError("'probes' must be a non-empty list")
    virtual = {p.virtual for p in ports}
    bools = {o.name for o in options if o.type == "bool"}
    specs = []
    for number, item in enumerate(raw, start=1):
        where = f"probe {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be a mapping")
        unknown = set(item) - {"kind", "port", "path", "expect", "prefix", "send", "who",
                               "when", "explain"}
        if unknown:
            raise ValueError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
        kind = item.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}")
        port = item.get("port", ports[0].virtual)
        if port not in virtual:
            raise ValueError(f"{where}: port {port} is not one of the template's onion ports")
        when = item.get("when")
        if when is not None and when not in bools:
            raise ValueError(f"{where}: 'when' must name a bool option")
        specs.append(ProbeSpec(
            kind=kind, port=int(port), path=_text(item, "path", "/", where, r"/[ -~]{0,200}"),
            expect=_expect(item.get("expect", [200, 299]), where),
            prefix=_text(item, "prefix", "", where, r"[ -~]{0,64}"),
            send=_text(item, "send", "", where, r"[ -~]{0,64}"),
            who=_text(item, "who", "the service", where, r"[ -~]{1,40}"), when=when,
            explain=_explain(item.get("explain", {}), where)))
        if kind in ("banner", "line") and not specs[-1].prefix:
            raise ValueError(f"{where}: a {kind} probe needs a prefix")
        if kind == "line" and not specs[-1].send:
            raise ValueError(f"{where}: a line probe needs a line to send")
    return tuple(specs)


def _text(item: dict[str, Any], key: str, default: str, where: str, pattern: str) -> str:
    value = item.get(key, default)
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ValueError(f"{where}: '{key}' must be a short line of printable text")
    return value


def _expect(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, list) or len(value) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in value)
            or value[0] > value[1]):
        raise ValueError(f"{where}: 'expect' must be a status or [lowest, highest] (100-599)")
    return int(value[0]), int(value[1])


def _explain(value: Any, where: str) -> tuple[tuple[int, str], ...]:
    if not isinstance(value, dict) or not all(
            isinstance(k, int) and isinstance(v, str) and 0 < len(v) <= 200
            for k, v in value.items()):
        raise ValueError(f"{where}: 'explain' maps HTTP statuses to short reasons")
    return tuple(sorted(value.items()))


# --- running -------------------------------------------------------------------------------
def run(spec: ProbeSpec, proxy: tuple[str, int], address: str, timeout: float) -> ProbeResult:
    """One attempt of ``spec`` against ``address`` through the SOCKS port ``proxy``."""
    start = time.monotonic()
    try:
        sock = fetch.socks_connect(proxy, address, spec.port, timeout)
    except FetchError as e:
        return ProbeResult(spec.what, False, False, e.message.rstrip("."),
                           round(time.monotonic() - start, 3))
    try:
        sock.settimeout(min(timeout, 20.0))
        ok, detail, status, size = _ANSWER[spec.kind](spec, sock, address)
    except OSError as e:
        ok, detail, status, size = False, f"{spec.who} did not answer ({e})", None, 0
    finally:
        sock.close()
    return ProbeResult(spec.what, ok, True, detail, round(time.monotonic() - start, 3), status,
                       size)


def run_until(spec: ProbeSpec, proxy: tuple[str, int], address: str, timeout: float,
              settle: float = SETTLE, attempt: float = ATTEMPT,
              stuck: Callable[[], object] | None = None) -> ProbeResult:
    """Run ``spec`` until it passes, the onion stays out of reach for ``timeout`` (a new
    descriptor may take a moment to be found), or the service has answered wrongly for
    ``settle`` seconds after the onion answered. Each attempt waits ``attempt`` s at most;
    after one that waited that long without the onion answering, ``stuck`` is called (to
    make the client forget what it knows of onions) before the next."""
    deadline = time.monotonic() + timeout
    first_wrong: float | None = None
    while True:
        wait = min(attempt, max(5.0, deadline - time.monotonic()))
        result = run(spec, proxy, address, wait)
        now = time.monotonic()
        if result.ok:
            return result
        if result.onion_up:
            first_wrong = first_wrong if first_wrong is not None else now
            if now - first_wrong >= settle or now + 0.5 > deadline:
                return result
        elif now + 0.5 > deadline:
            return result
        elif stuck is not None and result.seconds >= wait - 0.5:
            stuck()
        time.sleep(0.5)


def _read_line(sock: socket.socket, limit: int = 512) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < limit:
        chunk = sock.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def _http(spec: ProbeSpec, sock: socket.socket, address: str) -> tuple[bool, str, int | None,
                                                                         int]:
    sock.sendall(f"GET {spec.path} HTTP/1.0\r\nHost: {address}\r\nUser-Agent: myonion\r\n"
                 "\r\n".encode())
    status_line = _read_line(sock)
    if not status_line:
        return False, f"{spec.who} closed the connection without an answer", None, 0
    match = re.match(rb"HTTP/1\.[01] (\d{3})", status_line)
    if not match:
        return False, f"{spec.who} did not answer in HTTP", None, len(status_line)
    status = int(match.group(1))  # the status is the answer: the body is not fetched
    size = len(status_line)
    low, high = spec.expect
    if low <= status <= high:
        return True, f"{spec.who} answers {status}", status, size
    reason = dict(spec.explain).get(status)
    return False, f"{spec.who} answers {status}" + (f": {reason}" if reason else ""), status, \
        size


def _banner(spec: ProbeSpec, sock: socket.socket, address: str) -> tuple[bool, str, None, int]:
    line = _read_line(sock, 255)
    text = line.decode("ascii", "replace")
    if line.startswith(spec.prefix.encode()):
        return True, f"{spec.who} says {text[:60]}", None, len(line)
    if not line:
        return False, f"{spec.who} closed the connection without a banner", None, 0
    return False, f"{spec.who} sent no {spec.prefix!r} banner", None, len(line)


def _line(spec: ProbeSpec, sock: socket.socket, address: str) -> tuple[bool, str, None, int]:
    """Send a line; the answer is the first of up to four lines starting with the prefix or
    FAIL (a service that speaks first, such as SSH behind a forward, may send its own line
    before the answer)."""
    sock.sendall(spec.send.encode() + b"\r\n")
    first, size = "", 0
    for _ in range(4):
        line = _read_line(sock, 255)
        size += len(line)
        text = line.decode("ascii", "replace")
        if text.startswith(spec.prefix):
            rest = text[len(spec.prefix):].strip(" :")
            return True, rest or f"{spec.who} answers", None, size
        if text.startswith("FAIL"):
            return False, f"{spec.who}: {text[4:].strip(' :')[:160]}", None, size
        if not line:
            break
        first = first or text
    if not first:
        return False, f"{spec.who} closed the connection without an answer", None, 0
    return False, f"{spec.who}: {first[:160]}", None, size


def _mqtt(spec: ProbeSpec, sock: socket.socket, address: str) -> tuple[bool, str, None, int]:
    sock.sendall(MQTT_CONNECT)
    data = b""
    while len(data) < 4:
        chunk = sock.recv(4 - len(data))
        if not chunk:
            break
        data += chunk
    if len(data) == 4 and data[0] == 0x20 and data[1] == 0x02:
        code = MQTT_RETURN_CODES.get(data[3], f"code {data[3]}")
        return True, f"{spec.who} answers CONNACK ({code})", None, 4
    if not data:
        return False, f"{spec.who} closed the connection without a CONNACK", None, 0
    return False, f"{spec.who} did not answer with an MQTT CONNACK", None, len(data)


def _tcp(spec: ProbeSpec, sock: socket.socket, address: str) -> tuple[bool, str, None, int]:
    return True, "the connection was accepted", None, 0


_ANSWER = {"http": _http, "banner": _banner, "line": _line, "mqtt": _mqtt, "tcp": _tcp}
