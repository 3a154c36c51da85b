"""The two networks in plain words: shown once at the first start, and from Help (F1).

"local network (pinned)" meant nothing to a new user: the status bar now says where new
services go, and why it cannot be changed when the machine fixes it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

NETWORKS_TEXT = (
    "<p><b>Two networks, one app.</b></p>"
    "<p><b>Public Tor network</b> — the real Tor network. An address made here works for "
    "anyone, anywhere, who has it and Tor Browser. Use it to share for real.</p>"
    "<p><b>Test network</b> — a small private Tor network that runs in containers on this "
    "computer only. Its addresses work nowhere else (not in Tor Browser): it is for trying "
    "templates out and testing, without putting anything on the real network.</p>"
    "<p>Choose the network of each new service in the share dialog, and the default in "
    "<i>Settings</i>.</p>")
NETWORK_LABELS = {"tor": "Public Tor network", "local": "Test network (this computer only)"}
STYLE = ("IntroPanel { background: #eef3fb; border: 1px solid #b7c9e6; border-radius: 4px; }"
         " QLabel { color: #1d2f4f; }")


def status_text(network: str, pinned: str | None) -> tuple[str, str]:
    """The status bar's words for where new services go, and its tooltip."""
    text = f"New services: {NETWORK_LABELS.get(network, network)}"
    if pinned:
        return text, (f"This computer fixes the network (MYONION_NETWORK={pinned}), so the "
                      "share dialog cannot choose another one.")
    return text, "Change the default in Settings; each share can choose its own."


class IntroPanel(QFrame):
    """A dismissable explanation above the list; ``dismissed`` when the user has read it."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("intro")
        self.setStyleSheet(STYLE)
        self.label = QLabel(NETWORKS_TEXT)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.ok_button = QPushButton("Got it")
        self.ok_button.clicked.connect(self._dismiss)
        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(self.ok_button)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 8)
        layout.addWidget(self.label, 1)
        layout.addLayout(column)

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
