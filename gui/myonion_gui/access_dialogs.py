"""Small dialogs of the clients and the key: add a client (its name), export the onion key.

Both check their fields inline with the core's rules and only then accept; the work itself is
done by the controller, off the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from myonion import keys
from myonion.errors import OptionError
from myonion_gui.access_form import problem_text
from myonion_gui.option_form import error_label, show_error


class AddClientDialog(QDialog):
    """Asks for a new client's name; ``self.client`` holds it when accepted."""

    def __init__(self, service: str, private: bool, taken: set[str] | frozenset[str] = frozenset(),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a client — myonion")
        self.taken = set(taken)
        self.client: str | None = None
        text = (f"A new key pair is made for the client. Hand its key to that person only: "
                f"with it, they can connect to '{service}'.")
        if not private:
            text += (f"<br><br><b>'{service}' is public now.</b> After this, only clients with a "
                     "key can connect; the address stays the same.")
        intro = QLabel(text)
        intro.setWordWrap(True)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("new-client-name")
        self.name_edit.setPlaceholderText("e.g. alice")
        self.error = error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("Add client",
                                                 QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setDefault(True)
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(440, self.sizeHint().height())

    def validate(self) -> str | None:
        name = self.name_edit.text().strip()
        problem = None
        try:
            keys.check_client_name(name)
        except OptionError as e:
            problem = problem_text(e)
        if problem is None and name in self.taken:
            problem = f"There is a client named '{name}' already."
        show_error(self.error, problem)
        return None if problem else name

    def try_accept(self) -> None:
        self.client = self.validate()
        if self.client is not None:
            self.accept()


class ExportKeyDialog(QDialog):
    """Asks for a passphrase (twice) and a file; ``passphrase``/``path`` are set when accepted."""

    def __init__(self, service: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export key — myonion")
        self.passphrase: str | None = None
        self.path: Path | None = None
        intro = QLabel(f"The onion key of '{service}' is its address. The file is encrypted "
                       "with your passphrase; with both, the address can be restored "
                       "(<tt>myonion keys import</tt>).")
        intro.setWordWrap(True)
        self.first = QLineEdit()
        self.first.setEchoMode(QLineEdit.EchoMode.Password)
        self.first.setPlaceholderText(f"at least {keys.MIN_PASSPHRASE_LENGTH} characters")
        self.second = QLineEdit()
        self.second.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_error = error_label()
        self.file_edit = QLineEdit(str(Path.home() / f"{service}.onionkey"))
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self.choose)
        self.file_error = error_label()
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.choose_button)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Passphrase", self.first)
        form.addRow("Again", self.second)
        form.addRow("", self.passphrase_error)
        form.addRow("File", file_row)
        form.addRow("", self.file_error)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())

    def choose(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the key to", self.file_edit.text())
        if path:
            self.file_edit.setText(path)

    def validate(self) -> tuple[str, Path] | None:
        passphrase = self.first.text()
        problem = None
        try:
            keys.check_passphrase(passphrase)  # the core's one rule
        except OptionError as e:
            problem = e.message
        if problem is None and passphrase != self.second.text():
            problem = "The two passphrases differ."
        show_error(self.passphrase_error, problem)
        text = self.file_edit.text().strip()
        path = Path(text).expanduser() if text else None
        file_problem = None
        if path is None:
            file_problem = "Choose a file to write."
        elif not path.parent.is_dir():
            file_problem = f"The folder {path.parent} does not exist."
        elif path.is_dir():
            file_problem = f"{path} is a folder; choose a file name."
        show_error(self.file_error, file_problem)
        if problem or file_problem or path is None:
            return None
        return passphrase, path

    def try_accept(self) -> None:
        result = self.validate()
        if result is not None:
            self.passphrase, self.path = result
            self.accept()
