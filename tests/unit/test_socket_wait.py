"""Waiting for a service tor's control socket: found as soon as it is there, a dead container
noticed, and the engine asked whether it runs only now and then (20 services wait at once)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from myonion.errors import TorError
from myonion.tor import control


def test_the_socket_is_found_once_tor_opened_it(tmp_path: Path) -> None:
    def opened() -> None:
        (tmp_path / "control.sock").touch()
        (tmp_path / "control.authcookie").touch()

    timer = threading.Timer(0.3, opened)
    timer.start()
    control.wait_for_socket(tmp_path, timeout=10, alive=lambda: True)
    assert (tmp_path / "control.sock").exists()


def test_a_container_that_stopped_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TorError, match="stopped before tor opened"):
        control.wait_for_socket(tmp_path, timeout=10, alive=lambda: False)


def test_the_engine_is_asked_now_and_then_while_tor_starts(tmp_path: Path) -> None:
    asked: list[int] = []

    def alive() -> bool:
        asked.append(1)
        return True

    with pytest.raises(TorError, match="within 1 s"):
        control.wait_for_socket(tmp_path, timeout=1.0, alive=alive)
    # about 1 s of waiting with a look every 50 ms: the engine asked at 0, 0.5 and 1.0 s
    assert 1 <= len(asked) <= 3
