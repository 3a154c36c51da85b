"""Sharing ahead: while the share dialog is open and holds a valid request, that share is
prepared in the background (``Manager.share(ahead=True)``: its container started, tor
bootstrapped and the onion published, the service itself held, so nothing answers at an
address nobody has been shown), and pressing Share only starts the service and proves it
(``Manager.start``). The user's time in the dialog hides tor's start and the descriptor's
upload.

What was prepared is used only for exactly the request the dialog produces when Share is
pressed; any change (another folder, name, template, access), Cancel or closing the dialog
removes it (with its ephemeral key, never shown to anyone). Only ephemeral shares without a
time to live are prepared: a persistent one keeps a key, and a time to live counts from the
container's start; those are made when asked for.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer

from myonion.errors import OptionError
from myonion_gui.controller import Controller
from myonion_gui.requests import ShareRequest
from myonion_gui.share_dialog import ShareDialog, name_problem

#: how often the dialog is looked at, and how long its request must stay the same before it
#: is prepared (ms)
POLL_MS = 300
STEADY_MS = 700


def quiet_request(dialog: ShareDialog) -> ShareRequest | None:
    """The request the dialog holds now if it is valid, checked without showing anything
    (:meth:`ShareDialog.validate` shows the problems)."""
    template = dialog.cards.current()
    if template is None:
        return None
    raw = dialog.form().raw_values()
    name = dialog.name_edit.text().strip() or None
    try:
        template.validate(raw)
    except OptionError:
        return None
    access = dialog.access.quiet_choice()
    if access is None or name_problem(name or "", dialog.taken_names):
        return None
    options = {k: v for k, v in raw.items() if v not in (None, "")}
    return ShareRequest(template.id, options, name, dialog.network_combo.currentData(),
                        dialog.persistent.isChecked(), clients=access.clients, ttl=access.ttl)


class ShareAhead(QObject):
    """Prepares what one share dialog holds; :meth:`share` uses it when Share is pressed."""

    def __init__(self, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.dialog: ShareDialog | None = None
        #: the request being prepared or prepared, and its service's name once made
        self.request: ShareRequest | None = None
        self.name: str | None = None
        self.ready = False
        #: the services shared from what was prepared (newest last)
        self.released: list[str] = []
        #: Share was pressed for the request still being prepared: start it when it is
        self.release_when_ready = False
        self._seen: ShareRequest | None = None
        self._steady = 0
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._look)

    def watch(self, dialog: ShareDialog) -> None:
        """Follow ``dialog`` until it closes: Cancel or closing removes what was prepared."""
        self.dialog = dialog
        dialog.rejected.connect(self.discard)
        dialog.finished.connect(lambda _: self.poll.stop())
        self.poll.start()

    def _look(self) -> None:
        if self.dialog is None or not self.dialog.isVisible():
            return
        request = quiet_request(self.dialog)
        if request != self._seen:
            self._seen, self._steady = request, 0
            return
        self._steady += POLL_MS
        if request == self.request or self._steady < STEADY_MS:
            return
        self.discard()
        if request is not None and not request.persistent and request.ttl is None:
            self._prepare(request)

    def _prepare(self, request: ShareRequest) -> None:
        self.request, self.name, self.ready = request, None, False
        manager = self.controller.manager

        def call() -> Any:
            return manager.share(request.template, request.options, name=request.name,
                                 network=request.network, clients=list(request.clients) or None,
                                 ttl=request.ttl, wait=self.controller.wait,
                                 timeout=self.controller.timeout, ahead=True)

        def done(view: Any) -> None:
            if self.request is not request:  # given up meanwhile
                self._remove(view.name)
                return
            self.name, self.ready = view.name, True
            if self.release_when_ready:
                self._release(request, view.name)

        def failed(_: Any) -> None:
            if self.request is request:
                waiting = self.release_when_ready
                self._forget()
                if waiting:  # prepared in vain: shared the ordinary way, errors and all
                    self.controller.share(request)

        self.controller.runner.submit(call, done, failed)

    def share(self, request: ShareRequest) -> None:
        """Share ``request`` (Share was pressed): with what was prepared for it, else as
        usual."""
        self.poll.stop()
        if self.request is not None and request == self.request:
            if self.ready and self.name is not None:
                self._release(request, self.name)
            else:
                self.release_when_ready = True
            return
        self.discard()
        self.controller.share(request)

    def _release(self, request: ShareRequest, name: str) -> None:
        self.controller.share(request, prepared=name)
        self.released = [*self.released[-9:], name]
        self._forget()

    def discard(self) -> None:
        """Give up what was prepared (removed once made, if it is still being made)."""
        if self.ready and self.name is not None:
            self._remove(self.name)
        self._forget()

    def _forget(self) -> None:
        self.request, self.name, self.ready, self.release_when_ready = None, None, False, False

    def _remove(self, name: str) -> None:
        manager = self.controller.manager
        self.controller.runner.submit(lambda: manager.remove(name, purge=True),
                                      lambda _: self.controller.refresh(), None)
