"""The share dialog: cards from manifests, a form from options, inline validation, no build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QPlainTextEdit, QSpinBox
from pytestqt.qtbot import QtBot

from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.templates import TemplateRegistry, TemplateSpec, load_template
from myonion_gui.main_window import MainWindow
from myonion_gui.option_form import PathField
from myonion_gui.share_dialog import ShareDialog
from myonion_gui.template_cards import summary

EVERY_TYPE = """
id: every
title: Every option type
description: A template with one option of each type.
options:
  - {name: folder, type: dir, required: true, help: a folder}
  - {name: key, type: file, help: a file}
  - {name: motd, type: text, default: "hi"}
  - {name: port, type: int, min: 1024, max: 2048, default: 1500}
  - {name: verbose, type: bool, default: true}
  - {name: flavour, type: choice, choices: [plain, fancy], default: fancy}
  - {name: label, type: string, pattern: "[a-z]+", help: lower-case letters}
ports:
  - {virtual: 80, target: 8080}
"""


@pytest.fixture
def every(tmp_path: Path) -> TemplateSpec:
    folder = tmp_path / "templates" / "every"
    folder.mkdir(parents=True)
    (folder / "Dockerfile.j2").write_text("FROM {{ tor_image }}\n")
    (folder / "torrc.j2").write_text("\n")
    (folder / "template.yaml").write_text(EVERY_TYPE)
    return load_template(folder, builtin=False)


def open_dialog(qtbot: QtBot, templates: list[TemplateSpec], public: bool = True,
                **kw: object) -> ShareDialog:
    """The dialog, with "Public" chosen unless ``public`` is False (nothing is preselected)."""
    dialog = ShareDialog(templates, **kw)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    if public:
        dialog.access.choose_public()
    return dialog


def test_cards_come_from_the_manifests(qtbot: QtBot, manager: Manager,
                                       every: TemplateSpec) -> None:
    site = manager.template("site")
    dialog = open_dialog(qtbot, [site, every])
    assert set(dialog.cards.cards) == {"site", "every"}
    card = dialog.cards.cards["every"]
    assert card.radio.text() == "Every option type"
    assert "one option of each type" in card.description.text()
    # a card shows the first sentence; the whole description is its tooltip and is shown
    # above the options of the chosen template
    ssh = manager.template("ssh")
    long_dialog = open_dialog(qtbot, [site, ssh])
    ssh_card = long_dialog.cards.cards["ssh"]
    assert ssh_card.description.text() == "OpenSSH reachable only through its onion address."
    assert "so clients can pin it" in ssh_card.toolTip()
    long_dialog.cards.choose("ssh")
    assert long_dialog.about.text().startswith("OpenSSH reachable only through its onion "
                                               "address. Log in as user")
    assert dialog.cards.current() == site  # the click-to-share template is preselected
    qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
    assert dialog.cards.current() == every
    assert dialog.forms["every"].isVisibleTo(dialog)
    assert not dialog.forms["site"].isVisibleTo(dialog)


def test_form_has_an_editor_per_option_type(qtbot: QtBot, every: TemplateSpec) -> None:
    dialog = open_dialog(qtbot, [every])
    editors = dialog.form().editors
    assert isinstance(editors["folder"], PathField) and editors["folder"].spec.type == "dir"
    assert isinstance(editors["key"], PathField) and editors["key"].spec.type == "file"
    assert isinstance(editors["motd"], QPlainTextEdit)
    assert editors["motd"].toPlainText() == "hi"
    port = editors["port"]
    assert isinstance(port, QSpinBox)
    assert (port.minimum(), port.maximum(), port.value()) == (1024, 2048, 1500)
    assert isinstance(editors["verbose"], QCheckBox) and editors["verbose"].isChecked()
    flavour = editors["flavour"]
    assert isinstance(flavour, QComboBox)
    assert [flavour.itemText(i) for i in range(flavour.count())] == ["plain", "fancy"]
    assert flavour.currentText() == "fancy"


def test_bad_options_are_shown_inline(qtbot: QtBot, every: TemplateSpec,
                                      tmp_path: Path) -> None:
    dialog = open_dialog(qtbot, [every])
    form = dialog.form()
    form.set_value("label", "NOT lower")
    dialog.share_button.click()
    assert dialog.request is None and dialog.result() == 0
    problems = form.problems()
    assert problems["folder"] == "Required: a folder"
    assert "invalid value 'NOT lower'" in problems["label"]
    assert set(problems) == {"folder", "label"}

    form.set_value("folder", str(tmp_path))
    form.set_value("label", "fine")
    dialog.share_button.click()
    assert form.problems() == {}
    assert dialog.request is not None
    assert dialog.request.options["folder"] == str(tmp_path)
    assert dialog.request.options["port"] == 1500


def test_a_missing_folder_is_rejected_and_nothing_is_built(
        qtbot: QtBot, make_window: Callable[..., MainWindow], runtime: FakeRuntime,
        manager: Manager, tmp_path: Path) -> None:
    window = make_window()
    dialog = window.open_share_dialog()
    assert dialog is not None and dialog.isVisible()
    missing = tmp_path / "no-such-folder"
    dialog.form().set_value("dir", str(missing))
    dialog.access.choose_public()
    dialog.share_button.click()

    assert dialog.isVisible()  # still open, with the reason next to the field
    # in the words of the form: its label is "Folder" (the option's id 'dir' is not shown)
    assert dialog.form().problems() == {"dir": f"Folder: {missing} does not exist."}
    assert window.controller.runner.active == 0  # no work was started
    assert runtime.builds == [] and runtime.containers == {}
    assert manager.store.all() == []


def test_name_in_use_and_pinned_network_are_inline(qtbot: QtBot, manager: Manager) -> None:
    dialog = open_dialog(qtbot, manager.templates(), taken_names={"blog"})
    dialog.name_edit.setText("blog")
    dialog.share_button.click()
    assert dialog.request is None
    assert dialog.name_error.text() == "A service named 'blog' exists already."
    # MYONION_NETWORK=local (set for every test) pins the local network: tor is not offered
    combo = dialog.network_combo
    assert combo.currentData() == "local"
    assert not combo.model().item(combo.findData("tor")).isEnabled()  # type: ignore[attr-defined]


def test_a_name_is_never_changed_silently(qtbot: QtBot, manager: Manager, site: Path) -> None:
    """Issue 18: typing "Bad Name!" made a service named 'adame' (keys were dropped)."""
    dialog = open_dialog(qtbot, manager.templates(), taken_names={"site"})
    dialog.form().set_value("dir", str(site))
    assert dialog.name_edit.placeholderText() == "automatic: site-2"  # the name it will get
    qtbot.keyClicks(dialog.name_edit, "Bad Name!")
    assert dialog.name_edit.text() == "Bad Name!"  # shown as typed
    dialog.share_button.click()
    assert dialog.request is None  # refused with a message, not renamed
    assert dialog.name_error.text() == (
        "'Bad Name!' cannot be a service name: use lower-case letters, digits and '-' (at most "
        "40, not starting with '-') — for example 'bad-name'.")
    # the error goes as soon as the name is fixed, and the name is used as typed
    dialog.name_edit.setText("bad-name")
    assert dialog.name_error.isHidden()
    dialog.share_button.click()
    assert dialog.request is not None and dialog.request.name == "bad-name"


def test_persistent_choice_reaches_the_request(qtbot: QtBot, manager: Manager,
                                               site: Path) -> None:
    dialog = open_dialog(qtbot, manager.templates())
    dialog.form().set_value("dir", str(site))
    dialog.persistent.setChecked(True)
    dialog.name_edit.setText("blog")
    dialog.share_button.click()
    request = dialog.request
    assert request is not None
    assert (request.template, request.name, request.persistent, request.network) == (
        "site", "blog", True, "local")
    assert request.options == {"dir": str(site), "index": "index.html", "listing": False}


def test_registry_with_a_user_template_opens(qtbot: QtBot, every: TemplateSpec,
                                             manager: Manager) -> None:
    registry = TemplateRegistry([(every.path.parent, False)])
    own = Manager(runtime=manager.runtime, store=manager.store, registry=registry)
    dialog = open_dialog(qtbot, own.templates())
    assert dialog.cards.current() == every


def test_an_optional_number_without_default_starts_unset(qtbot: QtBot, manager: Manager) -> None:
    """mqtt-bridge's lan_port: nothing is published unless the user picks a port."""
    dialog = open_dialog(qtbot, [manager.template("mqtt-bridge")])
    form = dialog.form()
    port = form.editors["lan_port"]
    assert isinstance(port, QSpinBox) and port.text() == "(none)"
    assert form.raw_values()["lan_port"] == ""
    form.set_value("lan_port", 1883)
    assert form.raw_values()["lan_port"] == 1883
    form.set_value("lan_port", 0)  # back to the bottom of the range: unset again
    assert form.raw_values()["lan_port"] == ""


def test_one_of_and_key_line_errors_are_shown(qtbot: QtBot, manager: Manager) -> None:
    dialog = open_dialog(qtbot, [manager.template("ssh")])
    form = dialog.form()
    dialog.share_button.click()
    assert dialog.request is None
    assert "needs one of the options “Authorized keys” or “Authorized keys file”" in \
        form.general_error.text()
    assert "authorized_keys" not in form.general_error.text()
    form.set_value("authorized_keys", "# mine\nssh-ed25519 nonsense")
    dialog.share_button.click()
    assert "line 2" in form.problems()["authorized_keys"]


def test_a_card_summary_is_the_first_sentence() -> None:
    assert summary("Serves a folder. Nothing else.") == "Serves a folder."
    assert summary("Relays port 80: socat does it.") == "Relays port 80."
    assert summary("Shares e.g. a folder, i.e. files. More.") == "Shares e.g. a folder, i.e. files."
    assert summary("no full stop") == "no full stop"
    long = "word " * 60 + "end."
    assert summary(long, limit=40) == "word word word word word word word word…"
