"""One service in detail: address with Copy and QR code, Check/Start/Stop/Remove, Make
persistent / Export key, its clients (each key with Copy and QR) and its log."""

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
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.client_keys import ClientEntry
from gui.clients_box import ClientsBox
from gui.qr import qr_pixmap
from gui.services_model import access_text, state_text
from myonion.access import format_duration
from myonion.manager import ServiceView
from myonion.services.request import Mode

QR_SIZE = 132  # an address is 41 modules with its border: 3 px each


class ServicePanel(QStackedWidget):
    """Shows the selected service; emits the name with every button the user presses."""

    start_requested = Signal(str)
    stop_requested = Signal(str)
    remove_requested = Signal(str)
    check_requested = Signal(str)
    logs_requested = Signal(str)
    promote_requested = Signal(str)
    export_requested = Signal(str)
    clients_requested = Signal(str)  # the clients of this service should be (re)loaded
    client_add_requested = Signal(str)
    client_remove_requested = Signal(str, str)  # service, client

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: ServiceView | None = None
        self._qr_text: str | None = None
        #: what the loaded client list depends on; a change asks for it again
        self._clients_key: tuple[object, ...] | None = None
        self._select_client: str | None = None
        empty = QLabel("Select a service to see its address, QR code, clients and log.")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setStyleSheet("color: palette(placeholder-text);")
        self.addWidget(empty)
        # in a small window the details scroll rather than squeeze the list of services
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self._details())
        self.scroll_area = scroll
        self.addWidget(scroll)

    def _details(self) -> QWidget:
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.title = QLabel()
        font = QFont(self.title.font())  # set once: show_service runs on every refresh
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
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

        self.promote_button = QPushButton("Make persistent")
        self.promote_button.setToolTip("Keep this address across restarts and reboots (the "
                                       "service restarts once)")
        self.export_button = QPushButton("Export key…")
        self.export_button.setToolTip("Save the onion key, encrypted with a passphrase, to "
                                      "restore this address later")
        self.check_button = QPushButton("Check reachability")
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.remove_button = QPushButton("Remove")
        for button, signal in ((self.check_button, self.check_requested),
                               (self.start_button, self.start_requested),
                               (self.stop_button, self.stop_requested),
                               (self.remove_button, self.remove_requested),
                               (self.promote_button, self.promote_requested),
                               (self.export_button, self.export_requested)):
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
        address_row.addWidget(self.promote_button)
        address_row.addWidget(self.export_button)
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
        log_page = QWidget()
        log_layout = QVBoxLayout(log_page)
        log_layout.setContentsMargins(4, 4, 4, 4)
        log_layout.addWidget(self.log, 1)
        log_header = QHBoxLayout()
        log_header.addStretch(1)
        log_header.addWidget(self.log_button)
        log_layout.addLayout(log_header)

        self.clients = ClientsBox()
        self.clients.add_requested.connect(lambda: self._emit(self.client_add_requested))
        self.clients.remove_requested.connect(self._remove_client)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.clients_tab = self.tabs.addTab(self.clients, "Clients")
        self.log_tab = self.tabs.addTab(log_page, "Log")

        # the address spans the whole width, so it stays readable in a narrow window
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(self.qr, 0, 0, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(info, 0, 1)
        grid.addLayout(address_row, 1, 0, 1, 2)
        grid.addWidget(self.tabs, 2, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(2, 1)
        return page

    def show_service(self, view: ServiceView | None) -> None:
        """Show ``view`` (None: nothing selected). The log is kept while it is the same one."""
        other = view is None or self.view is None or view.name != self.view.name
        if other:
            self.log.clear()
        self.view = view
        self.clients.set_service(view)
        if view is None:
            self._clients_key = None
            self.setCurrentIndex(0)
            return
        if other:  # a private service opens on its clients, a public one on its log
            self.tabs.setCurrentIndex(self.clients_tab if view.private else self.log_tab)
        self.setCurrentIndex(1)
        self.title.setText(view.name)
        ttl = (f" · {format_duration(view.remaining)} left" if view.remaining is not None
               else "")
        self.subtitle.setText(f"{view.template} · {view.mode} · {access_text(view)} · "
                              f"{view.network} network · {state_text(view)}{ttl}")
        self.tabs.setTabText(self.clients_tab,
                             f"Clients ({view.clients})" if view.private else "Clients")
        self.reason.setText(view.reason or "")
        self.reason.setVisible(bool(view.reason) and view.state != "running")
        if self.address.text() != (view.address or ""):  # a selection in it survives polling
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
        self.promote_button.setVisible(view.mode == Mode.EPHEMERAL)
        self.promote_button.setEnabled(view.state == "running")
        self.export_button.setVisible(view.mode == Mode.PERSISTENT)
        self.export_button.setEnabled(view.state != "creating")
        self._load_clients(view)

    def _load_clients(self, view: ServiceView) -> None:
        """Ask for the client list again when what it shows may have changed."""
        key = (view.name, view.private, view.clients, view.address)
        if key == self._clients_key:
            return
        self._clients_key = key
        if view.private:
            self.clients_requested.emit(view.name)
        else:
            self.clients.set_clients([])

    def set_clients(self, name: str, entries: list[ClientEntry]) -> None:
        """The clients of ``name`` were loaded (ignored if another service is shown now)."""
        if self.view is not None and self.view.name == name:
            self.clients.set_clients(entries, select=self._select_client)
            self._select_client = None

    def client_added(self, name: str, entry: ClientEntry) -> None:
        """Show the new client (its line and QR code) once the list is loaded again."""
        if self.view is not None and self.view.name == name:
            self._select_client = entry.name
            self.tabs.setCurrentIndex(self.clients_tab)

    def _remove_client(self, client: str) -> None:
        if self.view is not None:
            self.client_remove_requested.emit(self.view.name, client)

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
