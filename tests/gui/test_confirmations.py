"""No address is lost by accident (issue 18): the questions name what goes, Cancel is the
default, and "Export key…" is right there while the key can still be read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from myonion.manager import Manager, container_name
from myonion.runtime.fake import FakeRuntime
from myonion_gui import close_prompt
from myonion_gui.access_dialogs import ExportKeyDialog
from myonion_gui.confirm import LossDialog
from myonion_gui.main_window import MainWindow

Idle = Callable[[MainWindow], None]


def listed(window: MainWindow, idle: Idle) -> None:
    window.refresh()
    idle(window)


def asked(window: MainWindow) -> LossDialog:
    dialog = window.confirm_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_removing_a_persistent_private_service_names_what_is_lost(
        qtbot: QtBot, window: MainWindow, manager: Manager, runtime: FakeRuntime, site: Path,
        idle: Idle, publish: Callable[..., str]) -> None:
    manager.share("site", {"dir": str(site)}, name="photos", persistent=True,
                  clients=["alice", "bob"], wait=False)
    address = publish("photos")
    listed(window, idle)
    window.services.select("photos")
    qtbot.waitUntil(lambda: len(window.panel.clients.entries) == 2)
    window.panel.remove_button.click()
    dialog = asked(window)
    text = dialog.lost_text()
    assert "Remove 'photos'?" in text
    assert address in text and "exported key" in text
    assert "2 client key(s) (alice, bob)" in text
    # Enter is Cancel: the risky button must be chosen on purpose
    assert dialog.cancel_button.isDefault() and not dialog.confirm_button.isDefault()
    assert dialog.export_button is not None
    dialog.export_button.click()  # right there, on top of the question
    assert isinstance(window.export_dialog, ExportKeyDialog)
    assert window.export_dialog.isVisible() and window.export_dialog.parent() is dialog
    window.export_dialog.reject()
    QTest.keyClick(dialog, Qt.Key.Key_Return)
    assert not dialog.isVisible()
    idle(window)
    assert container_name("photos") in runtime.containers  # Enter cancelled
    window.panel.remove_button.click()
    asked(window).confirm_button.click()
    qtbot.waitUntil(lambda: window.model.view("photos") is None)
    assert container_name("photos") not in runtime.containers


def test_removing_a_receiver_names_its_readings(qtbot: QtBot, window: MainWindow,
                                                manager: Manager, idle: Idle) -> None:
    manager.share("iot-receiver", {"devices": "kitchen"}, name="iot", wait=False)
    listed(window, idle)
    window.remove("iot")
    assert "every reading it has stored" in asked(window).lost_text()
    asked(window).cancel_button.click()


def test_stopping_an_ephemeral_service_asks_and_offers_the_key(
        qtbot: QtBot, window: MainWindow, manager: Manager, runtime: FakeRuntime, site: Path,
        idle: Idle, publish: Callable[..., str]) -> None:
    manager.share("site", {"dir": str(site)}, name="eph", wait=False)
    address = publish("eph")
    listed(window, idle)
    window.services.select("eph")
    window.panel.power_button.click()
    dialog = asked(window)
    assert "Stop 'eph'? It is ephemeral." in dialog.lost_text()
    assert address in dialog.lost_text() and "the next start gets a new one" in \
        dialog.lost_text()
    assert dialog.export_button is not None  # the key is still readable: it runs
    dialog.cancel_button.click()
    idle(window)
    assert runtime.containers[container_name("eph")][1].status == "running"
    window.panel.power_button.click()
    asked(window).confirm_button.click()
    qtbot.waitUntil(lambda: window.model.view("eph").state == "stopped")  # type: ignore[union-attr]


def test_stopping_a_persistent_service_asks_nothing(qtbot: QtBot, window: MainWindow,
                                                    manager: Manager, site: Path, idle: Idle,
                                                    publish: Callable[..., str]) -> None:
    manager.share("site", {"dir": str(site)}, name="kept", persistent=True, wait=False)
    publish("kept")
    listed(window, idle)
    window.services.select("kept")
    window.panel.power_button.click()
    assert window.confirm_dialog is None  # its address stays: nothing to lose
    qtbot.waitUntil(lambda: window.model.view("kept").state == "stopped")  # type: ignore[union-attr]


def test_the_test_network_cannot_be_stopped_under_its_services(
        window: MainWindow, manager: Manager, site: Path, idle: Idle,
        testnet: object) -> None:
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    listed(window, idle)
    settings = window.open_settings()
    settings.down_button.click()
    dialog = settings.confirm_dialog
    assert dialog is not None
    assert "used by 1 service(s): blog" in dialog.lost_text()
    assert dialog.confirm_button.isHidden()  # only Cancel: the core would refuse anyway
    dialog.cancel_button.click()
    assert testnet.calls == []  # type: ignore[attr-defined]
    settings.reject()


def test_closing_with_ephemeral_services_defaults_to_cancel(
        window: MainWindow, manager: Manager, site: Path, idle: Idle,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    manager.share("site", {"dir": str(site)}, name="eph", wait=False)
    listed(window, idle)
    window.show()
    defaults: list[str] = []

    def exec_(box: QMessageBox) -> int:
        default = box.defaultButton()
        defaults.append(default.text() if default is not None else "")
        box.button(QMessageBox.StandardButton.Cancel).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    window.close()
    assert window.isVisible()
    cancel = QMessageBox(window).addButton(QMessageBox.StandardButton.Cancel).text()
    assert defaults == [cancel] and defaults[0] not in (close_prompt.STOP_TEXT,
                                                        close_prompt.LEAVE_TEXT)
