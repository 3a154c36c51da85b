"""Access when sharing: clients and a time to live in the share dialog (checked inline, nothing
built until they pass), passed to the manager; the Access and TTL columns of the list."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from myonion.manager import Manager, ServiceView, container_name
from myonion.runtime.fake import FakeRuntime
from myonion_gui.main_window import MainWindow
from myonion_gui.services_model import COLUMNS
from myonion_gui.share_dialog import ShareDialog

Idle = Callable[[MainWindow], None]


def cell(window: MainWindow, name: str, column: str) -> Any:
    model = window.model
    return model.index(model.row_of(name), COLUMNS.index(column)).data()


def open_share(window: MainWindow, folder: Path) -> ShareDialog:
    dialog = window.open_share_dialog()
    assert dialog is not None
    dialog.form().set_value("dir", str(folder))
    return dialog


def open_public_share(window: MainWindow, folder: Path) -> ShareDialog:
    dialog = open_share(window, folder)
    dialog.access.choose_public()
    return dialog


def nothing_was_built(window: MainWindow, runtime: FakeRuntime, manager: Manager) -> bool:
    return (window.controller.runner.active == 0 and runtime.builds == []
            and runtime.containers == {} and manager.store.all() == [])


# the share dialog ---------------------------------------------------------------------------
def test_bad_client_names_are_refused_inline_and_nothing_is_built(
        window: MainWindow, runtime: FakeRuntime, manager: Manager, site: Path) -> None:
    dialog = open_share(window, site)
    access = dialog.access
    access.private.setChecked(True)
    dialog.share_button.click()  # private, but nobody named
    assert dialog.isVisible() and dialog.request is None
    assert access.client_error.text() == "Add at least one client, or choose Public."

    access.client_edit.setText("Bob Smith")
    dialog.share_button.click()
    assert dialog.isVisible() and dialog.request is None
    assert access.client_error.text().startswith("'Bob Smith' is not a valid client name.")
    assert "lower-case letters" in access.client_error.text()
    assert access.clients() == []

    access.client_edit.setText("alice")
    access.add_button.click()
    access.client_edit.setText("alice")
    access.add_button.click()
    assert access.client_error.text() == "'alice' is in the list already."
    assert access.clients() == ["alice"]
    assert nothing_was_built(window, runtime, manager)


def test_a_bad_time_to_live_is_refused_inline(window: MainWindow, runtime: FakeRuntime,
                                               manager: Manager, site: Path) -> None:
    dialog = open_public_share(window, site)
    dialog.access.set_ttl(400, "d")
    dialog.share_button.click()
    assert dialog.isVisible() and dialog.request is None
    assert dialog.access.ttl_error.text() == (
        "A time to live of 400d0h is out of range. Give between 10s and 366d.")
    assert nothing_was_built(window, runtime, manager)
    dialog.access.set_ttl(90, "m")
    assert dialog.access.validate() is not None
    assert dialog.access.ttl_error.isHidden()


def test_enter_in_the_client_field_adds_the_client_and_does_not_share(
        qtbot: QtBot, window: MainWindow, runtime: FakeRuntime, manager: Manager,
        site: Path) -> None:
    dialog = open_share(window, site)
    dialog.access.private.setChecked(True)
    qtbot.keyClicks(dialog.access.client_edit, "carol")
    qtbot.keyClick(dialog.access.client_edit, Qt.Key.Key_Return)
    assert dialog.access.clients() == ["carol"] and dialog.access.client_edit.text() == ""
    assert dialog.isVisible() and dialog.request is None
    assert nothing_was_built(window, runtime, manager)


def test_clients_are_ignored_when_public_is_chosen_again(window: MainWindow,
                                                         site: Path) -> None:
    dialog = open_share(window, site)
    dialog.access.add_client("alice")
    assert dialog.access.private.isChecked()  # naming a client makes it private
    dialog.access.public.setChecked(True)
    assert not dialog.access.clients_area.isEnabled()
    choice = dialog.access.validate()
    assert choice is not None and choice.clients == () and choice.ttl is None


def test_sharing_with_clients_and_a_ttl_drives_the_manager(
        qtbot: QtBot, window: MainWindow, runtime: FakeRuntime, manager: Manager,
        site: Path, idle: Idle) -> None:
    dialog = open_share(window, site)
    dialog.name_edit.setText("family")
    dialog.access.private.setChecked(True)
    dialog.access.add_client("alice")
    dialog.access.client_edit.setText("bob")  # typed, not added: taken when sharing
    dialog.access.set_ttl(2, "h")
    before = time.time()
    with qtbot.waitSignal(window.controller.shared, timeout=10_000) as shared:
        dialog.share_button.click()
    view: ServiceView = shared.args[0]

    assert view.private and view.clients == 2
    assert container_name("family") in runtime.containers
    record = manager.store.get("family")
    assert record is not None and record.private
    assert record.expires_at is not None
    assert before + 7200 <= record.expires_at <= time.time() + 7200
    assert [c.name for c in manager.clients("family")] == ["alice", "bob"]
    idle(window)
    assert cell(window, "family", "Access") == "private (2)"


# the list -----------------------------------------------------------------------------------
def test_the_ttl_column_shows_the_time_left(window: MainWindow, manager: Manager, site: Path,
                                            idle: Idle) -> None:
    manager.share("site", {"dir": str(site)}, name="brief", ttl=3600, wait=False)
    manager.share("site", {"dir": str(site)}, name="open", wait=False)
    window.refresh()
    idle(window)
    assert cell(window, "brief", "TTL left") in ("1h00m", "59m")
    assert cell(window, "open", "TTL left") == "—"
    assert cell(window, "open", "Access") == "public"
    assert "removed when its time to live runs out" in window.model.index(
        window.model.row_of("brief"), COLUMNS.index("TTL left")).data(
        Qt.ItemDataRole.ToolTipRole)
    # the time left is counted again with every listing
    manager.store.update("brief", expires_at=time.time() + 125.4)
    window.refresh()
    idle(window)
    assert cell(window, "brief", "TTL left") in ("2m05s", "2m04s")


def test_a_service_whose_time_ran_out_goes_away_with_a_message(
        window: MainWindow, manager: Manager, runtime: FakeRuntime, site: Path,
        idle: Idle) -> None:
    manager.share("site", {"dir": str(site)}, name="brief", ttl=3600, wait=False)
    manager.share("site", {"dir": str(site)}, name="stays", ttl=3600, wait=False)
    window.refresh()
    idle(window)
    manager.store.update("brief", expires_at=time.time() + 3)
    window.refresh()
    idle(window)
    assert cell(window, "brief", "TTL left") in ("3s", "2s")
    manager.store.update("brief", expires_at=time.time() - 1)  # as if 4 s went by
    window.refresh()  # the listing lets the manager end it (ephemeral: removed)
    idle(window)
    assert [v.name for v in window.model.views()] == ["stays"]
    assert container_name("brief") not in runtime.containers
    assert window.messages.text() == "'brief' was removed: its time to live ran out."

