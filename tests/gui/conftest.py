"""GUI fixtures: the whole window on the fake runtime, offscreen, one myonion home per test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from gui.main_window import MainWindow
from myonion.manager import Manager
from myonion.onion import address_from_public_key
from myonion.runtime.fake import FakeRuntime
from myonion.services.store import StateStore
from tests.fakes import FakeTestnet


class ThreadSafeRuntime:
    """The fake runtime behind a lock: the GUI calls it from several worker threads at once,
    as it does the (thread-safe) Docker engine."""

    def __init__(self, fake: FakeRuntime) -> None:
        self.fake = fake
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.fake, name)
        if not callable(value):
            return value

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return value(*args, **kwargs)

        return locked


@pytest.fixture
def manager(runtime: FakeRuntime, testnet: FakeTestnet) -> Manager:
    # the GUI calls the runtime from worker threads
    return Manager(runtime=ThreadSafeRuntime(runtime), store=StateStore(), testnet=testnet)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "my-site"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>hello</h1>\n")
    return folder


@pytest.fixture
def make_window(qtbot: QtBot, manager: Manager) -> Iterator[Callable[..., MainWindow]]:
    """Build main windows on the fake runtime (no waiting for tor; no polling unless asked)."""
    windows: list[MainWindow] = []

    def make(poll_ms: int = 0) -> MainWindow:
        # not qtbot.addWidget: pytest-qt would close it before this fixture's teardown
        window = MainWindow(manager, wait=False, poll_ms=poll_ms)
        windows.append(window)
        wait_idle(qtbot, window)
        return window

    yield make
    # after every worker has reported back, forget the services so closing asks nothing
    for window in windows:
        window.timer.stop()
        wait_idle(qtbot, window)
        window.model.set_services([])
        window.close()
        window.deleteLater()


@pytest.fixture
def window(make_window: Callable[..., MainWindow]) -> MainWindow:
    return make_window()


@pytest.fixture
def idle(qtbot: QtBot) -> Callable[[MainWindow], None]:
    """Wait until every worker of a window has delivered its result to the GUI thread."""
    return lambda window: wait_idle(qtbot, window)


@pytest.fixture
def publish(manager: Manager) -> Callable[..., str]:
    """Make a fake service look published, as tor does: its hostname in the control dir."""
    return lambda name, seed=7: give_address(manager, name, seed)


def wait_idle(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.controller.runner.active == 0)


def give_address(manager: Manager, name: str, seed: int = 7) -> str:
    address = address_from_public_key(bytes([seed]) * 32)
    ctl = manager.store.service_dir(name) / "ctl"
    ctl.mkdir(exist_ok=True)
    (ctl / "hostname").write_text(address + "\n")
    return address
