"""The main window: the list of services, the selected one in detail, share and settings.

It wires widgets to the controller and holds no manager logic itself. The manager is given to
it, so tests run the whole window on the fake runtime. What it shows comes from the core's
listings: news that a listing contradicts goes, the log follows the selected service, and
a service that became reachable, failed or ran out of time is said on the desktop too.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QShowEvent
from PySide6.QtWidgets import (
    QLabel,
    QMessageBox,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from myonion import config
from myonion.errors import MyOnionError
from myonion.manager import DEFAULT_TIMEOUT, Manager, ServiceView
from myonion.templates import TemplateSpec
from myonion_gui import actions
from myonion_gui.access_dialogs import AddClientDialog, ExportKeyDialog
from myonion_gui.ahead import ShareAhead
from myonion_gui.close_prompt import CloseChoice, ask_about_running
from myonion_gui.confirm import LossDialog
from myonion_gui.controller import Controller
from myonion_gui.errors import UserError
from myonion_gui.intro import NETWORKS_TEXT, IntroPanel, status_text
from myonion_gui.message_bar import MessageBar
from myonion_gui.notices import Notice, Notifier, reachable_notice, transitions
from myonion_gui.progress_panel import ProgressPanel
from myonion_gui.requests import ShareRequest
from myonion_gui.service_panel import ServicePanel
from myonion_gui.services_model import ServicesModel
from myonion_gui.services_table import ServicesTable
from myonion_gui.settings import GuiSettings
from myonion_gui.settings_dialog import SettingsDialog
from myonion_gui.share_dialog import ShareDialog
from myonion_gui.stop_remove import StopAndRemove

POLL_MS = 2000
#: a dropped folder is shared with this template, as its ``dir`` option
DROP_TEMPLATE, DROP_OPTION = "site", "dir"
#: the list's share of the height at the first show (it shows 6+ rows at the default size)
LIST_SHARE = 0.42


class MainWindow(StopAndRemove):
    """``wait``/``timeout`` go to share and start; ``poll_ms`` 0 turns automatic listing off."""

    def __init__(self, manager: Manager, settings: GuiSettings | None = None, *,
                 wait: bool = True, timeout: float = DEFAULT_TIMEOUT, poll_ms: int = POLL_MS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("myonion")
        self.settings = settings or GuiSettings()
        self.settings.apply()
        self.controller = Controller(manager, wait=wait, timeout=timeout, parent=self)
        # the share dialog's request is prepared while the user is still in it
        self.ahead = ShareAhead(self.controller, self)
        self.model = ServicesModel(self)
        self.services = ServicesTable(self.model)
        self.panel = ServicePanel()
        self.messages = MessageBar()
        self.progress = ProgressPanel()
        self.intro = IntroPanel()
        self.intro.setVisible(not self.settings.intro_seen)
        self.notifier = Notifier(self._icon(), self)
        self.templates: dict[str, TemplateSpec] = {}
        self.share_dialog: ShareDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.client_dialog: AddClientDialog | None = None
        self.export_dialog: ExportKeyDialog | None = None
        self.confirm_dialog: LossDialog | None = None
        self.info_box: QMessageBox | None = None
        self._may_close = False
        self._listed_once = False
        self._log_key: tuple[object, ...] | None = None
        self._sized = False
        self.commands = actions.build(self)
        self._build_layout()
        self._connect()
        self.setAcceptDrops(True)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        if poll_ms > 0:
            self.timer.start(poll_ms)
        self.resize(980, 720)
        self.controller.load_templates()
        self.refresh()

    def _icon(self) -> QIcon:
        return self.style().standardIcon(QStyle.StandardPixmap.SP_DriveNetIcon)

    # layout and wiring --------------------------------------------------------------------
    def _build_layout(self) -> None:
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.services)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 4, 8, 8)
        layout.addWidget(self.intro)
        layout.addWidget(self.messages)
        layout.addWidget(self.progress)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.network_label = QLabel()
        self.statusBar().addPermanentWidget(self.network_label)
        self._show_network()
        # Delete removes the selected service while the list has the focus
        self.services.table.addAction(self.commands.remove)

    def _connect(self) -> None:
        c, a = self.controller, self.commands
        a.share.triggered.connect(lambda: self.open_share_dialog())
        a.settings.triggered.connect(self.open_settings)
        a.refresh.triggered.connect(self.refresh)
        a.power.triggered.connect(self.panel.power_button.click)
        a.check.triggered.connect(self.panel.check_button.click)
        a.copy.triggered.connect(self.panel.copy_address)
        a.remove.triggered.connect(self._remove_selected)
        a.networks.triggered.connect(self.show_networks)
        a.shortcuts.triggered.connect(self.show_shortcuts)
        a.quit.triggered.connect(self.close)
        self.intro.dismissed.connect(self._intro_read)
        c.listed.connect(self._listed)
        c.operation_started.connect(lambda _op, title: self.progress.begin(title))
        c.operation_ended.connect(lambda _op, failed: self.progress.end(failed))
        c.progress.connect(self.progress.apply)
        c.progress.connect(self.model.apply_event)
        c.settled.connect(self.model.clear_live)
        c.failed.connect(self.show_error)
        c.info.connect(self.messages.show_info)
        c.shared.connect(self._shared)
        c.removed.connect(lambda name: self._listed(
            [v for v in self.model.views() if v.name != name]))
        c.logs_loaded.connect(self.panel.set_log)
        c.templates_loaded.connect(self._templates_loaded)
        c.tokens_loaded.connect(self.panel.set_tokens)
        c.clients_loaded.connect(self.panel.set_clients)
        c.client_added.connect(self.panel.client_added)
        self.model.refreshed.connect(self._update_panel)
        self.model.dataChanged.connect(lambda *_: self._update_panel())
        self.services.selected.connect(self._selected)
        p = self.panel
        p.start_requested.connect(c.start)
        p.stop_requested.connect(self.stop)
        p.remove_requested.connect(self.remove)
        p.check_requested.connect(c.check)
        p.promote_requested.connect(self.promote)
        p.export_requested.connect(self.open_export_dialog)
        p.clients_requested.connect(c.load_clients)
        p.client_add_requested.connect(self.open_add_client_dialog)
        p.client_remove_requested.connect(self.remove_client)
        p.tokens_requested.connect(c.load_tokens)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # the list gets its share once, at first show
            self._sized = True
            total = sum(self.splitter.sizes()) or self.splitter.height()
            self.splitter.setSizes([int(total * LIST_SHARE), int(total * (1 - LIST_SHARE))])

    # the list and the selected service ---------------------------------------------------
    def refresh(self) -> None:
        """Ask the manager for the services again (off the GUI thread)."""
        self.controller.refresh()

    def _listed(self, views: list[ServiceView]) -> None:
        """Show a new listing; tell what happened since the last one (not at the first)."""
        if self._listed_once:
            for notice in transitions(self.model.views(), views, time.time()):
                self._tell(notice)
        self._listed_once = True
        self.messages.forget_untrue(views)
        self.model.set_services(views)
        self._follow_log()

    def _tell(self, notice: Notice) -> None:
        if notice.kind == "expired":
            self.messages.show_info(notice.text)
        self.notifier.notify(notice)

    def _follow_log(self) -> None:
        """Read the selected service's log again while it runs, and when its run changes."""
        view = self.selected()
        if view is None or view.container is None:
            return
        key = (view.name, view.state, view.container, view.stage)
        if key != self._log_key or view.state == "running":
            self._log_key = key
            self.controller.load_logs(view.name, quiet=True)

    def selected(self) -> ServiceView | None:
        return self.model.view(self.services.current) if self.services.current else None

    def _selected(self, name: str | None) -> None:
        self.panel.show_service(self.model.view(name) if name else None)
        self._log_key = None
        self._follow_log()

    def _update_panel(self) -> None:
        self.panel.setVisible(self.model.rowCount() > 0)
        view = self.selected()
        if view != self.panel.view:
            self.panel.show_service(view)
        for action in (self.commands.power, self.commands.check, self.commands.copy,
                       self.commands.remove):
            action.setEnabled(view is not None)

    def _templates_loaded(self, templates: list[TemplateSpec]) -> None:
        self.templates = {t.id: t for t in templates}
        self.panel.set_templates(templates)

    def _shared(self, view: ServiceView) -> None:
        self.model.set_services(sorted([v for v in self.model.views() if v.name != view.name]
                                       + [view], key=lambda v: v.name))
        self.services.select(view.name)
        if view.stage == "reachable":
            self.notifier.notify(reachable_notice(view))

    def show_error(self, error: UserError) -> None:
        self.messages.show_error(error)

    # actions ------------------------------------------------------------------------------
    def open_share_dialog(self, template: str | None = None,
                          options: dict[str, str] | None = None) -> ShareDialog | None:
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
        for name, value in (options or {}).items():
            dialog.form().set_value(name, value)
        dialog.accepted.connect(lambda: self.share(dialog.request))
        self.ahead.watch(dialog)
        self._open("share_dialog", dialog)
        return dialog

    def share(self, request: ShareRequest | None) -> None:
        if request is not None:
            self.messages.hide()
            self.ahead.share(request)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self.controller, services=self.model.views(),
                                parent=self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings))
        self._open("settings_dialog", dialog)
        return dialog

    def apply_settings(self, settings: GuiSettings) -> None:
        self.settings = settings
        settings.apply()
        self._show_network()

    def _show_network(self) -> None:
        pinned = config.pinned_network()
        text, tooltip = status_text(pinned or self.settings.network or "tor", pinned)
        self.network_label.setText(text)
        self.network_label.setToolTip(tooltip)

    def _intro_read(self) -> None:
        self.settings.intro_seen = True

    def show_networks(self) -> None:
        self._inform("Test network or Tor network? — myonion", NETWORKS_TEXT)

    def show_shortcuts(self) -> None:
        self._inform("Keyboard shortcuts — myonion", actions.shortcuts_table())

    def _inform(self, title: str, html: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, title, html,
                          QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        self._open("info_box", box)

    # drag and drop: a folder becomes a site ----------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_folders(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """A dropped folder opens the share dialog with it filled in: who may connect is
        still the user's choice (nothing is published before that)."""
        folders = dropped_folders(event)
        if folders:
            event.acceptProposedAction()
            self.open_share_dialog(DROP_TEMPLATE, {DROP_OPTION: str(folders[0])})

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
