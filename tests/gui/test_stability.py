"""The crash of issue 18 (``bool_dealloc`` after minutes of polling) cannot come back: a long
run of listings, with a service whose time to live changes every row, leaves True's reference
count where it was."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from myonion.manager import Manager
from myonion_gui.main_window import MainWindow
from myonion_gui.workers import Runner, Task

LISTINGS = 300
WARM_UP = 10


def test_polling_for_minutes_keeps_true_alive(qtbot: QtBot, window: MainWindow,
                                              manager: Manager, site: Path,
                                              idle: Callable[[MainWindow], None],
                                              publish: Callable[..., str]) -> None:
    manager.share("site", {"dir": str(site)}, name="site", wait=False)
    manager.share("site", {"dir": str(site)}, name="with-ttl", ttl=3600, wait=False)
    publish("with-ttl")
    window.refresh()
    idle(window)
    window.services.select("with-ttl")
    for _ in range(WARM_UP):  # the first listings free what the window's start made
        window.refresh()
        idle(window)
    gc.collect()  # what earlier tests left holds references to True too
    before = sys.getrefcount(True)
    for _ in range(LISTINGS):  # ten minutes of the window's polling
        window.refresh()
        idle(window)
    gc.collect()
    # PySide6 6.12.0 took several references per listing (one per emit): 2000+ here
    assert before - sys.getrefcount(True) < LISTINGS // 10


def test_closed_dialogs_do_not_pile_up(qtbot: QtBot, window: MainWindow, manager: Manager,
                                       site: Path, idle: Callable[[MainWindow], None]) -> None:
    """The soak found every share dialog (some 350 objects, 2 MB) kept until the window
    closed: hours of sharing grew the app without bound."""

    def objects() -> int:
        qtbot.wait(10)  # closed dialogs are deleted by the event loop
        return len(window.findChildren(QObject))

    dialog = window.open_share_dialog()
    assert dialog is not None
    dialog.reject()
    before = objects()
    for n in range(5):
        dialog = window.open_share_dialog("site", {"dir": str(site)})
        assert dialog is not None
        dialog.access.choose_public()
        dialog.name_edit.setText(f"s{n}")
        with qtbot.waitSignal(window.controller.shared, timeout=10_000):
            dialog.share_button.click()
        idle(window)
        window.open_settings().reject()
        window.show_shortcuts()
        assert window.info_box is not None
        window.info_box.reject()
    assert objects() <= before + 20


def test_finished_tasks_are_let_go(qtbot: QtBot) -> None:
    """The soak found every worker task (with what its closures held: listings, logs) kept for
    as long as the window lived: the pool kept each QRunnable, and each task's slot held it."""
    runner = Runner()
    results: list[int] = []
    for n in range(50):
        runner.submit(lambda n=n: n, results.append)
    qtbot.waitUntil(lambda: runner.active == 0 and len(results) == 50)
    qtbot.wait(20)  # the last ones are let go right after their last signal
    gc.collect()
    assert [o for o in gc.get_objects() if isinstance(o, Task)] == []


def test_a_runner_gone_before_its_task_reports_is_no_error(qtbot: QtBot) -> None:
    """A window closed while a task still ran got that task's last signal after it was deleted
    ("Signal source has been deleted" in the event loop)."""
    import shiboken6

    owner = QObject()
    runner = Runner(parent=owner)
    results: list[int] = []
    runner.submit(lambda: 1, results.append)
    assert runner.pool.waitForDone(5000)  # done on its thread; its signals wait for the loop
    shiboken6.delete(owner)  # the window (and its runner) go first
    qtbot.wait(50)  # pytest-qt fails the test on any exception raised in the event loop
    assert results == []  # nothing was delivered to what is gone (its callbacks went too)
