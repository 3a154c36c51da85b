"""Keyboard and forms (issue 18): Tab follows the screen, the list is one Tab stop, shortcuts are
shown, errors speak the form's words and go when fixed, defaults are sensible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QSpinBox, QWidget
from pytestqt.qtbot import QtBot

from myonion.manager import Manager
from myonion_gui.main_window import MainWindow
from myonion_gui.share_dialog import ShareDialog

Idle = Callable[[MainWindow], None]


def tab_walk(start: QWidget, presses: int) -> list[QWidget]:
    """The widgets Tab visits from ``start`` (the first is ``start``)."""
    start.setFocus()
    QApplication.processEvents()
    seen = []
    for _ in range(presses):
        focused = QApplication.focusWidget()
        assert focused is not None
        seen.append(focused)
        QTest.keyClick(focused, Qt.Key.Key_Tab)
        QApplication.processEvents()
    return seen


def test_tab_follows_the_share_dialog_from_top_to_bottom(qtbot: QtBot, manager: Manager) -> None:
    dialog = ShareDialog(manager.templates())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    first = dialog.cards.cards["site"].radio
    walk = tab_walk(first, 16)
    cycle = walk[:walk.index(first, 1)]  # one round, back at the cards
    # every stop is a visible field (the scroll area was an invisible one)
    assert all(w.isVisible() for w in cycle), [type(w).__name__ for w in cycle]
    form = dialog.forms["site"]

    def section(widget: QWidget) -> int:
        if dialog.cards.isAncestorOf(widget):
            return 0
        if form.isAncestorOf(widget):
            return 1
        if dialog.access.isAncestorOf(widget):
            return 3
        if dialog.buttons.isAncestorOf(widget):
            return 4
        return 2  # the service: name, address mode, network

    order = [section(w) for w in cycle]
    # cards, then the chosen template's options (they came last), then the service and access
    # fields, then Cancel/Share
    assert order == sorted(order) and set(order) == {0, 1, 2, 3, 4}, order
    assert cycle[1] is form.editors["dir"].edit  # type: ignore[attr-defined]
    assert dialog.buttons.isAncestorOf(cycle[-1])


def test_the_list_is_one_tab_stop_with_arrow_keys_inside(qtbot: QtBot, window: MainWindow,
                                                         manager: Manager, site: Path,
                                                         idle: Idle) -> None:
    for name in ("a", "b", "c"):
        manager.share("site", {"dir": str(site)}, name=name, wait=False)
    window.refresh()
    idle(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    table = window.services.table
    window.services.select("a")
    table.setFocus()
    QTest.keyClick(table, Qt.Key.Key_Down)
    assert window.services.current == "b"  # arrows move inside
    QTest.keyClick(table, Qt.Key.Key_Tab)
    assert window.services.current == "b"  # Tab did not walk to the next cell or row
    assert QApplication.focusWidget() is not table  # it left the list


def test_shortcuts_are_shown_in_menus_and_tooltips(qtbot: QtBot, window: MainWindow) -> None:
    commands = window.commands
    assert commands.share.shortcut().toString() == "Ctrl+N"
    assert commands.refresh.shortcut().toString() == "F5"
    menus = {a.text(): a for a in window.menuBar().actions()}
    service_menu = menus["&Services"].menu()
    assert commands.share in service_menu.actions()  # type: ignore[union-attr]
    assert commands.refresh in service_menu.actions()  # type: ignore[union-attr]
    assert commands.share.toolTip() == "Share a folder or a service (Ctrl+N)"
    assert commands.refresh.toolTip() == "List the services again (F5)"
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.share_dialog is not None and window.share_dialog.isVisible()
    window.share_dialog.reject()


def test_errors_use_the_labels_and_go_when_fixed(qtbot: QtBot, window: MainWindow,
                                                 site: Path) -> None:
    dialog = window.open_share_dialog()
    assert dialog is not None
    form = dialog.form()
    form.set_value("dir", str(site / "nope"))
    dialog.share_button.click()
    assert form.problems()["dir"] == f"Folder: {site / 'nope'} does not exist."
    # public or private is chosen, never assumed
    assert dialog.access.who_error.text() == "Choose who may connect: Public or Private."
    form.set_value("dir", str(site / "still-not"))
    assert form.problems()["dir"] == f"Folder: {site / 'still-not'} does not exist."
    form.set_value("dir", str(site))
    assert form.problems() == {}  # the error went when the field was fixed
    dialog.access.private.setChecked(True)
    assert dialog.access.who_error.isHidden()
    dialog.share_button.click()
    assert dialog.access.client_error.text() == "Add at least one client, or choose Public."
    dialog.access.client_edit.setText("Bob Smith")
    assert "not a valid client name" in dialog.access.client_error.text()
    dialog.access.client_edit.setText("bob")
    assert dialog.access.client_error.isHidden()
    dialog.reject()


def test_a_required_number_has_no_made_up_default(qtbot: QtBot, manager: Manager) -> None:
    """The forward's port started at 1 (its minimum), which looked like a real choice."""
    dialog = ShareDialog([manager.template("forward")])
    qtbot.addWidget(dialog)
    port = dialog.form().editors["target_port"]
    assert isinstance(port, QSpinBox)
    assert port.text() == "choose, e.g. 8123"
    assert dialog.form().raw_values()["target_port"] == ""
    dialog.access.choose_public()
    dialog.form().set_value("target_host", "homeassistant")
    dialog.share_button.click()
    assert dialog.request is None
    assert dialog.form().problems()["target_port"].startswith("Required")
    port.setValue(8123)
    assert "target_port" not in dialog.form().problems()


def test_the_list_shows_more_than_three_rows_at_the_default_size(
        qtbot: QtBot, window: MainWindow, manager: Manager, site: Path, idle: Idle) -> None:
    for n in range(8):
        manager.share("site", {"dir": str(site)}, name=f"s{n}", wait=False)
    window.refresh()
    idle(window)
    window.show()
    qtbot.waitExposed(window)
    window.services.select("s0")
    QApplication.processEvents()
    table = window.services.table
    rows = table.viewport().height() // table.verticalHeader().defaultSectionSize()
    assert rows >= 6, rows
