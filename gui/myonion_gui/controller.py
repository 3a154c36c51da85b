"""Every manager call the window makes, each on a worker thread, results back as signals.

Widgets never call the manager themselves: they call this controller, which keeps the GUI thread
free and turns errors into ``UserError`` messages.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from myonion.errors import MyOnionError
from myonion.events import Event
from myonion.manager import DEFAULT_TIMEOUT, CheckResult, Manager, ServiceView
from myonion_gui.client_keys import ClientEntry, load_client, load_clients
from myonion_gui.errors import UserError
from myonion_gui.requests import ShareRequest
from myonion_gui.workers import EventRouter, Runner

LOG_TAIL = 300


class Controller(QObject):
    """Runs manager calls off the GUI thread.

    ``wait`` and ``timeout`` are passed to ``share``/``start``: the real app waits until tor has
    published (and, on the test network, until the service is reachable); tests on the fake
    runtime use ``wait=False`` because no tor runs there.
    """

    listed = Signal(object)  # list[ServiceView]
    operation_started = Signal(str, str)  # operation id, title
    progress = Signal(object)  # Event
    operation_ended = Signal(str, bool)  # operation id, failed
    settled = Signal(str)  # an operation that reported on this service is over (name)
    changed = Signal(str)  # a service changed (name)
    removed = Signal(str)
    shared = Signal(object)  # ServiceView
    checked = Signal(object)  # CheckResult
    logs_loaded = Signal(str, str)  # name, text
    failed = Signal(object)  # UserError
    info = Signal(str, str)  # text, the service it is about ("" when none)
    templates_loaded = Signal(object)  # list[TemplateSpec]
    tokens_loaded = Signal(str, object)  # name, dict[str, str] (an IoT receiver's devices)
    testnet_state = Signal(object)  # True (up) / False (down) / None (unknown)
    clients_loaded = Signal(str, object)  # name, list[ClientEntry]
    client_added = Signal(str, object)  # name, ClientEntry
    client_removed = Signal(str, str)  # name, client
    key_exported = Signal(str, str)  # name, path of the file written

    def __init__(self, manager: Manager, wait: bool = True, timeout: float = DEFAULT_TIMEOUT,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.wait = wait
        self.timeout = timeout
        self.runner = Runner(EventRouter.install(manager), self)
        self._refreshing = False
        self._refresh_again = False
        self._ids = itertools.count(1)

    # queries ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """List the services; asked again while listing, it lists once more afterwards."""
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True

        def done(views: list[ServiceView]) -> None:
            self.listed.emit(views)
            self._refreshed()

        def fail(error: UserError) -> None:
            self.failed.emit(error)
            self._refreshed()

        self.runner.submit(self.manager.list, done, fail)

    def _refreshed(self) -> None:
        self._refreshing = False
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    def load_logs(self, name: str, quiet: bool = False) -> None:
        """Read the last lines of the service's log; ``quiet``: a failure is not shown (the
        log is followed while the service runs, and may be gone a moment later)."""
        def read() -> str:
            return "\n".join(self.manager.logs(name, tail=LOG_TAIL))

        self.runner.submit(read, lambda text: self.logs_loaded.emit(name, text),
                           None if quiet else self.failed.emit)

    def load_templates(self) -> None:
        """Read the templates (their ports say which addresses a browser opens)."""
        self.runner.submit(self.manager.templates, self.templates_loaded.emit, self.failed.emit)

    def load_tokens(self, name: str, quiet: bool = False) -> None:
        """Read an IoT receiver's device tokens from the running service; ``quiet``: a failure
        is not shown (a read the window made by itself may meet the service stopping)."""
        self.runner.submit(lambda: self.manager.device_tokens(name),
                           lambda tokens: self.tokens_loaded.emit(name, tokens),
                           None if quiet else self.failed.emit)

    # operations ---------------------------------------------------------------------------
    def share(self, request: ShareRequest, prepared: str | None = None) -> None:
        """Share ``request``; ``prepared``: the service made ahead for it (see
        :mod:`myonion_gui.ahead`), whose service is only started."""
        def call() -> ServiceView:
            if prepared is not None:
                return self.manager.start(prepared, wait=self.wait, timeout=self.timeout)
            return self.manager.share(request.template, request.options, name=request.name,
                                      network=request.network, persistent=request.persistent,
                                      wait=self.wait, timeout=self.timeout,
                                      clients=list(request.clients) or None, ttl=request.ttl)

        what = request.options.get("dir") or request.template
        self._operation(f"Sharing {what}", call, self._shared)

    def _shared(self, view: ServiceView) -> None:
        self.shared.emit(view)
        where = f" at {view.address}" if view.address else ""
        self.info.emit(f"'{view.name}' is {view.stage}{where}.", view.name)

    def start(self, name: str) -> None:
        self._operation(f"Starting {name}",
                        lambda: self.manager.start(name, wait=self.wait, timeout=self.timeout),
                        lambda view: self.changed.emit(view.name))

    def stop(self, name: str) -> None:
        self._operation(f"Stopping {name}", lambda: self.manager.stop(name),
                        lambda view: self.changed.emit(view.name))

    def stop_all(self, names: list[str], then: Callable[[], None]) -> None:
        """Stop several services, then call ``then`` (even if some failed; errors are shown)."""
        def call() -> list[str]:
            problems = []
            for name in names:
                try:
                    self.manager.stop(name)
                except Exception as e:  # keep stopping the others
                    problems.append(UserError.from_exception(e).message)
            return problems

        def done(problems: list[str]) -> None:
            for problem in problems:
                self.failed.emit(UserError(problem))
            then()

        self._operation(f"Stopping {len(names)} service(s)", call, done)

    def remove(self, name: str) -> None:
        """Remove a service with everything it keeps (``purge``): its onion key, client keys
        and data, as the window's confirmation says before (it offers Export key… first)."""
        self._operation(f"Removing {name}", lambda: self.manager.remove(name, purge=True),
                        lambda _: self.removed.emit(name))

    def check(self, name: str) -> None:
        self._operation(f"Checking {name}", lambda: self.manager.check(name), self._checked)

    def _checked(self, result: CheckResult) -> None:
        self.checked.emit(result)
        if result.reachable:
            status = f", HTTP {result.status}" if result.status else ""
            self.info.emit(f"{result.address} is reachable ({result.seconds:.1f} s{status}).",
                           result.name)
        else:
            self.failed.emit(UserError(f"{result.address} could not be reached: {result.error}",
                                       hint="Tor may still be publishing; try again shortly."))

    # access: clients, the key --------------------------------------------------------------
    def load_clients(self, name: str) -> None:
        """Read the clients of ``name`` (keys and lines) off the GUI thread."""
        self.runner.submit(lambda: load_clients(self.manager, name),
                           lambda entries: self.clients_loaded.emit(name, entries),
                           self.failed.emit)

    def add_client(self, name: str, client: str) -> None:
        """Authorize a new client with a fresh key pair; its line arrives as ``client_added``."""
        def call() -> ClientEntry:
            self.manager.client_add(name, client)
            return load_client(self.manager, name, client)

        def done(entry: ClientEntry) -> None:
            self.client_added.emit(name, entry)
            self.changed.emit(name)
            self.info.emit(f"'{client}' may now connect to '{name}': hand over the key below.",
                           name)
            self.load_clients(name)

        self._operation(f"Adding client {client} to {name}", call, done)

    def remove_client(self, name: str, client: str) -> None:
        """Revoke a client; the address stays."""
        def done(_: object) -> None:
            self.client_removed.emit(name, client)
            self.changed.emit(name)
            self.info.emit(f"'{client}' can no longer connect to '{name}'.", name)
            self.load_clients(name)

        self._operation(f"Removing client {client} from {name}",
                        lambda: self.manager.client_remove(name, client), done)

    def promote(self, name: str) -> None:
        """Make a running ephemeral service persistent, keeping its address."""
        def done(view: ServiceView) -> None:
            self.changed.emit(name)
            self.info.emit(f"'{name}' is persistent now: it keeps {view.address} across "
                           "restarts.", name)

        self._operation(f"Making {name} persistent",
                        lambda: self.manager.promote(name, timeout=self.timeout), done)

    def export_key(self, name: str, passphrase: str, path: Path) -> None:
        """Write the service's onion key, encrypted with ``passphrase``, to ``path`` (0600)."""
        def call() -> str:
            data = self.manager.export_key(name, passphrase)
            write_private_file(path, data)
            return str(path)

        def done(written: str) -> None:
            self.key_exported.emit(name, written)
            self.info.emit(f"The key of '{name}' was saved to {written}, encrypted with your "
                           "passphrase. Keep both safe: they are the address.", "")

        self._operation(f"Exporting the key of {name}", call, done)

    # the private test network ------------------------------------------------------------
    def _testnet(self) -> Any:
        try:
            return self.manager.testnet
        except ImportError as e:
            raise MyOnionError("The local test network is not available in this installation.",
                               hint="Update myonion; `myonion testnet` needs myonion.testnet."
                               ) from e

    def testnet_status(self) -> None:
        def unknown(error: UserError) -> None:
            self.testnet_state.emit(None)
            self.failed.emit(error)

        self.runner.submit(lambda: bool(self._testnet().is_up()), self.testnet_state.emit,
                           unknown)

    def testnet_up(self) -> None:
        self._operation("Starting the local test network", lambda: self._testnet().up(),
                        lambda _: self.testnet_status())

    def testnet_down(self) -> None:
        self._operation("Stopping the local test network", lambda: self._testnet().down(),
                        lambda _: self.testnet_status())

    def _operation(self, title: str, call: Callable[[], Any],
                   on_done: Callable[[Any], None]) -> None:
        op = f"op{next(self._ids)}"
        services: set[str] = set()
        self.operation_started.emit(op, title)

        def progress(event: Event) -> None:
            if event.service:
                services.add(event.service)
            self.progress.emit(event)

        def over(failed: bool) -> None:
            self.operation_ended.emit(op, failed)
            for name in sorted(services):
                self.settled.emit(name)
            self.refresh()

        def finished(result: Any) -> None:
            over(False)
            on_done(result)

        def failed(error: UserError) -> None:
            over(True)
            self.failed.emit(error)

        self.runner.submit(call, finished, failed, progress)


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, readable by its owner only (0600, also if it existed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
    except OSError as e:
        raise MyOnionError(f"Could not write {path}: {e.strerror or e}.",
                           hint="Choose a folder you can write to.") from e
