"""Before the QApplication: missing X11 libraries named with their Debian packages, no display
said in words, and a Qt binding that would crash the app refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from myonion_gui import preflight

ROOT = Path(__file__).resolve().parents[2]


def test_missing_xcb_libraries_are_named_with_their_packages(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "unresolved_plugin_libraries", lambda: [])
    absent = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"}
    missing = preflight.missing_xcb_libraries(loads=lambda soname: soname not in absent)
    assert set(missing) == absent
    problem = preflight.xcb_problem(missing)
    assert problem is not None
    assert "Qt's X11 plugin needs libxcb-cursor.so.0, libxcb-icccm.so.4" in problem.message
    assert problem.hint.startswith(
        "Install them: sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1.")


def test_a_library_qt_needs_beyond_the_table_is_named_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "unresolved_plugin_libraries", lambda: ["libxcb-new.so.9"])
    problem = preflight.xcb_problem(preflight.missing_xcb_libraries(loads=lambda _: True))
    assert problem is not None
    assert "needs libxcb-new.so.9, which is not installed" in problem.message
    assert "the package that provides libxcb-new.so.9" in problem.hint


def test_nothing_missing_is_no_problem() -> None:
    assert preflight.xcb_problem([]) is None


@pytest.mark.parametrize(("env", "xcb"), [
    ({"DISPLAY": ":0"}, True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
    ({"QT_QPA_PLATFORM": "xcb"}, True),
    ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, False),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, False),
    ({}, False),
])
def test_the_xcb_check_runs_only_where_qt_uses_xcb(env: dict[str, str], xcb: bool) -> None:
    assert preflight.platform_is_xcb(env, platform="linux") is xcb
    assert not preflight.platform_is_xcb(env, platform="darwin")


def test_no_display_is_said_in_words() -> None:
    problem = preflight.display_problem({}, platform="linux")
    assert problem is not None and "no display" in problem.message
    assert preflight.display_problem({"DISPLAY": ":3"}, platform="linux") is None
    assert preflight.display_problem({"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None


def test_setup_host_installs_every_library_the_check_names() -> None:
    script = (ROOT / "scripts" / "setup-host.sh").read_text()
    listed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", " ".join(
        re.findall(r"PACKAGES\+?=\(([^)]*)\)", script))))
    assert set(preflight.XCB_LIBRARIES.values()) <= listed
    assert {"xvfb", "xauth"} <= listed


def test_this_qt_binding_keeps_its_references() -> None:
    """PySide6 6.12.0 fails here: each emit() takes a reference from True (bool_dealloc)."""
    assert not preflight.signal_emit_loses_references()
    assert preflight.binding_problem() is None


def test_a_binding_that_loses_references_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "signal_emit_loses_references", lambda: True)
    problem = preflight.binding_problem()
    assert problem is not None
    assert "loses a reference to True with every Qt signal" in problem.message
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in problem.message
    assert "pip install 'PySide6-Essentials!=6.12.0'" in problem.hint
    assert problem in preflight.problems({"QT_QPA_PLATFORM": "offscreen"})


def test_myonion_gui_says_it_in_words_instead_of_a_qt_abort(tmp_path: Path) -> None:
    """Without a display Qt would abort with "could not connect to display"."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    cli = Path(sys.executable).with_name("myonion")
    result = subprocess.run([str(cli), "gui"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("myonion-gui: The desktop app found no display")
    assert "Traceback" not in result.stderr and "qt.qpa" not in result.stderr
