"""The table of services: one row per ``ServiceView``, plus live stages from progress events."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor

from myonion.access import format_duration
from myonion.events import Event, Stage
from myonion.manager import ServiceView
from myonion.services.request import Mode

Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Name", "Template", "State", "Address", "Mode", "Access", "Network", "TTL left")
NONE_TEXT = "—"
STATE_COLUMN = COLUMNS.index("State")
STAGE_COLOURS: dict[str, str] = {
    Stage.REACHABLE: "#1b7f3b",
    Stage.PUBLISHED: "#1b7f3b",
    Stage.FAILED: "#b3261e",
    Stage.STOPPED: "#6b6b6b",
}


def state_text(view: ServiceView, live: Event | None = None) -> str:
    """What the State column says: the live stage (with percent) while something runs."""
    if live is not None:
        percent = f" {live.percent}%" if live.percent is not None else ""
        return f"{live.stage}{percent}"
    if view.state == "running":
        percent = f" {view.percent}%" if view.percent is not None else ""
        return f"{view.stage}{percent}"
    if view.state in ("failed", "missing"):
        return "failed"
    return view.state


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
            stage = Stage.FAILED if view.state in ("failed", "missing") else view.stage
            colour = STAGE_COLOURS.get(stage)
            return QBrush(QColor(colour)) if colour else None
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
        return view.network

    @staticmethod
    def _tooltip(view: ServiceView, column: str) -> str | None:
        if column == "State":
            return view.reason or None
        if column == "Access" and view.private:
            return (f"Only its {view.clients} authorized client(s) can connect."
                    if view.clients else "Private, with no client: nobody can connect.")
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
