"""The list of services as a table, with a friendly placeholder while it is empty.

For the keyboard it is one stop: Tab enters and leaves it, the arrow keys move inside.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QTableView,
    QWidget,
)

from myonion_gui.services_model import COLUMNS, ServicesModel

#: rows the list keeps in view however small the window is
MIN_ROWS = 4
EMPTY_TEXT = ("<p style='font-size: large'>No services yet.</p>"
              "<p>Click <b>Share…</b> to publish a template as an onion service,<br>"
              "or drop a folder on this window to share it as a website.</p>")


class ServicesTable(QStackedWidget):
    """Keeps the selected service selected across refreshes; emits its name (or None)."""

    selected = Signal(object)  # str | None

    def __init__(self, model: ServicesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.current: str | None = None
        empty = QLabel(EMPTY_TEXT)
        empty.setObjectName("empty")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setStyleSheet("color: palette(placeholder-text);")
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        # Tab leaves the list (it walked cell by cell, changing the selection); arrows move
        self.table.setTabKeyNavigation(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFocusProxy(self.table)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Address"), QHeaderView.ResizeMode.Stretch)
        # a few rows stay in view however small the window (the details below scroll instead)
        self.table.setMinimumHeight(header.sizeHint().height()
                                    + MIN_ROWS * self.table.verticalHeader().defaultSectionSize()
                                    + 2 * self.table.frameWidth())
        self.addWidget(empty)
        self.addWidget(self.table)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        model.modelReset.connect(self._reselect)
        model.refreshed.connect(self._show_page)

    def select(self, name: str | None) -> None:
        """Select the row of ``name`` (None clears the selection)."""
        row = self.model.row_of(name) if name else -1
        if row < 0:
            self.table.clearSelection()
            self._set_current(None)
            return
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QItemSelectionModel.SelectionFlag.Rows)
        # the current index too, so the arrow keys go on from the selected row
        self.table.selectionModel().setCurrentIndex(self.model.index(row, 0), flags)
        self.table.scrollTo(self.model.index(row, 0))

    def _selection_changed(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self._set_current(self.model.data(rows[0], Qt.ItemDataRole.UserRole))

    def _reselect(self) -> None:
        # a reset (services came or went) drops the selection; put it back if it still exists
        self.select(self.current)

    def _set_current(self, name: str | None) -> None:
        if name != self.current:
            self.current = name
            self.selected.emit(name)

    def _show_page(self) -> None:
        self.setCurrentIndex(1 if self.model.rowCount() else 0)
