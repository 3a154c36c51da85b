"""Progress of long operations: the stage and percent from core events, and the build log."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from myonion.events import Event


class ProgressPanel(QFrame):
    """Visible while at least one operation runs; the log stays readable until the next one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.running = 0
        self.title = QLabel()
        self.stage = QLabel()
        self.stage.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.log_button = QToolButton()
        self.log_button.setText("Build log")
        self.log_button.setCheckable(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setFixedHeight(130)
        self.log.hide()
        self.log_button.toggled.connect(self.log.setVisible)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.hide)
        self.close_button.hide()

        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.bar, 1)
        top.addWidget(self.log_button)
        top.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.stage)
        layout.addWidget(self.log)
        self.hide()

    def begin(self, title: str) -> None:
        """An operation starts: show it (a new share clears the previous log)."""
        if self.running == 0:
            self.log.clear()
        self.running += 1
        self.close_button.hide()
        self.title.setText(f"<b>{title}</b>")
        self.stage.setText("Starting…")
        self.bar.setRange(0, 0)  # busy until the first percent arrives
        self.show()

    def apply(self, event: Event) -> None:
        """Show one core event: stage, percent, and its log line if it has one."""
        who = f"{event.service}: " if event.service else ""
        percent = f" {event.percent}%" if event.percent is not None else ""
        self.stage.setText(f"{who}{event.stage}{percent} — {event.message}")
        if event.percent is not None:
            self.bar.setRange(0, 100)
            self.bar.setValue(event.percent)
            self.bar.setFormat(f"{event.stage} %p%")
        self.log.appendPlainText(event.detail or f"[{event.stage}] {event.message}")

    def end(self, failed: bool = False) -> None:
        """An operation is over; after a failure the panel and its log stay until dismissed."""
        self.running = max(0, self.running - 1)
        if failed:
            self.bar.setRange(0, 100)
            self.bar.setFormat("failed")
            self.close_button.show()
        elif self.running == 0 and self.close_button.isHidden():
            self.hide()
