"""Talking to tor: readiness measured on a service's control socket (addresses: myonion.onion).

The only module that imports stem. A service's tor listens on a unix control socket in a
directory shared with the manager, authenticated by SAFECOOKIE with the cookie from that
directory (tor reports the cookie's path inside the container, so it is read from the host side).
"""

from __future__ import annotations

import logging
import queue
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from myonion.errors import TorError
from myonion.events import Event, Reporter, Stage, log_reporter

if TYPE_CHECKING:  # stem is imported where tor is talked to: `ls` and most commands never do
    import stem.response.events
    from stem.control import Controller

log = logging.getLogger(__name__)

BOOTSTRAP_RE = re.compile(r"PROGRESS=(\d+)")


@dataclass
class Readiness:
    """What a readiness wait saw: seconds since it began for each milestone."""

    bootstrapped: float | None = None
    uploaded: float | None = None
    last_percent: int = 0
    summary: str = ""


def connect(control_dir: Path) -> Controller:
    """An authenticated controller for the tor whose control dir is ``control_dir``."""
    import stem
    import stem.connection
    from stem.control import Controller

    sock = control_dir / "control.sock"
    try:
        controller = Controller.from_socket_file(str(sock))
        # tor names the cookie by its path inside the container; read it from the host side.
        # Controller.authenticate (not stem.connection's functions) also marks the controller
        # authenticated, without which event listeners are never subscribed.
        protocolinfo = stem.connection.get_protocolinfo(controller)
        protocolinfo.cookie_path = str(control_dir / "control.authcookie")
        controller.authenticate(protocolinfo_response=protocolinfo)
    except (stem.SocketError, stem.connection.AuthenticationFailure, stem.ProtocolError,
            OSError) as e:
        raise TorError(f"Cannot talk to tor's control socket {sock}: {e}.") from e
    return controller


def bootstrap_percent(control_dir: Path) -> int | None:
    """Tor's bootstrap progress now, or None if its control socket does not answer."""
    if not (control_dir / "control.sock").exists():
        return None
    import stem

    try:
        with connect(control_dir) as controller:
            phase = controller.get_info("status/bootstrap-phase")
    except (TorError, stem.ControllerError, stem.SocketError):
        return None
    match = BOOTSTRAP_RE.search(phase)
    return int(match.group(1)) if match else None


#: how often a wait for tor's control socket asks the engine whether the container still
#: runs (the socket itself is looked for every 50 ms): asked at every look, 20 services
#: starting at once asked ~230 times while the engine was starting them
ALIVE_EVERY = 0.5


def wait_for_socket(control_dir: Path, timeout: float, alive: Callable[[], bool]) -> None:
    """Wait until tor has opened its control socket (or died, or time ran out)."""
    deadline = time.monotonic() + timeout
    sock = control_dir / "control.sock"
    asked = -ALIVE_EVERY
    while not (sock.exists() and (control_dir / "control.authcookie").exists()):
        now = time.monotonic()
        if now - asked >= ALIVE_EVERY:
            if not alive():
                raise TorError("The container stopped before tor opened its control socket.")
            asked = now
        if now > deadline:
            raise TorError(f"tor did not open its control socket within {timeout:.0f} s.")
        time.sleep(0.05)


def wait_published(
    control_dir: Path,
    address: Callable[[], str | None],
    *,
    release_network: bool,
    timeout: float,
    alive: Callable[[], bool],
    reporter: Reporter = log_reporter,
    service: str | None = None,
) -> Readiness:
    """Follow tor from bootstrap to the first ``HS_DESC UPLOADED`` of our address.

    Subscribes to events *before* releasing ``DisableNetwork`` (when the container was started
    held), so no milestone can be missed. ``address`` returns the onion address once known.
    """
    from stem.control import EventType

    start = time.monotonic()
    wait_for_socket(control_dir, timeout, alive)
    events: queue.Queue[stem.response.events.Event] = queue.Queue()
    result = Readiness()
    with connect(control_dir) as controller:
        controller.add_event_listener(events.put, EventType.STATUS_CLIENT, EventType.HS_DESC)
        if release_network:
            controller.set_conf("DisableNetwork", "0")
        phase = controller.get_info("status/bootstrap-phase", "")
        match = BOOTSTRAP_RE.search(phase)
        if match and int(match.group(1)) == 100:
            result.bootstrapped = time.monotonic() - start
        while result.uploaded is None:
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                where = "publish its descriptor" if result.bootstrapped else "bootstrap"
                raise TorError(
                    f"tor did not {where} within {timeout:.0f} s "
                    f"(last: {result.last_percent}% {result.summary}).")
            try:
                event = events.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if not alive():
                    raise TorError("The container stopped while tor was starting.") from None
                continue
            _handle(event, result, start, address, reporter, service)
    return result


def _handle(event: stem.response.events.Event, result: Readiness, start: float,
            address: Callable[[], str | None], reporter: Reporter, service: str | None) -> None:
    import stem.response.events

    now = time.monotonic() - start
    if isinstance(event, stem.response.events.StatusEvent) and event.action == "BOOTSTRAP":
        percent = int(event.arguments.get("PROGRESS", 0))
        result.last_percent = percent
        result.summary = event.arguments.get("SUMMARY", "")
        reporter(Event(Stage.BOOTSTRAPPING, f"tor bootstrapping {percent}%: {result.summary}",
                       percent=percent, service=service))
        if percent == 100 and result.bootstrapped is None:
            result.bootstrapped = now
    elif isinstance(event, stem.response.events.HSDescEvent) and event.action == "UPLOADED":
        ours = (address() or "").removesuffix(".onion")
        if (event.address in (ours, "UNKNOWN") or not ours) and result.uploaded is None:
            result.uploaded = now
            reporter(Event(Stage.PUBLISHED, "Descriptor published", percent=100,
                           service=service))
