"""One service in detail: its state, one primary Start/Stop whose look says the state, the
address as the link to give out (Copy, QR code, how to open it), Check/Remove, Make persistent /
Export key, its clients, an IoT receiver's device tokens, and its log (which follows the service).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QTextCursor
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

from myonion.access import format_duration
from myonion.events import Stage
from myonion.manager import ServiceView
from myonion.services.request import Mode
from myonion.templates import TemplateSpec
from myonion_gui.actions import tip
from myonion_gui.client_keys import ClientEntry
from myonion_gui.clients_box import ClientsBox
from myonion_gui.devices_box import DevicesBox
from myonion_gui.guidance import how_to_open, link, network_words
from myonion_gui.qr import qr_pixmap
from myonion_gui.services_model import access_text
from myonion_gui.state_look import StateLook, Tone, look

QR_SIZE = 132  # an address is 41 modules with its border: 3 px each
PILL_STYLE = ("QLabel {{ color: {fg}; background: {bg}; border: 1px solid {fg}; "
              "border-radius: 9px; padding: 2px 10px; font-weight: bold; }}")
POWER_STYLE = ("QPushButton {{ background: {bg}; color: white; font-weight: bold; "
               "padding: 6px 20px; border: 2px solid {bg}; border-radius: 5px; }}"
               " QPushButton:focus {{ border-color: palette(highlight); }}"
               " QPushButton:disabled {{ background: #b5b5b5; border-color: #b5b5b5; }}")
START_COLOUR, STOP_COLOUR = "#1b7f3b", "#a33a2c"
DEVICE_TEMPLATE = "iot-receiver"


class DetailsPage(QWidget):
    """The details in their scroll area: as tall as their *minimum* for the width (the
    wrapped guidance line made the scroll area use the preferred height, so the log's newest
    lines sat below the fold even with room to spare)."""

    def heightForWidth(self, width: int) -> int:
        layout = self.layout()
        return layout.totalMinimumHeightForWidth(width) if layout is not None else -1


def power_words(view: ServiceView) -> tuple[str, bool, str]:
    """The primary button: its text, whether it stops (else starts), its colour."""
    if view.state in ("running", "restarting"):
        return "■  Stop", True, STOP_COLOUR
    if view.state == "creating":
        return "Starting…", False, START_COLOUR
    return "▶  Start", False, START_COLOUR


class ServicePanel(QStackedWidget):
    """Shows the selected service; emits the name with every button the user presses."""

    start_requested = Signal(str)
    stop_requested = Signal(str)
    remove_requested = Signal(str)
    check_requested = Signal(str)
    promote_requested = Signal(str)
    export_requested = Signal(str)
    clients_requested = Signal(str)  # the clients of this service should be (re)loaded
    client_add_requested = Signal(str)
    client_remove_requested = Signal(str, str)  # service, client
    #: an IoT receiver's device tokens should be (re)loaded: name, quietly (a read made by
    #: itself, which may race the service's stop) or not (the user asked)
    tokens_requested = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: ServiceView | None = None
        self.templates: dict[str, TemplateSpec] = {}
        self._qr_text: str | None = None
        #: what the loaded client list / token list depends on; a change asks for it again
        self._clients_key: tuple[object, ...] | None = None
        self._tokens_key: tuple[object, ...] | None = None
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
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no invisible Tab stop
        scroll.setWidget(self._details())
        self.scroll_area = scroll
        self.addWidget(scroll)

    # building -----------------------------------------------------------------------------
    def _details(self) -> QWidget:
        self._make_header()
        self._make_address()
        self._make_buttons()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setPlaceholderText("The service's log appears here and follows it.")
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.clients = ClientsBox()
        self.clients.add_requested.connect(lambda: self._emit(self.client_add_requested))
        self.clients.remove_requested.connect(self._remove_client)
        self.devices = DevicesBox()
        self.devices.reload_requested.connect(self._reload_tokens)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.clients_tab = self.tabs.addTab(self.clients, "Clients")
        self.devices_tab = self.tabs.addTab(self.devices, "Devices")
        self.log_tab = self.tabs.addTab(self.log, "Log")

        heading = QHBoxLayout()
        heading.addWidget(self.title)
        heading.addWidget(self.pill, 0, Qt.AlignmentFlag.AlignVCenter)
        heading.addStretch(1)
        info = QVBoxLayout()
        info.addLayout(heading)
        info.addWidget(self.subtitle)
        info.addWidget(self.reason)
        info.addStretch(1)
        info.addLayout(self.button_row)
        page = DetailsPage()
        grid = QGridLayout(page)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(self.qr, 0, 0, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(info, 0, 1)
        grid.addLayout(self.address_row, 1, 0, 1, 2)
        grid.addWidget(self.guidance, 2, 0, 1, 2)
        grid.addWidget(self.tabs, 3, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(3, 1)
        return page

    def _make_header(self) -> None:
        self.title = QLabel()
        font = QFont(self.title.font())  # set once: show_service runs on every refresh
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.pill = QLabel()
        self.pill.setObjectName("state")
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet("color: palette(placeholder-text);")
        self.reason = QLabel()
        self.reason.setObjectName("reason")
        self.reason.setWordWrap(True)

    def _make_address(self) -> None:
        self.address = QLineEdit()
        self.address.setReadOnly(True)
        self.address.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.address.setObjectName("address")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip(tip("Copy the address", "copy"))
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
        self.guidance = QLabel()
        self.guidance.setObjectName("guidance")
        self.guidance.setWordWrap(True)
        self.guidance.setOpenExternalLinks(True)
        self.promote_button = QPushButton("Make persistent")
        self.promote_button.setToolTip("Keep this address across restarts and reboots (the "
                                       "service restarts once)")
        self.export_button = QPushButton("Export key…")
        self.export_button.setToolTip("Save the onion key, encrypted with a passphrase, to "
                                      "restore this address later")
        self.address_row = QHBoxLayout()
        self.address_row.addWidget(QLabel("Address"))
        self.address_row.addWidget(self.address, 1)
        for button in (self.copy_button, self.promote_button, self.export_button):
            self.address_row.addWidget(button)

    def _make_buttons(self) -> None:
        self.power_button = QPushButton("▶  Start")
        self.power_button.setObjectName("power")
        self.power_button.clicked.connect(self._power)
        self.check_button = QPushButton("Check reachability")
        self.check_button.setToolTip(tip("Fetch it through a separate tor client", "check"))
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip(tip("Remove this service", "remove"))
        for button, signal in ((self.check_button, self.check_requested),
                               (self.remove_button, self.remove_requested),
                               (self.promote_button, self.promote_requested),
                               (self.export_button, self.export_requested)):
            button.clicked.connect(lambda _=False, s=signal: self._emit(s))
        self.button_row = QHBoxLayout()
        for button in (self.power_button, self.check_button, self.remove_button):
            self.button_row.addWidget(button)
        self.button_row.addStretch(1)

    # showing ------------------------------------------------------------------------------
    def set_templates(self, templates: list[TemplateSpec]) -> None:
        """The templates, to word each service's address (a web link or a bare address)."""
        self.templates = {t.id: t for t in templates}
        if self.view is not None:
            self._show_address(self.view)

    def show_service(self, view: ServiceView | None) -> None:
        """Show ``view`` (None: nothing selected). The log is kept while it is the same one."""
        other = view is None or self.view is None or view.name != self.view.name
        if other:
            self.log.clear()
            self.devices.set_tokens(None)
            self._tokens_key = None
        self.view = view
        self.clients.set_service(view)
        if view is None:
            self._clients_key = None
            self.setCurrentIndex(0)
            return
        self.tabs.setTabVisible(self.devices_tab, view.template == DEVICE_TEMPLATE)
        if other:  # a private service opens on its clients, a receiver on its devices
            self.tabs.setCurrentIndex(self.clients_tab if view.private else self.devices_tab
                                      if view.template == DEVICE_TEMPLATE else self.log_tab)
        self.setCurrentIndex(1)
        self.title.setText(view.name)
        state = look(view)
        self._show_state(view, state)
        self.tabs.setTabText(self.clients_tab,
                             f"Clients ({view.clients})" if view.private else "Clients")
        self._show_address(view)
        self._show_buttons(view)
        self._load_clients(view)
        self._load_tokens(view)

    def _show_state(self, view: ServiceView, state: StateLook) -> None:
        self.pill.setText(f"● {state.text}")
        self.pill.setStyleSheet(PILL_STYLE.format(fg=state.tone.colour, bg=state.tone.background))
        ttl = (f" · {format_duration(view.remaining)} left" if view.remaining is not None
               else "")
        self.subtitle.setText(f"{view.template} · {view.mode} · {access_text(view)} · "
                              f"{network_words(view.network)}{ttl}")
        self.reason.setText(state.reason or "")
        self.reason.setStyleSheet(f"color: {state.tone.colour};")
        self.reason.setVisible(bool(state.reason) and state.tone is not Tone.OK)

    def _show_address(self, view: ServiceView) -> None:
        template = self.templates.get(view.template)
        text = link(view, template)
        if self.address.text() != text:  # a selection in it survives polling
            self.address.setText(text)
            self.address.setCursorPosition(0)
        self.address.setPlaceholderText(f"No address while it is {view.state}")
        self.copy_button.setEnabled(bool(text))
        self.guidance.setText(how_to_open(view, template))
        self.guidance.setVisible(bool(view.address))
        self.devices.set_address(text)
        self._set_qr(text or None)

    def _show_buttons(self, view: ServiceView) -> None:
        text, stops, colour = power_words(view)
        self.power_button.setText(text)
        self.power_button.setStyleSheet(POWER_STYLE.format(bg=colour))
        self.power_button.setToolTip(tip(f"{'Stop' if stops else 'Start'} '{view.name}'", "power"))
        self.power_button.setEnabled(view.state != "creating")
        running = view.state in ("running", "restarting")
        self.check_button.setEnabled(running and bool(view.address))
        self.remove_button.setEnabled(view.state != "creating")
        self.promote_button.setVisible(view.mode == Mode.EPHEMERAL)
        self.promote_button.setEnabled(view.state == "running")
        self.export_button.setVisible(view.mode == Mode.PERSISTENT)
        self.export_button.setEnabled(view.state != "creating")

    def _power(self) -> None:
        if self.view is not None:
            _, stops, _ = power_words(self.view)
            self._emit(self.stop_requested if stops else self.start_requested)

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

    def _load_tokens(self, view: ServiceView) -> None:
        """A receiver's tokens are read once per start, once it is proven reachable: before,
        the receiver may still be making them (the soak read them at "published" and the
        receiver's first start and the reading raced; "Reload tokens" reads them any time)."""
        if view.template != DEVICE_TEMPLATE:
            return
        up = view.state == "running" and view.stage == Stage.REACHABLE
        key = (view.name, up, view.container)
        if key == self._tokens_key:
            return
        self._tokens_key = key
        if up:
            self.tokens_requested.emit(view.name, True)
        else:
            self.devices.set_tokens(None)

    def _reload_tokens(self) -> None:
        if self.view is not None:
            self.tokens_requested.emit(self.view.name, False)

    def set_tokens(self, name: str, tokens: dict[str, str]) -> None:
        """The device tokens of ``name`` were read (ignored if another service is shown)."""
        if self.view is not None and self.view.name == name:
            self.devices.set_tokens(tokens)

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

    def _set_qr(self, text: str | None) -> None:
        if text == self._qr_text:
            return
        self._qr_text = text
        if text:
            self.qr.setPixmap(qr_pixmap(text, QR_SIZE - 2))
        else:
            self.qr.clear()
            self.qr.setText("no address")

    def copy_address(self) -> None:
        """Put the address (as shown: the link of a web service) on the clipboard."""
        if not self.address.text():
            return
        QGuiApplication.clipboard().setText(self.address.text())
        self.copy_button.setText("Copied")
        self._copy_reset.start()

    def set_log(self, name: str, text: str) -> None:
        """The log of ``name`` was read: show it, keeping the reader's place unless at the end."""
        if self.view is None or self.view.name != name or self.log.toPlainText() == text:
            return
        bar = self.log.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        position = bar.value()
        self.log.setPlainText(text)
        if at_end:  # follow the newest line (the range is only known once laid out)
            self.log.moveCursor(QTextCursor.MoveOperation.End)
            self.log.ensureCursorVisible()
        else:
            bar.setValue(position)

    def _emit(self, signal: SignalInstance) -> None:
        if self.view is not None:
            signal.emit(self.view.name)
