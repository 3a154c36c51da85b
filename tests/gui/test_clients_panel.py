"""A private service in the panel: its clients (Copy, Copy key, QR, add, remove), the time
left; and the address: Make persistent, Export key."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from myonion import keys
from myonion.manager import Manager, ServiceView
from myonion_gui.main_window import MainWindow
from myonion_gui.services_model import COLUMNS

Idle = Callable[[MainWindow], None]


def cell(window: MainWindow, name: str, column: str) -> Any:
    model = window.model
    return model.index(model.row_of(name), COLUMNS.index(column)).data()


def answer_questions(monkeypatch: pytest.MonkeyPatch,
                     answer: QMessageBox.StandardButton) -> list[str]:
    """Make QMessageBox.question answer ``answer``; returns the questions asked."""
    asked: list[str] = []

    def question(parent: object, title: str, text: str) -> QMessageBox.StandardButton:
        asked.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


@pytest.fixture
def private(window: MainWindow, manager: Manager, site: Path, idle: Idle,
            publish: Callable[..., str], qtbot: QtBot) -> MainWindow:
    """A published private service 'family' (clients alice and bob), selected."""
    manager.share("site", {"dir": str(site)}, name="family", clients=["alice", "bob"],
                  wait=False)
    publish("family")
    window.refresh()
    idle(window)
    window.services.select("family")
    qtbot.waitUntil(lambda: window.panel.clients.list.count() == 2)
    idle(window)
    return window


def test_the_panel_title_keeps_its_size_while_the_ttl_ticks(
        window: MainWindow, manager: Manager, site: Path, idle: Idle) -> None:
    """Every listing changes a TTL service's view, so the panel is shown again each time."""
    manager.share("site", {"dir": str(site)}, name="brief", ttl=3600, wait=False)
    window.refresh()
    idle(window)
    window.services.select("brief")
    size = window.panel.title.font().pointSizeF()
    subtitles = []
    for seconds in (300, 200, 100):
        manager.store.update("brief", expires_at=time.time() + seconds)
        window.refresh()
        idle(window)
        subtitles.append(window.panel.subtitle.text())
    assert len(set(subtitles)) == 3  # the panel was shown again each time
    assert all(s.endswith(" left") for s in subtitles)
    assert window.panel.title.font().pointSizeF() == size


# the panel of a private service ------------------------------------------------------------
def test_the_panel_lists_the_clients_and_copies_their_keys(private: MainWindow,
                                                           manager: Manager) -> None:
    panel = private.panel
    box = panel.clients
    assert panel.tabs.currentIndex() == panel.clients_tab
    assert panel.tabs.tabText(panel.clients_tab) == "Clients (2)"
    assert [box.list.item(i).text() for i in range(box.list.count())] == ["alice", "bob"]
    line = manager.client_line("family", "alice")
    assert box.current() is not None and box.current().name == "alice"  # type: ignore[union-attr]
    assert box.line.text() == line
    assert not box.qr.pixmap().isNull()

    box.copy_button.click()
    assert QGuiApplication.clipboard().text() == line
    box.copy_key_button.click()
    key = line.split("descriptor:x25519:", 1)[1]
    assert QGuiApplication.clipboard().text() == key
    assert key == manager.client_key("family", "alice").private_b32()

    box.select_client("bob")
    box.copy_button.click()
    assert QGuiApplication.clipboard().text() == manager.client_line("family", "bob")


def test_removing_a_client_asks_and_updates_the_list(
        qtbot: QtBot, private: MainWindow, manager: Manager, idle: Idle,
        monkeypatch: pytest.MonkeyPatch) -> None:
    box = private.panel.clients
    box.select_client("bob")
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    box.remove_button.click()
    assert asked == ["'bob' will no longer be able to connect to 'family'; the address stays."]
    idle(private)
    assert [c.name for c in manager.clients("family")] == ["alice", "bob"]

    answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    box.remove_button.click()
    qtbot.waitUntil(lambda: box.list.count() == 1)
    assert box.list.item(0).text() == "alice"
    assert [c.name for c in manager.clients("family")] == ["alice"]
    idle(private)
    assert cell(private, "family", "Access") == "private (1)"
    assert "'bob' can no longer connect" in private.messages.text()

    box.select_client("alice")
    box.remove_button.click()
    qtbot.waitUntil(lambda: box.list.count() == 0)
    idle(private)
    # still private: nobody can connect until a client is added
    assert cell(private, "family", "Access") == "private (0)"
    assert "nobody can connect until you add one" in box.summary.text()
    assert not box.remove_button.isEnabled() and box.details.isHidden()


def test_adding_a_client_shows_its_line_and_qr(qtbot: QtBot, private: MainWindow,
                                               manager: Manager, idle: Idle) -> None:
    box = private.panel.clients
    box.add_button.click()
    dialog = private.client_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.name_edit.setText("alice")
    dialog.add_button.click()
    assert dialog.isVisible() and dialog.error.text() == "There is a client named 'alice' already."
    dialog.name_edit.setText("Carol!")
    dialog.add_button.click()
    assert dialog.isVisible() and "not a valid client name" in dialog.error.text()
    idle(private)
    assert len(manager.clients("family")) == 2  # nothing was added

    dialog.name_edit.setText("carol")
    dialog.add_button.click()
    qtbot.waitUntil(lambda: box.current() is not None
                    and box.current().name == "carol")  # type: ignore[union-attr]
    assert box.line.text() == manager.client_line("family", "carol")
    assert not box.qr.pixmap().isNull()
    assert "'carol' may now connect" in private.messages.text()


