"""The main window: the list of services, the selected one in detail, share and settings.

It wires widgets to the controller and holds no manager logic itself. The manager is given to
it, so tests run the whole window on the fake runtime.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from gui.access_dialogs import AddClientDialog, ExportKeyDialog
from gui.close_prompt import CloseChoice, ask_about_running
from gui.controller import Controller
from gui.errors import UserError
from gui.message_bar import MessageBar
from gui.progress_panel import ProgressPanel
from gui.requests import ShareRequest
from gui.service_panel import ServicePanel
from gui.services_model import ServicesModel
from gui.services_table import ServicesTable
from gui.settings import GuiSettings
from gui.settings_dialog import SettingsDialog
from gui.share_dialog import ShareDialog
from myonion import config
from myonion.errors import MyOnionError
from myonion.manager import DEFAULT_TIMEOUT, Manager, ServiceView
from myonion.services.request import Mode

POLL_MS = 2000
#: a service listed with less time left than this, and gone in the next listing, expired
EXPIRY_SLACK = 5.0
#: a dropped folder is shared with this template, as its ``dir`` option
DROP_TEMPLATE, DROP_OPTION = "site", "dir"


class MainWindow(QMainWindow):
    """``wait``/``timeout`` go to share and start; ``poll_ms`` 0 turns automatic listing off."""

    def __init__(self, manager: Manager, settings: GuiSettings | None = None, *,
                 wait: bool = True, timeout: float = DEFAULT_TIMEOUT, poll_ms: int = POLL_MS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("myonion")
        self.settings = settings or GuiSettings()
        self.settings.apply()
        self.controller = Controller(manager, wait=wait, timeout=timeout, parent=self)
        self.model = ServicesModel(self)
        self.services = ServicesTable(self.model)
        self.panel = ServicePanel()
        self.messages = MessageBar()
        self.progress = ProgressPanel()
        self.share_dialog: ShareDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.client_dialog: AddClientDialog | None = None
        self.export_dialog: ExportKeyDialog | None = None
        self._may_close = False
        self._build_layout()
        self._connect()
        self.setAcceptDrops(True)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        if poll_ms > 0:
            self.timer.start(poll_ms)
        self.resize(980, 680)
        self.refresh()

    # layout and wiring --------------------------------------------------------------------
    def _build_layout(self) -> None:
        toolbar = self.addToolBar("Main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.share_action = QAction("Share…", self)
        self.share_action.setShortcut("Ctrl+N")
        self.settings_action = QAction("Settings…", self)
        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setShortcut("F5")
        for action in (self.share_action, self.settings_action, self.refresh_action):
            toolbar.addAction(action)
        font = toolbar.widgetForAction(self.share_action).font()
        font.setBold(True)
        toolbar.widgetForAction(self.share_action).setFont(font)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.services)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 4, 8, 8)
        layout.addWidget(self.messages)
        layout.addWidget(self.progress)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.network_label = QLabel()
        self.statusBar().addPermanentWidget(self.network_label)
        self._show_network()

    def _connect(self) -> None:
        c = self.controller
        self.share_action.triggered.connect(self.open_share_dialog)
        self.settings_action.triggered.connect(self.open_settings)
        self.refresh_action.triggered.connect(self.refresh)
        c.listed.connect(self._listed)
        c.operation_started.connect(lambda _op, title: self.progress.begin(title))
        c.operation_ended.connect(lambda _op, failed: self.progress.end(failed))
        c.progress.connect(self.progress.apply)
        c.progress.connect(self.model.apply_event)
        c.settled.connect(self.model.clear_live)
        c.failed.connect(self.show_error)
        c.info.connect(self.messages.show_info)
        c.shared.connect(self._shared)
        c.removed.connect(lambda name: self.model.set_services(
            [v for v in self.model.views() if v.name != name]))
        c.logs_loaded.connect(self.panel.set_log)
        self.model.refreshed.connect(self._update_panel)
        self.model.dataChanged.connect(lambda *_: self._update_panel())
        self.services.selected.connect(self._selected)
        self.panel.start_requested.connect(c.start)
        self.panel.stop_requested.connect(c.stop)
        self.panel.remove_requested.connect(self.remove)
        self.panel.check_requested.connect(c.check)
        self.panel.logs_requested.connect(c.load_logs)
        self.panel.promote_requested.connect(self.promote)
        self.panel.export_requested.connect(self.open_export_dialog)
        self.panel.clients_requested.connect(c.load_clients)
        self.panel.client_add_requested.connect(self.open_add_client_dialog)
        self.panel.client_remove_requested.connect(self.remove_client)
        c.clients_loaded.connect(self.panel.set_clients)
        c.client_added.connect(self.panel.client_added)

    # the list and the selected service ---------------------------------------------------
    def refresh(self) -> None:
        """Ask the manager for the services again (off the GUI thread)."""
        self.controller.refresh()

    def _listed(self, views: list[ServiceView]) -> None:
        """Show a new listing; say so when a service went away because its time ran out."""
        names = {v.name for v in views}
        now = time.time()
        for old in self.model.views():
            if (old.name not in names and old.expires_at is not None
                    and old.expires_at <= now + EXPIRY_SLACK):
                self.messages.show_info(f"'{old.name}' was removed: its time to live ran out.")
        self.model.set_services(views)

    def selected(self) -> ServiceView | None:
        return self.model.view(self.services.current) if self.services.current else None

    def _selected(self, name: str | None) -> None:
        self.panel.show_service(self.model.view(name) if name else None)
        if name:
            self.controller.load_logs(name)

    def _update_panel(self) -> None:
        self.panel.setVisible(self.model.rowCount() > 0)
        view = self.selected()
        if view != self.panel.view:
            self.panel.show_service(view)

    def _shared(self, view: ServiceView) -> None:
        self.model.set_services(sorted([v for v in self.model.views() if v.name != view.name]
                                       + [view], key=lambda v: v.name))
        self.services.select(view.name)

    def show_error(self, error: UserError) -> None:
        self.messages.show_error(error)

    # actions ------------------------------------------------------------------------------
    def open_share_dialog(self, template: str | None = None) -> ShareDialog | None:
        """Open the (window-modal, non-blocking) share dialog; sharing starts when accepted."""
        try:
            templates = self.controller.manager.templates()
        except MyOnionError as e:
            self.show_error(UserError.from_exception(e))
            return None
        dialog = ShareDialog(templates, network=self.settings.network,
                             taken_names={v.name for v in self.model.views()}, parent=self)
        if template:
            dialog.cards.choose(template)
        dialog.accepted.connect(lambda: self.share(dialog.request))
        self.share_dialog = dialog
        dialog.open()
        return dialog

    def share(self, request: ShareRequest | None) -> None:
        if request is not None:
            self.messages.hide()
            self.controller.share(request)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self.controller, parent=self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings))
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def apply_settings(self, settings: GuiSettings) -> None:
        self.settings = settings
        settings.apply()
        self._show_network()

    def _show_network(self) -> None:
        pinned = config.pinned_network()
        network = pinned or self.settings.network or "tor"
        self.network_label.setText(f"New services: {network} network"
                                   + (" (pinned)" if pinned else ""))

    def remove(self, name: str) -> None:
        view = self.model.view(name)
        if view is not None and view.mode == Mode.PERSISTENT:
            answer = QMessageBox.question(
                self, "Remove — myonion",
                f"Remove '{name}'? Its onion key is deleted: the address is gone for good.")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.controller.remove(name)

    def promote(self, name: str) -> None:
        """Make a running ephemeral service persistent, after asking (it restarts once)."""
        view = self.model.view(name)
        address = view.address if view is not None and view.address else "its address"
        answer = QMessageBox.question(
            self, "Make persistent — myonion",
            f"Keep {address} for '{name}'? Its key is kept on this machine, so the address "
            "stays the same after restarts and reboots. The service restarts once.")
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.promote(name)

    def open_export_dialog(self, name: str) -> ExportKeyDialog:
        dialog = ExportKeyDialog(name, parent=self)

        def export() -> None:
            if dialog.passphrase is not None and dialog.path is not None:
                self.controller.export_key(name, dialog.passphrase, dialog.path)

        dialog.accepted.connect(export)
        self.export_dialog = dialog
        dialog.open()
        return dialog

    # clients -------------------------------------------------------------------------------
    def open_add_client_dialog(self, name: str) -> AddClientDialog:
        """Ask for a client's name; the client is added (off the GUI thread) when accepted."""
        view = self.model.view(name)
        taken = {e.name for e in self.panel.clients.entries} if (
            self.panel.view is not None and self.panel.view.name == name) else set()
        dialog = AddClientDialog(name, private=bool(view and view.private), taken=taken,
                                 parent=self)

        def add() -> None:
            if dialog.client is not None:
                self.controller.add_client(name, dialog.client)

        dialog.accepted.connect(add)
        self.client_dialog = dialog
        dialog.open()
        return dialog

    def remove_client(self, name: str, client: str) -> None:
        """Revoke ``client`` after asking; the address stays."""
        answer = QMessageBox.question(
            self, "Remove client — myonion",
            f"'{client}' will no longer be able to connect to '{name}'; the address stays.")
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.remove_client(name, client)

    # drag and drop: a folder becomes a site ----------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_folders(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = dropped_folders(event)
        for folder in folders:
            self.share(ShareRequest(DROP_TEMPLATE, {DROP_OPTION: str(folder)},
                                    network=self.settings.network))
        if folders:
            event.acceptProposedAction()

    # closing ------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        running = self.model.running_ephemeral()
        if running and not self._may_close:
            choice = ask_about_running(self, running)
            if choice is not CloseChoice.LEAVE:
                event.ignore()
                if choice is CloseChoice.STOP:
                    self.messages.show_info("Stopping the ephemeral services before closing…")
                    self.controller.stop_all(running, then=self._close_now)
                return
        self.timer.stop()
        event.accept()

    def _close_now(self) -> None:
        self._may_close = True
        self.close()


def dropped_folders(event: QDropEvent | QDragEnterEvent) -> list[Path]:
    """The local folders being dragged (files and remote URLs are ignored)."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [path for path in paths if path.is_dir()]
