"""The table of services: one row per ``ServiceView``, plus live stages from progress events."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor

from myonion.access import format_duration
from myonion.events import Event
from myonion.manager import ServiceView
from myonion.services.request import Mode
from myonion_gui.state_look import look

Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Name", "Template", "State", "Address", "Mode", "Access", "Network", "TTL left")
NONE_TEXT = "—"
STATE_COLUMN = COLUMNS.index("State")
#: the Network column in words ("local" was jargon): the test network, or the public Tor one
NETWORK_SHORT = {"local": "test", "tor": "Tor"}


def state_text(view: ServiceView, live: Event | None = None) -> str:
    """What the State column says: the live stage (with percent) while something runs."""
    return look(view, live).text


def access_text(view: ServiceView) -> str:
    """What the Access column says: public, or private with its number of clients."""
    return f"private ({view.clients})" if view.private else "public"


def ttl_text(view: ServiceView) -> str:
    """What the TTL column says: the time left (it counts down with every listing), or —."""
    return format_duration(view.remaining) if view.remaining is not None else NONE_TEXT


class ServicesModel(QAbstractTableModel):
    """Rows keep the manager's order (by name); updates keep rows that did not change."""

    refreshed = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._views: list[ServiceView] = []
        self._live: dict[str, Event] = {}

    # data ---------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._views)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        view = self._views[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(view, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(view, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == "State":
            return QBrush(QColor(look(view, self._live.get(view.name)).tone.colour))
        if role == Qt.ItemDataRole.UserRole:
            return view.name
        return None

    def _display(self, view: ServiceView, column: str) -> str:
        if column == "Name":
            return view.name
        if column == "Template":
            return view.template
        if column == "State":
            return state_text(view, self._live.get(view.name))
        if column == "Address":
            return view.address or NONE_TEXT
        if column == "Mode":
            return view.mode
        if column == "Access":
            return access_text(view)
        if column == "TTL left":
            return ttl_text(view)
        return NETWORK_SHORT.get(view.network, view.network)

    def _tooltip(self, view: ServiceView, column: str) -> str | None:
        if column == "State":
            return look(view, self._live.get(view.name)).reason
        if column == "Access" and view.private:
            return (f"Only its {view.clients} authorized client(s) can connect."
                    if view.clients else "Private, with no client: nobody can connect.")
        if column == "Network":
            return ("The test network: only this computer reaches it." if view.network == "local"
                    else "The public Tor network.")
        if column == "TTL left" and view.remaining is not None:
            end = "removed" if view.mode == Mode.EPHEMERAL else "stopped"
            return f"It is {end} when its time to live runs out."
        return None

    # updates ------------------------------------------------------------------------------
    def views(self) -> list[ServiceView]:
        return list(self._views)

    def view(self, name: str) -> ServiceView | None:
        return next((v for v in self._views if v.name == name), None)

    def row_of(self, name: str) -> int:
        return next((i for i, v in enumerate(self._views) if v.name == name), -1)

    def set_services(self, views: list[ServiceView]) -> None:
        """Replace the rows; when the names are the same, only changed rows are repainted."""
        if [v.name for v in views] != [v.name for v in self._views]:
            self.beginResetModel()
            self._views = list(views)
            self.endResetModel()
        else:
            for row, (old, new) in enumerate(zip(self._views, views, strict=True)):
                if old != new:
                    self._views[row] = new
                    self._row_changed(row)
        self.refreshed.emit()

    def apply_event(self, event: Event) -> None:
        """Show a progress event as the live stage of its service."""
        if event.service is None:
            return
        self._live[event.service] = event
        row = self.row_of(event.service)
        if row >= 0:
            self._row_changed(row)

    def clear_live(self, name: str) -> None:
        """The operation on ``name`` is over: show what the manager says again."""
        if self._live.pop(name, None) is not None and (row := self.row_of(name)) >= 0:
            self._row_changed(row)

    def running_ephemeral(self) -> list[str]:
        return [v.name for v in self._views if v.mode == Mode.EPHEMERAL and v.state == "running"]

    def _row_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
