"""The share dialog's "Access" section: public or private (named clients), and a time to live.

Public or private is an explicit choice (nothing is preselected: a service is never public by
accident). Client names and the time to live are checked inline with the core's own rules
(``keys.check_client_name``, ``access.parse_duration``) before anything is built; an error goes
as soon as its field is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from myonion import access, keys
from myonion.errors import OptionError
from myonion_gui.option_form import error_label, show_error

#: the units offered for a time to live, as parse_duration writes them
TTL_UNITS = (("minutes", "m"), ("hours", "h"), ("days", "d"))
TTL_HELP = ("An ephemeral service is removed when its time runs out (its address is gone); a "
            "persistent one is stopped and keeps its address.")
PRIVATE_HELP = ("Each client gets its own key, shown after sharing with Copy and a QR code. "
                "Without a key, the address alone does not connect.")
CHOOSE_TEXT = "Choose who may connect: Public or Private."


@dataclass(frozen=True)
class AccessChoice:
    """What the section says: the clients (empty: public) and the time to live in seconds."""

    clients: tuple[str, ...] = ()
    ttl: float | None = None


def problem_text(error: OptionError) -> str:
    """An OptionError as one inline line: the sentence and, if any, its hint."""
    return f"{error.message} {error.hint}" if error.hint else error.message


class AccessForm(QWidget):
    """Public / private with a list of client names, and an optional time to live."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Who", wrap(self._build_who()))
        form.addRow("How long", wrap(self._build_how_long()))

        self.private.toggled.connect(self._update_enabled)
        self.public.toggled.connect(self._update_enabled)
        self.ttl_check.toggled.connect(self._update_enabled)
        self.client_edit.textChanged.connect(self._recheck_client)
        self.ttl_value.valueChanged.connect(self._recheck_ttl)
        self.ttl_unit.currentIndexChanged.connect(self._recheck_ttl)
        self._update_enabled()

    def _build_who(self) -> QVBoxLayout:
        """Public or private, and (under Private) the client names: entry, list, errors."""
        self.private = QRadioButton("Private — only the people listed here, each with a key "
                                    "(safer)")
        self.public = QRadioButton("Public — anyone who has the address can connect")
        self.private.setObjectName("access-private")
        self.public.setObjectName("access-public")
        group = QButtonGroup(self)
        group.addButton(self.private)
        group.addButton(self.public)
        self.who_error = error_label()
        self.clients_area = self._build_clients_area()
        who = QVBoxLayout()
        who.setSpacing(4)
        who.addWidget(self.private)
        who.addWidget(self.clients_area)
        who.addWidget(self.public)
        who.addWidget(self.who_error)
        return who

    def _build_clients_area(self) -> QWidget:
        """The client names of a private service: a name field with Add, the list with Remove."""
        self.client_edit = QLineEdit()
        self.client_edit.setObjectName("client-name")
        self.client_edit.setPlaceholderText("a client's name, e.g. alice")
        # Enter adds the typed name; it must not reach the dialog (that would share)
        self.client_edit.installEventFilter(self)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_typed_client)
        self.client_list = QListWidget()
        self.client_list.setObjectName("client-list")
        self.client_list.setFixedHeight(72)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected_client)
        self.client_error = error_label()
        entry = QHBoxLayout()
        entry.addWidget(self.client_edit, 1)
        entry.addWidget(self.add_button)
        listing = QHBoxLayout()
        listing.addWidget(self.client_list, 1)
        remove_column = QVBoxLayout()
        remove_column.addWidget(self.remove_button)
        remove_column.addStretch(1)
        listing.addLayout(remove_column)
        area = QWidget()
        clients = QVBoxLayout(area)
        clients.setContentsMargins(24, 0, 0, 0)
        clients.setSpacing(4)
        clients.addLayout(entry)
        clients.addLayout(listing)
        clients.addWidget(self.client_error)
        clients.addWidget(small_help(PRIVATE_HELP))
        return area

    def _build_how_long(self) -> QVBoxLayout:
        """The optional time to live: a check box, a number and a unit (hours at first)."""
        self.ttl_check = QCheckBox("Stop it automatically after")
        self.ttl_value = QSpinBox()
        self.ttl_value.setRange(1, 999)
        self.ttl_value.setValue(1)
        self.ttl_unit = QComboBox()
        for text, unit in TTL_UNITS:
            self.ttl_unit.addItem(text, unit)
        self.ttl_unit.setCurrentIndex(1)  # hours
        self.ttl_error = error_label()
        ttl_row = QHBoxLayout()
        ttl_row.addWidget(self.ttl_check)
        ttl_row.addWidget(self.ttl_value)
        ttl_row.addWidget(self.ttl_unit)
        ttl_row.addStretch(1)
        how_long = QVBoxLayout()
        how_long.setSpacing(4)
        how_long.addLayout(ttl_row)
        how_long.addWidget(self.ttl_error)
        how_long.addWidget(small_help(TTL_HELP))
        return how_long

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter in the client name field adds that client, and does nothing else."""
        if (watched is self.client_edit and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.add_typed_client()
            return True
        return super().eventFilter(watched, event)

    def _update_enabled(self) -> None:
        self.clients_area.setEnabled(self.private.isChecked())
        self.ttl_value.setEnabled(self.ttl_check.isChecked())
        self.ttl_unit.setEnabled(self.ttl_check.isChecked())
        if not self.private.isChecked():
            show_error(self.client_error, None)
        if self.private.isChecked() or self.public.isChecked():
            show_error(self.who_error, None)
        if not self.ttl_check.isChecked():
            show_error(self.ttl_error, None)

    def _recheck_client(self) -> None:
        """While a client error shows, check the typed name again (the error goes when fixed)."""
        if self.client_error.isHidden():
            return
        name = self.client_edit.text().strip()
        problem = None
        if name:
            try:
                keys.check_client_name(name)
            except OptionError as e:
                problem = problem_text(e)
            if problem is None and name in self.clients():
                problem = f"'{name}' is in the list already."
        elif not self.clients():
            problem = "Add at least one client, or choose Public."
        show_error(self.client_error, problem)

    def _recheck_ttl(self) -> None:
        if not self.ttl_error.isHidden():
            try:
                access.parse_duration(self.ttl_text())
            except OptionError as e:
                show_error(self.ttl_error, problem_text(e))
            else:
                show_error(self.ttl_error, None)

    # clients ------------------------------------------------------------------------------
    def clients(self) -> list[str]:
        return [self.client_list.item(i).text() for i in range(self.client_list.count())]

    def choose_public(self) -> None:
        """Make it public (the caller says so on purpose: a drop, a test)."""
        self.public.setChecked(True)

    def add_client(self, name: str) -> bool:
        """Add ``name`` to the list if the core accepts it; otherwise say why, inline."""
        name = name.strip()
        problem = None
        try:
            keys.check_client_name(name)
        except OptionError as e:
            problem = problem_text(e)
        if problem is None and name in self.clients():
            problem = f"'{name}' is in the list already."
        show_error(self.client_error, problem)
        if problem is not None:
            return False
        self.private.setChecked(True)
        self.client_list.addItem(name)
        return True

    def add_typed_client(self) -> None:
        if self.add_client(self.client_edit.text()):
            self.client_edit.clear()

    def remove_selected_client(self) -> None:
        for item in self.client_list.selectedItems():
            self.client_list.takeItem(self.client_list.row(item))

    # time to live -------------------------------------------------------------------------
    def ttl_text(self) -> str:
        """The time to live as the core reads it, e.g. "2h"."""
        return f"{self.ttl_value.value()}{self.ttl_unit.currentData()}"

    def set_ttl(self, value: int, unit: str) -> None:
        """Turn the time to live on with ``value`` ``unit`` ("m", "h" or "d")."""
        self.ttl_check.setChecked(True)
        self.ttl_value.setValue(value)
        self.ttl_unit.setCurrentIndex(self.ttl_unit.findData(unit))

    # the result ---------------------------------------------------------------------------
    def quiet_choice(self) -> AccessChoice | None:
        """What :meth:`validate` would return now if nothing is wrong (a client name typed
        but not added yet counts as not settled), checked without showing anything."""
        if not (self.private.isChecked() or self.public.isChecked()):
            return None
        if self.private.isChecked() and (self.client_edit.text().strip()
                                         or not self.clients()):
            return None
        ttl = None
        if self.ttl_check.isChecked():
            try:
                ttl = access.parse_duration(self.ttl_text())
            except OptionError:
                return None
        clients = tuple(self.clients()) if self.private.isChecked() else ()
        return AccessChoice(clients, ttl)

    def validate(self) -> AccessChoice | None:
        """Check the section inline; what was chosen, or None when something is wrong."""
        ok = True
        if not (self.private.isChecked() or self.public.isChecked()):
            show_error(self.who_error, CHOOSE_TEXT)
            ok = False
        if self.private.isChecked():
            if self.client_edit.text().strip():
                # typed but not added yet: take it, or say what is wrong with it
                ok = self.add_client(self.client_edit.text())
                if ok:
                    self.client_edit.clear()
            if ok and not self.clients():
                show_error(self.client_error, "Add at least one client, or choose Public.")
                ok = False
        ttl = None
        if self.ttl_check.isChecked():
            try:
                ttl = access.parse_duration(self.ttl_text())
            except OptionError as e:
                show_error(self.ttl_error, problem_text(e))
                ok = False
            else:
                show_error(self.ttl_error, None)
        if not ok:
            return None
        clients = tuple(self.clients()) if self.private.isChecked() else ()
        return AccessChoice(clients, ttl)


def wrap(layout: QVBoxLayout) -> QWidget:
    holder = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    holder.setLayout(layout)
    return holder


def small_help(text: str) -> QLabel:
    """A line of help under a field: wrapped, small and in the placeholder colour."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(placeholder-text); font-size: small;")
    return label
