"""An IoT receiver's devices: each device's token with Copy, and how a device sends a reading.

The tokens (the generated ones too) are read from the running receiver by the controller
(``Manager.device_tokens``); this widget only shows them. A token is a device's password: it is
shown here because the user needs it to set the device up, never in the list or the log.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

INTRO = ("Each device sends its readings with its own token (a password: give each device only "
         "its own). A reading is JSON, e.g.:")
NOT_UP = "The tokens show here once the service is up (start it if it is stopped)."
EXAMPLE = ("curl --socks5-hostname SOCKS -H 'Authorization: Bearer TOKEN' "
           "-H 'Content-Type: application/json' -d '{{\"t\": 21.5}}' {url}api/v1/readings/DEVICE")


class DevicesBox(QWidget):
    """The device ids and tokens of one receiver; ``reload_requested`` asks for them again."""

    reload_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tokens: dict[str, str] = {}
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.example = QLabel()
        self.example.setWordWrap(True)
        self.example.setFont(self._mono)
        self.example.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel(NOT_UP)
        self.status.setStyleSheet("color: palette(placeholder-text);")
        self.rows = QGridLayout()
        self.reload_button = QPushButton("Reload tokens")
        self.reload_button.clicked.connect(self.reload_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(intro)
        layout.addWidget(self.example)
        layout.addWidget(self.status)
        layout.addLayout(self.rows)
        layout.addStretch(1)
        layout.addWidget(self.reload_button, 0, Qt.AlignmentFlag.AlignRight)
        self.set_address("")

    def set_address(self, url: str) -> None:
        """The service's link, used in the example request."""
        self.example.setText(EXAMPLE.format(url=url or "http://ADDRESS.onion/"))

    def set_tokens(self, tokens: dict[str, str] | None) -> None:
        """Show these devices (None: not readable now, e.g. the service is stopped)."""
        if tokens == self.tokens and tokens is not None:
            return
        self.tokens = dict(tokens or {})
        while self.rows.count():
            item = self.rows.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        if tokens is None:
            self.status.setText(NOT_UP)
        elif not tokens:
            self.status.setText("This receiver has no devices.")
        else:
            self.status.setText(f"{len(tokens)} device(s):")
        for row, (device, token) in enumerate(sorted(self.tokens.items())):
            name = QLabel(f"<b>{device}</b>")
            field = QLineEdit(token)
            field.setReadOnly(True)
            field.setFont(self._mono)
            field.setObjectName(f"token-{device}")
            copy = QPushButton("Copy")
            copy.setToolTip(f"Copy the token of {device}")
            copy.clicked.connect(lambda _=False, t=token, b=copy: self._copy(t, b))
            self.rows.addWidget(name, row, 0)
            self.rows.addWidget(field, row, 1)
            self.rows.addWidget(copy, row, 2)

    @staticmethod
    def _copy(token: str, button: QPushButton) -> None:
        QGuiApplication.clipboard().setText(token)
        button.setText("Copied")
