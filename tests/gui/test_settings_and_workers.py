"""Settings (network, base image, test network up/down), the worker plumbing, the entry point."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from myonion import errors
from myonion.events import Event, Stage
from myonion.manager import Manager
from myonion_gui import app
from myonion_gui.errors import UserError
from myonion_gui.main_window import MainWindow
from myonion_gui.settings import BASE_IMAGE_ENV, GuiSettings
from myonion_gui.workers import EventRouter, Runner


def test_testnet_buttons_drive_the_test_network(qtbot: QtBot, window: MainWindow,
                                                testnet: object) -> None:
    dialog = window.open_settings()
    qtbot.waitUntil(lambda: dialog.testnet_label.text() == "Running")
    assert dialog.down_button.isEnabled() and not dialog.up_button.isEnabled()
    dialog.down_button.click()
    # it asks first, Cancel being what Enter does
    confirm = dialog.confirm_dialog
    assert confirm is not None and confirm.isVisible()
    assert "Stop the test network?" in confirm.lost_text()
    assert confirm.cancel_button.isDefault() and not confirm.confirm_button.isDefault()
    confirm.cancel_button.click()
    assert testnet.calls == []  # type: ignore[attr-defined]
    dialog.down_button.click()
    assert dialog.confirm_dialog is not None
    dialog.confirm_dialog.confirm_button.click()
    qtbot.waitUntil(lambda: dialog.testnet_label.text() == "Stopped")
    dialog.up_button.click()
    qtbot.waitUntil(lambda: dialog.testnet_label.text() == "Running")
    assert testnet.calls == ["down", "up"]  # type: ignore[attr-defined]


def test_a_broken_test_network_is_a_message(qtbot: QtBot, window: MainWindow,
                                            testnet: object,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> bool:
        raise errors.TestnetError("The test network's authorities do not answer.")

    monkeypatch.setattr(testnet, "is_up", broken)
    dialog = window.open_settings()
    qtbot.waitUntil(lambda: dialog.testnet_label.text().startswith("Unknown"))
    assert window.messages.text() == ("The test network's authorities do not answer.\n"
                                      "Start it with `myonion testnet up`.")


def test_settings_choose_the_base_image_and_keep_the_pin(
        qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_IMAGE_ENV, "")  # restored after the test
    dialog = window.open_settings()
    assert not dialog.network.isEnabled()  # MYONION_NETWORK=local pins it
    dialog.base_image.setText("registry.example/debian:bookworm")
    dialog.accept()
    assert window.settings.base_image == "registry.example/debian:bookworm"
    assert os.environ[BASE_IMAGE_ENV] == "registry.example/debian:bookworm"
    # no jargon ("local network (pinned)"): where new services go, and why it is fixed
    assert window.network_label.text() == "New services: Test network (this computer only)"
    assert "MYONION_NETWORK=local" in window.network_label.toolTip()


def test_each_task_re_emits_only_its_own_events(qtbot: QtBot, manager: Manager) -> None:
    seen_by_core: list[Event] = []
    manager.reporter = seen_by_core.append
    router = EventRouter.install(manager)
    assert EventRouter.install(manager) is router  # installed once
    runner = Runner(router)
    gate = threading.Barrier(2)

    def work(name: str) -> str:
        gate.wait(timeout=5)  # both tasks report at the same time, on two threads
        for percent in (10, 90):
            manager.reporter(Event(Stage.BOOTSTRAPPING, "tor", percent, name))
        return name

    got: dict[str, list[Event]] = {"a": [], "b": []}
    for name in got:
        runner.submit(lambda name=name: work(name), on_event=got[name].append)  # type: ignore[misc]
    qtbot.waitUntil(lambda: runner.active == 0)
    assert [(e.service, e.percent) for e in got["a"]] == [("a", 10), ("a", 90)]
    assert [(e.service, e.percent) for e in got["b"]] == [("b", 10), ("b", 90)]
    assert len(seen_by_core) == 4  # the manager's own reporter still gets everything
    assert runner.wait(5000)


def test_unexpected_errors_become_a_sentence_not_a_traceback(qtbot: QtBot) -> None:
    runner = Runner()
    failures: list[UserError] = []
    missing: dict[str, int] = {}
    runner.submit(lambda: missing["key"], on_failed=failures.append)
    qtbot.waitUntil(lambda: runner.active == 0)
    assert failures[0].message == "Something unexpected went wrong: KeyError: 'key'"
    assert "Traceback" not in failures[0].text()


def test_app_without_docker_says_so_and_exits_1(monkeypatch: pytest.MonkeyPatch,
                                                 qtbot: QtBot, tmp_path: Path) -> None:
    def no_engine() -> Manager:
        raise errors.DockerUnavailable("The Docker engine is not reachable: no socket.")

    shown: list[str] = []
    monkeypatch.setattr(app, "Manager", no_engine)
    monkeypatch.setattr(QMessageBox, "critical",
                        lambda parent, title, text: shown.append(text))
    monkeypatch.setattr(app, "settings_store",
                        lambda: QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat))
    assert app.main([]) == 1
    assert shown == ["The Docker engine is not reachable: no socket.\n"
                     "Start the Docker engine (e.g. `systemctl start docker` or `dockerd &`) "
                     "and try again."]


def test_the_networks_are_explained_once(qtbot: QtBot, manager: Manager,
                                         tmp_path: Path) -> None:
    store = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    first = MainWindow(manager, GuiSettings.load(store), wait=False, poll_ms=0)
    qtbot.addWidget(first)
    qtbot.waitUntil(lambda: first.controller.runner.active == 0)
    assert not first.intro.isHidden()
    assert "Test network" in first.intro.label.text()
    assert "Public Tor network" in first.intro.label.text()
    first.intro.ok_button.click()
    assert first.intro.isHidden()
    first.settings.save(store)
    again = MainWindow(manager, GuiSettings.load(store), wait=False, poll_ms=0)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.controller.runner.active == 0)
    assert again.intro.isHidden()  # read once: not shown again (F1 shows it any time)
    assert again.commands.networks.shortcut().toString() == "F1"
