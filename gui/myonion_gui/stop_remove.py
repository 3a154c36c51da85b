"""Stopping and removing a service from the main window, asked first when something is lost.

An ephemeral service's address is gone for good once it stops, and removing a service takes
its key and clients with it: the dialog says what goes (Cancel is the default) and offers to
save the key first. The window (:class:`~myonion_gui.main_window.MainWindow`) is built on this
class.
"""

from __future__ import annotations

from collections.abc import Callable

from myonion.templates import TemplateSpec
from myonion_gui.confirm import LossDialog, remove_dialog, stop_dialog
from myonion_gui.key_dialogs import KeyDialogs
from myonion_gui.services_table import ServicesTable


class StopAndRemove(KeyDialogs):
    """Stop and Remove of the main window; it sets the list and the templates they use."""

    services: ServicesTable
    templates: dict[str, TemplateSpec]

    def _confirm(self, dialog: LossDialog | None, name: str, then: Callable[[], None]) -> None:
        """Run ``then`` now if nothing is lost, else once the user confirms."""
        if dialog is None:
            then()
            return
        dialog.accepted.connect(then)
        dialog.export_requested.connect(lambda: self.open_export_dialog(name, parent=dialog))
        self._open("confirm_dialog", dialog)

    def stop(self, name: str) -> None:
        """Stop a service; an ephemeral one's address is gone for good, so ask first."""
        view = self.model.view(name)
        dialog = stop_dialog(view, self) if view is not None else None
        self._confirm(dialog, name, lambda: self.controller.stop(name))

    def remove(self, name: str) -> None:
        """Remove a service after saying what goes with it (Cancel is the default)."""
        view = self.model.view(name)
        if view is None:
            self.controller.remove(name)
            return
        shown = self.panel.view is not None and self.panel.view.name == name
        clients = [e.name for e in self.panel.clients.entries] if shown else None
        dialog = remove_dialog(view, self.templates.get(view.template), clients, self)
        self._confirm(dialog, name, lambda: self.controller.remove(name))

    def _remove_selected(self) -> None:
        if self.services.current:
            self.remove(self.services.current)
