"""Sharing ahead (myonion_gui.ahead) on the fake engine: what the share dialog holds is
prepared while it is open (its service held), Share starts only the service, and anything
else — a change, Cancel — removes what was prepared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from myonion.manager import Manager
from myonion.services.readiness import HOLD_SERVICE
from myonion_gui.main_window import MainWindow
from myonion_gui.share_dialog import ShareDialog

Idle = Callable[[MainWindow], None]


def open_filled(window: MainWindow, folder: Path) -> ShareDialog:
    dialog = window.open_share_dialog("site", {"dir": str(folder)})
    assert dialog is not None
    dialog.access.choose_public()
    return dialog


def prepared(manager: Manager) -> list[str]:
    return [v.name for v in manager.list()
            if (manager.store.service_dir(v.name) / "conf" / HOLD_SERVICE).exists()]


def test_the_dialogs_share_is_prepared_and_share_only_starts_it(
        qtbot: QtBot, window: MainWindow, manager: Manager, site: Path, idle: Idle) -> None:
    dialog = open_filled(window, site)
    qtbot.waitUntil(lambda: prepared(manager) == ["site"], timeout=5000)
    dialog.share_button.click()
    idle(window)
    qtbot.waitUntil(lambda: prepared(manager) == [], timeout=5000)
    assert [v.name for v in manager.list()] == ["site"]  # the same service, now started
    assert window.model.views()[0].name == "site" and window.ahead.released == ["site"]


def test_a_changed_request_is_prepared_again_and_the_old_one_removed(
        qtbot: QtBot, window: MainWindow, manager: Manager, site: Path, tmp_path: Path,
        idle: Idle) -> None:
    dialog = open_filled(window, site)
    qtbot.waitUntil(lambda: prepared(manager) == ["site"], timeout=5000)
    dialog.name_edit.setText("blog")
    qtbot.waitUntil(lambda: prepared(manager) == ["blog"], timeout=5000)
    idle(window)
    assert [v.name for v in manager.list()] == ["blog"]  # "site" was removed
    dialog.share_button.click()
    idle(window)
    qtbot.waitUntil(lambda: prepared(manager) == [], timeout=5000)
    assert [v.name for v in manager.list()] == ["blog"]


def test_cancel_removes_what_was_prepared(qtbot: QtBot, window: MainWindow, manager: Manager,
                                         site: Path, idle: Idle) -> None:
    dialog = open_filled(window, site)
    qtbot.waitUntil(lambda: prepared(manager) == ["site"], timeout=5000)
    dialog.reject()
    idle(window)
    qtbot.waitUntil(lambda: manager.list() == [], timeout=5000)


def test_nothing_is_prepared_for_an_invalid_persistent_or_timed_request(
        qtbot: QtBot, window: MainWindow, manager: Manager, site: Path, tmp_path: Path,
        idle: Idle) -> None:
    dialog = open_filled(window, tmp_path / "missing")
    qtbot.wait(1500)
    assert manager.list() == []
    dialog.form().set_value("dir", str(site))
    dialog.access.set_ttl(2, "h")  # a time to live counts from the container's start
    qtbot.wait(1500)
    idle(window)
    assert manager.list() == []
    dialog.access.ttl_check.setChecked(False)
    dialog.persistent.setChecked(True)  # a persistent one keeps a key: made when asked
    qtbot.wait(1500)
    idle(window)
    assert manager.list() == []
    dialog.share_button.click()  # shared the ordinary way
    idle(window)
    assert [v.name for v in manager.list()] == ["site"] and prepared(manager) == []
