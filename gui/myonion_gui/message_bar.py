"""A dismissable banner at the top of the window: errors (message + hint) and good news.

Non-modal on purpose: an error never blocks the window, and its detail (a log tail) is one click
away instead of a traceback. Good news about a service ("'blog' is reachable") is only true
while that service runs: the bar forgets it as soon as a listing says otherwise.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from myonion.manager import ServiceView
from myonion_gui.errors import UserError

STYLES = {
    "error": "MessageBar { background: #fbe9e7; border: 1px solid #e0a39b; border-radius: 4px; }"
             " QLabel { color: #5f1410; }",
    "info": "MessageBar { background: #e7f4ea; border: 1px solid #9fcfab; border-radius: 4px; }"
            " QLabel { color: #163d20; }",
}


class MessageBar(QFrame):
    """Shows one message at a time until dismissed or replaced."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = ""
        self.plain = ""
        #: the service the shown news is about (None: about none in particular)
        self.subject: str | None = None
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.hide)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(140)
        self.details.hide()
        self.details_button.toggled.connect(self.details.setVisible)

        top = QHBoxLayout()
        top.addWidget(self.label, 1)
        top.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.details)
        self.hide()

    def show_error(self, error: UserError) -> None:
        text = f"<b>{escape(error.message)}</b>"
        if error.hint:
            text += f"<br>{escape(error.hint)}"
        self.subject = None
        self._show("error", text, error.text(), error.detail)

    def show_info(self, text: str, service: str | None = None) -> None:
        """Good news; about ``service`` it stays only while that service runs."""
        self.subject = service or None
        self._show("info", escape(text), text, None)

    def forget_untrue(self, views: list[ServiceView]) -> None:
        """Hide news about a service that is no longer listed, or no longer running."""
        if self.kind != "info" or self.subject is None or self.isHidden():
            return
        view = next((v for v in views if v.name == self.subject), None)
        if view is None or view.state not in ("running", "restarting"):
            self.hide()

    def _show(self, kind: str, html: str, plain: str, detail: str | None) -> None:
        self.kind = kind
        self.plain = plain
        self.setStyleSheet(STYLES[kind])
        self.label.setText(html)
        self.details.setPlainText(detail or "")
        self.details_button.setVisible(bool(detail))
        self.details_button.setChecked(False)
        self.show()

    def text(self) -> str:
        """The message as plain text (for tests and accessibility)."""
        return self.plain


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
