"""The clients of the selected service: who may connect, each key with Copy and a QR code.

For each client whose private key is kept here: Copy (the whole ``.auth_private`` line, for a
tor client's ClientOnionAuthDir), Copy key (just the key, which Tor Browser asks for) and a QR
code of the line. Adding and removing clients is asked of the window through signals.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from myonion.manager import ServiceView
from myonion_gui.client_keys import ClientEntry
from myonion_gui.qr import qr_pixmap

CLIENT_QR_SIZE = 180
PUBLIC_TEXT = ("<b>Public</b>: anyone who has the address can connect. Add a client to make it "
               "private: from then on only clients with a key can connect, at the same address.")
PRIVATE_TEXT = "<b>Private</b>: only these clients can connect, each with its own key."
EMPTY_TEXT = ("<b>Private, with no client</b>: nobody can connect until you add one. The "
              "address stays the same.")
HELP_TEXT = ("Tor Browser: when it asks for this onion's key, paste the key (<i>Copy key</i>). "
             "A tor client: save the line (<i>Copy</i>) as <tt>{name}.auth_private</tt> in its "
             "ClientOnionAuthDir.")


class ClientsBox(QWidget):
    """Lists the clients of one service and shows the selected client's key."""

    add_requested = Signal()
    remove_requested = Signal(str)  # client name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: ServiceView | None = None
        self.entries: list[ClientEntry] = []
        self._qr_text: str | None = None
        #: the client shown now: a refresh that changes nothing leaves its fields alone (so a
        #: selection in them survives the list's polling)
        self._shown: ClientEntry | None = None
        self._build_list()
        self._build_details()
        self._lay_out()
        self.set_service(None)

    def _build_list(self) -> None:
        """The summary (public, private, nobody), the list of clients, Add and Remove."""
        self.summary = QLabel(PUBLIC_TEXT)
        self.summary.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("clients")
        self.list.setMaximumWidth(170)
        self.list.currentItemChanged.connect(lambda *_: self._show_current())
        self.add_button = QPushButton("Add client…")
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button = QPushButton("Remove client…")
        self.remove_button.clicked.connect(self._remove_current)

    def _build_details(self) -> None:
        """The selected client: its key and line (read-only, each with Copy), help and QR."""
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.client_title = QLabel()
        self.key = QLineEdit()
        self.key.setReadOnly(True)
        self.key.setFont(mono)
        self.key.setObjectName("client-key")
        self.line = QLineEdit()
        self.line.setReadOnly(True)
        self.line.setFont(mono)
        self.line.setObjectName("client-line")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the whole line (for a tor client's "
                                    "ClientOnionAuthDir)")
        self.copy_button.clicked.connect(self.copy_line)
        self.copy_key_button = QPushButton("Copy key")
        self.copy_key_button.setToolTip("Copy only the private key (what Tor Browser asks for)")
        self.copy_key_button.clicked.connect(self.copy_key)
        self._copied = QTimer(self)  # puts the button texts back after "Copied"
        self._copied.setSingleShot(True)
        self._copied.setInterval(1500)
        self._copied.timeout.connect(self._reset_copy_texts)
        self.help = QLabel()
        self.help.setWordWrap(True)
        self.help.setStyleSheet("color: palette(placeholder-text);")
        self.qr = QLabel()
        self.qr.setObjectName("client-qr")
        self.qr.setFixedSize(CLIENT_QR_SIZE, CLIENT_QR_SIZE)
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr.setWordWrap(True)
        self.qr.setStyleSheet("background: white; border: 1px solid palette(mid); color: #555;")

    def _lay_out(self) -> None:
        """Summary and buttons on top; below, the list, the selected client and its QR code."""
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key, 1)
        key_row.addWidget(self.copy_key_button)
        line_row = QHBoxLayout()
        line_row.addWidget(self.line, 1)
        line_row.addWidget(self.copy_button)
        self.details = QWidget()
        middle = QVBoxLayout(self.details)
        middle.setContentsMargins(0, 0, 0, 0)
        middle.addWidget(self.client_title)
        rows = QFormLayout()
        rows.addRow("Key", key_row)
        rows.addRow("Line", line_row)
        middle.addLayout(rows)
        middle.addWidget(self.help)
        middle.addStretch(1)

        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addLayout(top, 0, 0, 1, 3)
        grid.addWidget(self.list, 1, 0)
        grid.addWidget(self.details, 1, 1)
        grid.addWidget(self.qr, 1, 2, Qt.AlignmentFlag.AlignTop)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(1, 1)

    # what is shown ------------------------------------------------------------------------
    def set_service(self, view: ServiceView | None) -> None:
        """Show the access of ``view``; its clients arrive later through ``set_clients``."""
        if view is None or self.view is None or view.name != self.view.name:
            self.entries = []
            self.list.clear()
        self.view = view
        private = bool(view and view.private)
        if not private:
            self.summary.setText(PUBLIC_TEXT)
        elif view is not None and view.clients == 0:
            self.summary.setText(EMPTY_TEXT)
        else:
            self.summary.setText(PRIVATE_TEXT)
        self.list.setVisible(private)
        self.remove_button.setVisible(private)
        self.add_button.setEnabled(view is not None)
        self._show_current()

    def set_clients(self, entries: list[ClientEntry], select: str | None = None) -> None:
        """Fill the list; keep the selected client (or select ``select``, else the first)."""
        current = select or (self.list.currentItem().text() if self.list.currentItem() else None)
        self.entries = list(entries)
        self.list.blockSignals(True)
        self.list.clear()
        for entry in entries:
            item = QListWidgetItem(entry.name if entry.has_private
                                   else f"{entry.name} (public key only)")
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            self.list.addItem(item)
        names = [e.name for e in entries]
        row = names.index(current) if current in names else 0
        if entries:
            self.list.setCurrentRow(row)
        self.list.blockSignals(False)
        self._show_current()

    def current(self) -> ClientEntry | None:
        """The selected client."""
        item = self.list.currentItem()
        if item is None or not self.list.isVisibleTo(self):
            return None
        name = item.data(Qt.ItemDataRole.UserRole)
        return next((e for e in self.entries if e.name == name), None)

    def select_client(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)

    def _show_current(self) -> None:
        entry = self.current()
        self.details.setVisible(entry is not None)
        self.qr.setVisible(entry is not None)
        self.remove_button.setEnabled(entry is not None)
        if entry is None:
            self._shown = None
            self._set_qr(None, "")
            return
        if entry == self._shown:
            return
        self._shown = entry
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.added))
        self.client_title.setText(f"<b>{entry.name}</b> — added {when}")
        self._reset_copy_texts()
        self.key.setText(entry.key or "")
        self.key.setCursorPosition(0)
        self.key.setPlaceholderText("not here: the client has it")
        self.copy_key_button.setEnabled(entry.key is not None)
        self.copy_button.setEnabled(entry.line is not None)
        if entry.key is None:
            self.line.clear()
            self.line.setPlaceholderText("Only its public key is here.")
            self.help.setText(f"'{entry.name}' was added with its public key; its private key "
                              "was never here. Remove it and add it again for a new key pair.")
            self._set_qr(None, "no key here")
        elif entry.line is None:
            self.line.clear()
            self.line.setPlaceholderText("The line needs the address: start the service.")
            self.help.setText(HELP_TEXT.format(name=entry.name))
            self._set_qr(None, "no address right now")
        else:
            self.line.setText(entry.line)
            self.line.setCursorPosition(0)
            self.help.setText(HELP_TEXT.format(name=entry.name))
            self._set_qr(entry.line, "")

    def _set_qr(self, text: str | None, placeholder: str) -> None:
        if text == self._qr_text and text is not None:
            return
        self._qr_text = text
        if text:
            self.qr.setPixmap(qr_pixmap(text, CLIENT_QR_SIZE - 2))
        else:
            self.qr.clear()
            self.qr.setText(placeholder)

    # actions ------------------------------------------------------------------------------
    def copy_line(self) -> None:
        """Put the selected client's ``.auth_private`` line on the clipboard."""
        entry = self.current()
        if entry is not None and entry.line:
            QGuiApplication.clipboard().setText(entry.line)
            self.copy_button.setText("Copied")
            self._copied.start()

    def copy_key(self) -> None:
        """Put only the selected client's private key (base32) on the clipboard."""
        entry = self.current()
        if entry is not None and entry.key:
            QGuiApplication.clipboard().setText(entry.key)
            self.copy_key_button.setText("Copied")
            self._copied.start()

    def _reset_copy_texts(self) -> None:
        self.copy_button.setText("Copy")
        self.copy_key_button.setText("Copy key")

    def _remove_current(self) -> None:
        entry = self.current()
        if entry is not None:
            self.remove_requested.emit(entry.name)
