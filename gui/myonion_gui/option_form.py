"""A form generated from a template's options, validated inline by the template itself.

Errors speak of the fields by the labels the user sees ("Folder", not the option id 'dir'),
and an error goes as soon as its field is fixed.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from myonion.errors import OptionError
from myonion.templates import OptionSpec, TemplateSpec

INT_LIMIT = 2**31 - 1
NO_CHOICE = "(none)"
#: words of option ids written the way people write them
WORDS = {"dir": "folder", "lan": "LAN", "mqtt": "MQTT", "ssh": "SSH", "id": "ID",
         "ttl": "time to live", "ca": "CA", "tls": "TLS"}


def field_name(spec: OptionSpec) -> str:
    """The option's name as the form shows it, e.g. 'dir' → "Folder", 'lan_port' → "LAN port"."""
    words = [WORDS.get(w, w) for w in re.split(r"[_-]+", spec.name) if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def label_text(spec: OptionSpec) -> str:
    return f"{field_name(spec)} *" if spec.required else field_name(spec)


def in_user_words(message: str, specs: tuple[OptionSpec, ...]) -> str:
    """A core message about option ids, in the form's labels: "Option 'dir': …" → "Folder: …"."""
    for spec in sorted(specs, key=lambda s: -len(s.name)):  # authorized_keys_file first
        name = re.escape(spec.name)
        message = re.sub(rf"\b[Oo]ption '{name}'", field_name(spec), message)
        message = re.sub(rf"'{name}'", f"“{field_name(spec)}”", message)
    return message


class PathField(QWidget):
    """A line edit with a "Choose…" button opening a folder or file picker."""

    def __init__(self, spec: OptionSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.edit = QLineEdit(str(spec.default or ""))
        self.edit.setPlaceholderText("Choose a folder…" if spec.type == "dir" else "Choose a file…")
        self.button = QPushButton("Choose…")
        self.button.clicked.connect(self.choose)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)

    def choose(self) -> None:
        start = self.edit.text()
        if self.spec.type == "dir":
            path = QFileDialog.getExistingDirectory(self, f"Choose: {field_name(self.spec)}", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, f"Choose: {field_name(self.spec)}", start)
        if path:
            self.edit.setText(path)


def make_editor(spec: OptionSpec) -> QWidget:
    """The widget for one option type."""
    if spec.type in ("dir", "file"):
        return PathField(spec)
    if spec.type == "text":
        text = QPlainTextEdit(str(spec.default or ""))
        text.setTabChangesFocus(True)
        text.setFixedHeight(80)
        return text
    if spec.type == "int":
        spin = QSpinBox()
        low = spec.min if spec.min is not None else -INT_LIMIT
        spin.setRange(low, spec.max if spec.max is not None else INT_LIMIT)
        if spec.default is not None:
            spin.setValue(int(spec.default))
        else:
            # one step below the range stands for "not given": "(none)" for an option that may
            # stay empty (a port published only when asked), "choose…" for a required one (a
            # made-up first value such as port 1 would look like a sensible default)
            spin.setMinimum(low - 1)
            example = f", e.g. {spec.example}" if spec.example not in (None, "") else ""
            spin.setSpecialValueText(f"choose{example}" if spec.required else NO_CHOICE)
            spin.setValue(low - 1)
        return spin
    if spec.type == "bool":
        box = QCheckBox(spec.help or spec.name)  # the help is the check box's own text
        box.setChecked(bool(spec.default))
        return box
    if spec.type == "choice":
        combo = QComboBox()
        if not spec.required and spec.default is None:
            combo.addItem(NO_CHOICE)
        combo.addItems(list(spec.choices))
        if spec.default is not None:
            combo.setCurrentText(str(spec.default))
        return combo
    line = QLineEdit(str(spec.default or ""))
    return line


def editor_value(editor: QWidget) -> Any:
    """The raw value of an editor, as the template's validation expects it ("" = not given)."""
    if isinstance(editor, PathField):
        return editor.edit.text().strip()
    if isinstance(editor, QPlainTextEdit):
        return editor.toPlainText()
    if isinstance(editor, QSpinBox):
        unset = editor.specialValueText() and editor.value() == editor.minimum()
        return "" if unset else editor.value()
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    if isinstance(editor, QComboBox):
        text = editor.currentText()
        return "" if text == NO_CHOICE else text
    assert isinstance(editor, QLineEdit)
    return editor.text()


class OptionForm(QWidget):
    """One row per option: label, editor, help line and a (hidden) inline error."""

    def __init__(self, template: TemplateSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.template = template
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for spec in template.options:
            form.addRow(label_text(spec), self._row(spec))
        self.general_error = error_label()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if not template.options:
            layout.addWidget(QLabel("This template has no options."))
        layout.addLayout(form)
        layout.addWidget(self.general_error)

    def _row(self, spec: OptionSpec) -> QWidget:
        editor = make_editor(spec)
        editor.setObjectName(f"option-{spec.name}")
        self.editors[spec.name] = editor
        self.errors[spec.name] = error_label()
        changed(editor, lambda s=spec: self._recheck(s))
        row = QWidget()
        column = QVBoxLayout(row)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(editor)
        if spec.help and spec.type != "bool":
            hint = QLabel(spec.help)
            hint.setWordWrap(True)
            hint.setStyleSheet("color: palette(placeholder-text); font-size: small;")
            column.addWidget(hint)
        column.addWidget(self.errors[spec.name])
        return row

    def set_value(self, name: str, value: Any) -> None:
        """Fill an option programmatically (a dropped folder, tests)."""
        editor = self.editors[name]
        if isinstance(editor, PathField):
            editor.edit.setText(str(value))
        elif isinstance(editor, QPlainTextEdit):
            editor.setPlainText(str(value))
        elif isinstance(editor, QSpinBox):
            editor.setValue(int(value))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, QLineEdit):
            editor.setText(str(value))

    def raw_values(self) -> dict[str, Any]:
        return {name: editor_value(editor) for name, editor in self.editors.items()}

    def validate(self) -> dict[str, Any] | None:
        """Check every option with the template's own rules; show problems inline.

        Returns the raw values to share with (the manager validates them again), or None.
        """
        raw = self.raw_values()
        ok = True
        for spec in self.template.options:
            message = self._problem(spec, raw[spec.name])
            show_error(self.errors[spec.name], message)
            ok = ok and message is None
        show_error(self.general_error, None)
        if not ok:
            return None
        try:
            self.template.validate(raw)
        except OptionError as e:
            show_error(self.general_error, in_user_words(e.message, self.template.options))
            return None
        return raw

    def _problem(self, spec: OptionSpec, value: Any) -> str | None:
        message = option_problem(spec, value)
        return in_user_words(message, self.template.options) if message else None

    def _recheck(self, spec: OptionSpec) -> None:
        """A field changed: if it shows an error, check it again (the error goes when fixed);
        a form-wide error is checked again too."""
        label = self.errors[spec.name]
        if not label.isHidden():
            show_error(label, self._problem(spec, editor_value(self.editors[spec.name])))
        if not self.general_error.isHidden():
            try:
                self.template.validate(self.raw_values())
            except OptionError as e:
                show_error(self.general_error, in_user_words(e.message, self.template.options))
            else:
                show_error(self.general_error, None)

    def problems(self) -> dict[str, str]:
        """The inline errors shown now, by option name."""
        return {name: label.text() for name, label in self.errors.items() if not label.isHidden()}


def option_problem(spec: OptionSpec, value: Any) -> str | None:
    """What is wrong with one value, in the template's own words; None when it is fine."""
    if value in (None, ""):
        if not spec.required:
            return None
        return f"Required: {spec.help}" if spec.help else "Required."
    try:
        spec.coerce(value)
    except OptionError as e:
        return e.message
    return None


def changed(editor: QWidget, then: Any) -> None:
    """Call ``then`` whenever the user changes ``editor``'s value."""
    if isinstance(editor, PathField):
        editor.edit.textChanged.connect(lambda *_: then())
    elif isinstance(editor, QPlainTextEdit):
        editor.textChanged.connect(lambda: then())
    elif isinstance(editor, QSpinBox):
        editor.valueChanged.connect(lambda *_: then())
    elif isinstance(editor, QCheckBox):
        editor.toggled.connect(lambda *_: then())
    elif isinstance(editor, QComboBox):
        editor.currentTextChanged.connect(lambda *_: then())
    elif isinstance(editor, QLineEdit):
        editor.textChanged.connect(lambda *_: then())


def error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet("color: #b3261e;")
    label.hide()
    return label


def show_error(label: QLabel, message: str | None) -> None:
    label.setText(message or "")
    label.setVisible(bool(message))
