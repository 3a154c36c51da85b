"""One service in detail: address with Copy and QR code, Check/Start/Stop/Remove, and its log."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.qr import qr_pixmap
from gui.services_model import state_text
from myonion.manager import ServiceView

QR_SIZE = 164


class ServicePanel(QStackedWidget):
    """Shows the selected service; emits the name with every button the user presses."""

    start_requested = Signal(str)
    stop_requested = Signal(str)
    remove_requested = Signal(str)
    check_requested = Signal(str)
    logs_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: ServiceView | None = None
        self._qr_text: str | None = None
        empty = QLabel("Select a service to see its address, QR code and log.")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setStyleSheet("color: palette(placeholder-text);")
        self.addWidget(empty)
        self.addWidget(self._details())

    def _details(self) -> QWidget:
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.title = QLabel()
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet("color: palette(placeholder-text);")
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #b3261e;")
        self.address = QLineEdit()
        self.address.setReadOnly(True)
        self.address.setFont(mono)
        self.address.setObjectName("address")
        self.copy_button = QPushButton("Copy")
        # a child timer dies with the panel, so it never fires on a destroyed button
        self._copy_reset = QTimer(self)
        self._copy_reset.setSingleShot(True)
        self._copy_reset.setInterval(1500)
        self._copy_reset.timeout.connect(lambda: self.copy_button.setText("Copy"))
        self.copy_button.clicked.connect(self.copy_address)
        self.qr = QLabel()
        self.qr.setFixedSize(QR_SIZE, QR_SIZE)
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr.setStyleSheet("background: white; border: 1px solid palette(mid);")

        self.check_button = QPushButton("Check reachability")
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.remove_button = QPushButton("Remove")
        for button, signal in ((self.check_button, self.check_requested),
                               (self.start_button, self.start_requested),
                               (self.stop_button, self.stop_requested),
                               (self.remove_button, self.remove_requested)):
            button.clicked.connect(lambda _=False, s=signal: self._emit(s))

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(mono)
        self.log.setPlaceholderText("The service's log appears here.")
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_button = QPushButton("Refresh log")
        self.log_button.clicked.connect(lambda: self._emit(self.logs_requested))

        address_row = QHBoxLayout()
        address_row.addWidget(self.address, 1)
        address_row.addWidget(self.copy_button)
        buttons = QHBoxLayout()
        for button in (self.check_button, self.start_button, self.stop_button,
                       self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        info = QVBoxLayout()
        info.addWidget(self.title)
        info.addWidget(self.subtitle)
        info.addWidget(self.reason)
        info.addStretch(1)
        info.addLayout(buttons)
        log_header = QHBoxLayout()
        log_header.addWidget(QLabel("<b>Log</b>"))
        log_header.addStretch(1)
        log_header.addWidget(self.log_button)

        # the address spans the whole width, so it stays readable in a narrow window
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(self.qr, 0, 0, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(info, 0, 1)
        grid.addLayout(address_row, 1, 0, 1, 2)
        grid.addLayout(log_header, 2, 0, 1, 2)
        grid.addWidget(self.log, 3, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(3, 1)
        return page

    def show_service(self, view: ServiceView | None) -> None:
        """Show ``view`` (None: nothing selected). The log is kept while it is the same one."""
        if view is None or self.view is None or view.name != self.view.name:
            self.log.clear()
        self.view = view
        if view is None:
            self.setCurrentIndex(0)
            return
        self.setCurrentIndex(1)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setText(view.name)
        self.subtitle.setText(f"{view.template} · {view.mode} · {view.network} network · "
                              f"{state_text(view)}")
        self.reason.setText(view.reason or "")
        self.reason.setVisible(bool(view.reason) and view.state != "running")
        self.address.setText(view.address or "")
        self.address.setCursorPosition(0)
        self.address.setPlaceholderText(f"No address while it is {view.state}")
        self.copy_button.setEnabled(bool(view.address))
        self._set_qr(view.address)
        running = view.state in ("running", "restarting")
        self.check_button.setEnabled(running and bool(view.address))
        self.start_button.setEnabled(view.state in ("stopped", "failed", "created"))
        self.stop_button.setEnabled(running)
        self.remove_button.setEnabled(view.state != "creating")

    def _set_qr(self, address: str | None) -> None:
        if address == self._qr_text:
            return
        self._qr_text = address
        if address:
            self.qr.setPixmap(qr_pixmap(address, QR_SIZE - 2))
        else:
            self.qr.clear()
            self.qr.setText("no address")

    def copy_address(self) -> None:
        if self.view is None or not self.view.address:
            return
        QGuiApplication.clipboard().setText(self.view.address)
        self.copy_button.setText("Copied")
        self._copy_reset.start()

    def set_log(self, name: str, text: str) -> None:
        if self.view is not None and self.view.name == name:
            self.log.setPlainText(text)
            self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())

    def _emit(self, signal: SignalInstance) -> None:
        if self.view is not None:
            signal.emit(self.view.name)
