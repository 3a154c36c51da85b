"""The crash of issue 18 (``bool_dealloc`` after minutes of polling) cannot come back: a long
run of listings, with a service whose time to live changes every row, leaves True's reference
count where it was."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from myonion.manager import Manager
from myonion_gui.main_window import MainWindow

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
