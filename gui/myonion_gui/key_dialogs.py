"""The main window's dialogs: how one is shown and forgotten once closed, and the ones about an
onion key and clients (make persistent, export the key, add or remove a client). The window
(:class:`~myonion_gui.main_window.MainWindow`) is built on this class."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QMainWindow, QMessageBox, QWidget

from myonion_gui.access_dialogs import AddClientDialog, ExportKeyDialog
from myonion_gui.controller import Controller
from myonion_gui.service_panel import ServicePanel
from myonion_gui.services_model import ServicesModel


class KeyDialogs(QMainWindow):
    """Dialogs of the main window; it sets the controller, model and panel they use."""

    controller: Controller
    model: ServicesModel
    panel: ServicePanel

    def _open(self, attribute: str, dialog: QDialog) -> None:
        """Show a (window-modal, non-blocking) dialog kept in ``attribute`` while it is open;
        once closed it is deleted and forgotten (kept, they piled up for as long as the window
        lived)."""
        setattr(self, attribute, dialog)

        def closed() -> None:
            if getattr(self, attribute) is dialog:
                setattr(self, attribute, None)
            dialog.deleteLater()

        dialog.finished.connect(closed)
        dialog.open()

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

    def open_export_dialog(self, name: str, parent: QWidget | None = None) -> ExportKeyDialog:
        dialog = ExportKeyDialog(name, parent=parent or self)

        def export() -> None:
            if dialog.passphrase is not None and dialog.path is not None:
                self.controller.export_key(name, dialog.passphrase, dialog.path)

        dialog.accepted.connect(export)
        self._open("export_dialog", dialog)
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
        self._open("client_dialog", dialog)
        return dialog

    def remove_client(self, name: str, client: str) -> None:
        """Revoke ``client`` after asking; the address stays."""
        answer = QMessageBox.question(
            self, "Remove client — myonion",
            f"'{client}' will no longer be able to connect to '{name}'; the address stays.")
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.remove_client(name, client)
