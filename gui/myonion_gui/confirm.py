"""Confirmations before something is lost for good: they name what goes (the address, the
client keys, the stored data), Cancel is the default, and "Export key…" is right there while
the key can still be read.

``losses`` decides what an action costs; an action that costs nothing is not asked about.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from myonion.manager import ServiceView
from myonion.services.request import Mode
from myonion.templates import TemplateSpec
from myonion_gui.message_bar import escape

#: the data a template keeps in each volume, in words
VOLUME_WORDS = {
    "data": "every reading it has stored",
    "queue": "the messages still waiting to be forwarded",
    "hostkeys": "its SSH host keys (clients will warn about a changed host)",
    "home": "the files in its home folder",
}


def losses(action: str, view: ServiceView, template: TemplateSpec | None,
           client_names: list[str] | None = None) -> list[str]:
    """What ``action`` ("remove" or "stop") loses for good, one phrase each (may be empty)."""
    lost = []
    address = view.address
    if address and (action == "remove" or view.mode == Mode.EPHEMERAL):
        again = ("the next start gets a new one" if action == "stop"
                 else "it can only come back from an exported key")
        lost.append(f"its address <tt>{escape(address)}</tt> — {again}")
    elif action == "remove" and view.mode == Mode.PERSISTENT:
        lost.append("its onion key, and with it its address for good")
    if action == "remove":
        if view.private and view.clients:
            names = f" ({', '.join(client_names)})" if client_names else ""
            lost.append(f"its {view.clients} client key(s){escape(names)}: they stop working")
        for volume in template.volumes if template is not None else ():
            lost.append(VOLUME_WORDS.get(volume.name, f"its stored data ({volume.name})"))
    return lost


def can_export(view: ServiceView) -> bool:
    """Is the onion key readable now (a running service, or a persistent one's volume)?"""
    return view.mode == Mode.PERSISTENT or (view.state == "running" and bool(view.address))


class LossDialog(QDialog):
    """Asks before an action that loses ``what``; ``accepted`` means go ahead."""

    export_requested = Signal()

    def __init__(self, title: str, question: str, what: list[str], confirm_text: str,
                 export: bool, parent: QWidget | None = None,
                 heading: str = "Lost for good:") -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{title} — myonion")
        icon = QLabel()
        style = self.style()
        size = style.pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
                       .pixmap(size, size))
        items = "".join(f"<li>{item}</li>" for item in what)
        self.text = QLabel(f"<p><b>{escape(question)}</b></p>"
                           + (f"<p>{heading}</p><ul>{items}</ul>" if what else ""))
        self.text.setObjectName("losses")
        self.text.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.confirm_button = self.buttons.addButton(confirm_text,
                                                     QDialogButtonBox.ButtonRole.DestructiveRole)
        self.export_button: QPushButton | None = None
        if export:
            self.export_button = self.buttons.addButton(
                "Export key…", QDialogButtonBox.ButtonRole.ActionRole)
            self.export_button.setToolTip("Save the onion key first, encrypted with a "
                                          "passphrase: with it the address can come back")
            self.export_button.clicked.connect(self.export_requested)
        self.confirm_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        # Cancel is what Enter does; the risky button must be chosen on purpose
        for button in self.buttons.buttons():
            if isinstance(button, QPushButton):
                button.setAutoDefault(False)
        self.cancel_button.setDefault(True)
        top = QHBoxLayout()
        top.addWidget(icon, 0)
        top.addWidget(self.text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.cancel_button.setFocus()

    def lost_text(self) -> str:
        """The dialog's words as plain text (for tests and screen readers)."""
        return self.text.text()


def remove_dialog(view: ServiceView, template: TemplateSpec | None,
                  client_names: list[str] | None, parent: QWidget) -> LossDialog | None:
    """The question before removing ``view`` (None: nothing would be lost)."""
    what = losses("remove", view, template, client_names)
    if not what:
        return None
    return LossDialog("Remove", f"Remove '{view.name}'?", what, "Remove",
                      export=can_export(view), parent=parent)


def stop_dialog(view: ServiceView, parent: QWidget) -> LossDialog | None:
    """The question before stopping an ephemeral service (its address is gone for good)."""
    what = losses("stop", view, None)
    if not what:
        return None
    return LossDialog("Stop", f"Stop '{view.name}'? It is ephemeral.", what, "Stop",
                      export=can_export(view), parent=parent)


def testnet_dialog(on_it: list[ServiceView], parent: QWidget) -> LossDialog:
    """The question before stopping the test network. While services use it, it cannot stop
    (the core refuses): the dialog says which, and offers only Cancel."""
    if on_it:
        names = ", ".join(v.name for v in on_it)
        dialog = LossDialog("Stop test network",
                            f"The test network is used by {len(on_it)} service(s): {names}.",
                            ["remove those services first (their addresses exist only on "
                             "the test network), then stop it"],
                            "Stop test network", export=False, parent=parent,
                            heading="To stop it:")
        dialog.confirm_button.hide()
        return dialog
    return LossDialog("Stop test network", "Stop the test network?",
                      ["its relays and their keys: it is made anew (a minute) when started "
                       "again, and addresses tried on it are not reachable any more"],
                      "Stop test network", export=False, parent=parent)