def test_a_public_service_becomes_private_with_its_first_client(
        qtbot: QtBot, window: MainWindow, manager: Manager, site: Path, idle: Idle,
        publish: Callable[..., str]) -> None:
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    publish("blog")
    window.refresh()
    idle(window)
    window.services.select("blog")
    box = window.panel.clients
    assert box.list.isHidden() and "Public" in box.summary.text()
    box.add_button.click()
    dialog = window.client_dialog
    assert dialog is not None
    assert "public now" in dialog.findChild(type(box.summary)).text()  # type: ignore[union-attr]
    dialog.name_edit.setText("alice")
    dialog.add_button.click()
    qtbot.waitUntil(lambda: box.list.count() == 1 and not box.list.isHidden())
    idle(window)
    assert cell(window, "blog", "Access") == "private (1)"
    assert box.line.text() == manager.client_line("blog", "alice")


def test_a_client_known_by_its_public_key_has_nothing_to_copy(
        qtbot: QtBot, private: MainWindow, manager: Manager) -> None:
    public = keys.generate_client_key("dave").auth_line()
    manager.client_add("family", "dave", public_key=public)
    private.refresh()
    box = private.panel.clients
    qtbot.waitUntil(lambda: box.list.count() == 3)
    box.select_client("dave")
    assert box.list.currentItem().text() == "dave (public key only)"
    assert not box.copy_button.isEnabled() and not box.copy_key_button.isEnabled()
    assert box.qr.pixmap().isNull() and box.qr.text() == "no key here"


def test_a_stopped_ephemeral_service_still_gives_the_key_but_no_line(
        qtbot: QtBot, private: MainWindow, manager: Manager) -> None:
    manager.stop("family")
    private.refresh()
    box = private.panel.clients
    qtbot.waitUntil(lambda: box.current() is not None
                    and box.current().line is None)  # type: ignore[union-attr]
    assert box.copy_key_button.isEnabled() and not box.copy_button.isEnabled()
    assert box.key.text() == manager.client_key("family", "alice").private_b32()
    assert box.qr.text() == "no address right now"


# the address: make persistent, export the key -----------------------------------------------
def test_make_persistent_asks_then_promotes(
        qtbot: QtBot, private: MainWindow, manager: Manager, idle: Idle,
        monkeypatch: pytest.MonkeyPatch) -> None:
    panel = private.panel
    assert panel.promote_button.isVisibleTo(panel) and panel.promote_button.isEnabled()
    assert not panel.export_button.isVisibleTo(panel)
    promoted: list[str] = []

    def promote(name: str, timeout: float = 0) -> ServiceView:
        # the fake runtime has no tor to read a key from: do what the core's promote records
        promoted.append(name)
        manager.store.update(name, mode="persistent")
        return manager.status(name)

    monkeypatch.setattr(manager, "promote", promote)
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    panel.promote_button.click()
    assert "stays the same after restarts" in asked[0] and promoted == []

    answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    panel.promote_button.click()
    qtbot.waitUntil(lambda: cell(private, "family", "Mode") == "persistent")
    idle(private)
    assert promoted == ["family"]
    assert "'family' is persistent now" in private.messages.text()
    assert not panel.promote_button.isVisibleTo(panel)
    assert panel.export_button.isVisibleTo(panel)


def test_export_key_checks_the_passphrase_and_writes_a_private_file(
        qtbot: QtBot, window: MainWindow, manager: Manager, site: Path, tmp_path: Path,
        idle: Idle, publish: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    manager.share("site", {"dir": str(site)}, name="keep", persistent=True, wait=False)
    publish("keep")
    key = keys.generate_onion_key()
    # the fake runtime runs no tor: hand the manager the key its container would hold
    monkeypatch.setattr(manager, "read_key", lambda name: key)
    window.refresh()
    idle(window)
    window.services.select("keep")
    window.panel.export_button.click()
    dialog = window.export_dialog
    assert dialog is not None and dialog.isVisible()
    target = tmp_path / "keep.onionkey"
    dialog.file_edit.setText(str(target))
    dialog.first.setText("short")
    dialog.export_button.click()
    assert dialog.isVisible() and "at least 8 are needed" in dialog.passphrase_error.text()
    dialog.first.setText("correct horse")
    dialog.second.setText("correct hors")
    dialog.export_button.click()
    assert dialog.passphrase_error.text() == "The two passphrases differ."
    dialog.file_edit.setText(str(tmp_path / "missing" / "k.onionkey"))
    dialog.second.setText("correct horse")
    dialog.export_button.click()
    assert dialog.isVisible() and "does not exist" in dialog.file_error.text()
    assert not target.exists()

    dialog.file_edit.setText(str(target))
    with qtbot.waitSignal(window.controller.key_exported, timeout=10_000):
        dialog.export_button.click()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert keys.import_key(target.read_bytes(), "correct horse").address == key.address
    assert str(target) in window.messages.text()


def test_a_selection_in_the_key_survives_the_ttl_ticking(
        qtbot: QtBot, window: MainWindow, manager: Manager, site: Path, idle: Idle,
        publish: Callable[..., str]) -> None:
    """The list is polled every 2 s and a TTL changes every listing: what the user selected
    to copy by hand must stay selected."""
    manager.share("site", {"dir": str(site)}, name="brief", clients=["alice"], ttl=3600,
                  wait=False)
    publish("brief")
    window.refresh()
    idle(window)
    window.services.select("brief")
    box = window.panel.clients
    qtbot.waitUntil(lambda: box.key.text() != "")
    box.key.selectAll()
    window.panel.address.selectAll()
    before = window.panel.subtitle.text()
    manager.store.update("brief", expires_at=time.time() + 100)
    window.refresh()
    idle(window)
    assert window.panel.subtitle.text() != before  # the panel was shown again
    assert box.key.selectedText() == manager.client_key("brief", "alice").private_b32()
    assert window.panel.address.hasSelectedText()
