"""The share dialog: pick a template, fill its options, choose address mode and network, and
who may connect (public or named clients) for how long (an optional time to live).

Nothing is built until every field passes the template's own validation, shown inline; an
error goes as soon as its field is fixed. A name is used as typed or refused with a message,
never changed; left empty, the name it will get is shown. Tab follows the screen: the template
cards, the template's options, the service and access fields, then Cancel and Share.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QLabel,
    QLineEdit,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from myonion import config
from myonion.errors import OptionError
from myonion.services.request import check_name
from myonion.templates import TemplateSpec
from myonion_gui.access_form import AccessForm
from myonion_gui.intro import NETWORK_LABELS
from myonion_gui.option_form import OptionForm, error_label, show_error
from myonion_gui.requests import ShareRequest
from myonion_gui.template_cards import TemplateCards


def automatic_name(template_id: str, taken: set[str]) -> str:
    """The name the core gives a service shared without one: the template's id, else id-2…"""
    name, n = template_id, 1
    while name in taken:
        n += 1
        name = f"{template_id}-{n}"
    return name


def name_problem(name: str, taken: set[str]) -> str | None:
    """What is wrong with a typed service name (None: it is used exactly as typed)."""
    if not name:
        return None
    try:
        check_name(name)
    except OptionError:
        suggestion = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
        example = f" — for example '{suggestion}'" if suggestion else ""
        return (f"'{name}' cannot be a service name: use lower-case letters, digits and '-' "
                f"(at most 40, not starting with '-'){example}.")
    if name in taken:
        return f"A service named '{name}' exists already."
    return None


class ShareDialog(QDialog):
    """Produces a validated ``ShareRequest`` in ``self.request`` when accepted."""

    def __init__(self, templates: list[TemplateSpec], network: str | None = None,
                 taken_names: set[str] | frozenset[str] = frozenset(),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Share — myonion")
        self.templates = {t.id: t for t in templates}
        self.taken_names = set(taken_names)
        self.request: ShareRequest | None = None
        self.forms: dict[str, OptionForm] = {}

        self.cards = TemplateCards(templates)
        # forms of other templates are hidden (a stacked widget would clip wrapped help texts)
        self.option_area = QWidget()
        self.option_layout = QVBoxLayout(self.option_area)
        self.option_layout.setContentsMargins(0, 0, 0, 0)
        # the whole description of the chosen template (its card shows the first sentence)
        self.about = QLabel()
        self.about.setObjectName("template-about")
        self.about.setTextFormat(Qt.TextFormat.PlainText)
        self.about.setWordWrap(True)
        self.about.setStyleSheet("color: palette(placeholder-text);")
        self.option_layout.addWidget(self.about)
        # every form is made now, in the cards' order, so that Tab reaches the chosen one's
        # fields right after the cards (a form made later would come last in the Tab order)
        for template in templates:
            self.forms[template.id] = OptionForm(template)
            self.forms[template.id].hide()
            self.option_layout.addWidget(self.forms[template.id])
        self.cards.chosen.connect(self._show_options)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(section("1. What to share", self.cards))
        self.options_section = section("2. Options", self.option_area)
        layout.addWidget(self.options_section)
        layout.addWidget(section("3. The onion service", self._service_box(network)))
        self.access = AccessForm()
        layout.addWidget(section("4. Access", self.access))
        layout.addStretch(1)
        self.scroll_area = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # not a Tab stop of its own (an invisible one): it scrolls to the focused field
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(content)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.share_button = self.buttons.addButton("Share", QDialogButtonBox.ButtonRole.AcceptRole)
        self.share_button.setDefault(True)
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addWidget(scroll, 1)
        outer.addWidget(self.buttons)
        self.resize(660, 680)
        if templates:
            self.cards.choose("site" if "site" in self.templates else templates[0].id)

    def _service_box(self, network: str | None) -> QWidget:
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("service-name")
        self.name_edit.setMaxLength(80)  # long enough to show what was typed, and refuse it
        self.name_error = error_label()
        self.name_edit.textChanged.connect(self._check_name)

        self.ephemeral = QRadioButton("Ephemeral — a new address every start, nothing kept")
        self.persistent = QRadioButton("Persistent — the same address after restarts and reboots")
        self.ephemeral.setChecked(True)
        modes = QButtonGroup(self)
        modes.addButton(self.ephemeral)
        modes.addButton(self.persistent)

        self.network_combo = QComboBox()
        for key, text in NETWORK_LABELS.items():
            self.network_combo.addItem(text, key)
        pinned = config.pinned_network()
        if pinned is not None:
            index = self.network_combo.findData("tor" if pinned == "local" else "local")
            item = self.network_combo.model().item(index)  # type: ignore[attr-defined]
            item.setEnabled(False)
            item.setToolTip(f"This machine pins MYONION_NETWORK={pinned}.")
        wanted = pinned or network or "tor"
        self.network_combo.setCurrentIndex(self.network_combo.findData(wanted))
        self.network_error = error_label()

        box = QWidget()
        form = QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Name", stacked(self.name_edit, self.name_error))
        form.addRow("Address", stacked(self.ephemeral, self.persistent))
        form.addRow("Network", stacked(self.network_combo, self.network_error))
        return box

    def _show_options(self, template: TemplateSpec) -> None:
        for tid, form in self.forms.items():
            form.setVisible(tid == template.id)
        self.about.setText(" ".join(template.description.split()))
        self.name_edit.setPlaceholderText(
            f"automatic: {automatic_name(template.id, self.taken_names)}")

    def _check_name(self) -> None:
        """While an error is shown, check again with every change (it goes once fixed)."""
        if not self.name_error.isHidden():
            show_error(self.name_error, name_problem(self.name_edit.text().strip(),
                                                     self.taken_names))

    # the result ---------------------------------------------------------------------------
    def form(self) -> OptionForm:
        """The option form of the chosen template."""
        template = self.cards.current()
        assert template is not None
        return self.forms[template.id]

    def validate(self) -> ShareRequest | None:
        """Check everything inline; the request to share, or None (nothing is built)."""
        template = self.cards.current()
        if template is None:
            return None
        options = self.form().validate()
        name = self.name_edit.text().strip() or None
        bad_name = name_problem(name or "", self.taken_names)
        show_error(self.name_error, bad_name)
        network = self.network_combo.currentData()
        network_problem = None
        try:
            config.resolve_network(network)
        except OptionError as e:
            network_problem = e.message
        show_error(self.network_error, network_problem)
        access = self.access.validate()
        if options is None or bad_name or network_problem or access is None:
            return None
        options = {k: v for k, v in options.items() if v not in (None, "")}
        return ShareRequest(template.id, options, name, network, self.persistent.isChecked(),
                            clients=access.clients, ttl=access.ttl)

    def try_accept(self) -> None:
        self.request = self.validate()
        if self.request is not None:
            self.accept()


def section(title: str, body: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.addWidget(body)
    return box


def stacked(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    for widget in widgets:
        layout.addWidget(widget)
    return holder

