"""What must hold before the app creates its QApplication, said in words instead of a crash.

Two things are checked:

- **The Qt binding.** PySide6 6.12.0's ``SignalInstance.emit()`` returns ``True`` without a
  reference of its own, so every emit whose result is dropped takes one reference away from
  ``True``. Python 3.11's ``True`` is an ordinary object: after a few thousand signals its count
  reaches zero and the process dies with ``Fatal Python error: bool_dealloc`` wherever the last
  emit happens to be (issue 18 saw it in the services model's ``refreshed.emit()``). From
  Python 3.12 on ``True`` is immortal and the bug is harmless. The probe emits a few signals and
  watches ``True``'s count, so a later release with the same fault is caught too.
- **The X11 platform plugin.** Qt's xcb plugin links a dozen xcb libraries that a fresh Debian
  desktop may lack; Qt then aborts with a message that names the wrong one. The libraries are
  looked for here first (dlopen by soname), and a missing one is named with its Debian package.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: every library Qt's xcb platform plugin (libqxcb.so, libQt6XcbQpa.so.6) links beyond what
#: Qt itself needs, with the Debian 12 package that provides it
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
#: emits of the binding probe; a faulty binding takes exactly this many references from True
PROBE_EMITS = 16
FIXED_BINDING = "PySide6-Essentials!=6.12.0"


@dataclass(frozen=True)
class Problem:
    """Why the app cannot start, and what to do about it."""

    message: str
    hint: str

    def text(self) -> str:
        return f"{self.message}\n{self.hint}"


def platform_is_xcb(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Will Qt use its X11 (xcb) plugin? Only on Linux, when asked for or left to choose on an
    X display (Qt prefers Wayland when a Wayland session offers it)."""
    if not platform.startswith("linux"):
        return False
    wanted = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if wanted:
        return wanted == "xcb"
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return False
    return bool(env.get("DISPLAY"))


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libraries(loads: Callable[[str], bool] = _loads) -> list[str]:
    """The sonames of XCB_LIBRARIES this system cannot load, plus any other library the plugin
    needs and the dynamic loader does not find (a newer Qt may need one more)."""
    missing = [soname for soname in XCB_LIBRARIES if not loads(soname)]
    for soname in unresolved_plugin_libraries():
        if soname not in missing:
            missing.append(soname)
    return missing


def unresolved_plugin_libraries() -> list[str]:
    """What ``ldd`` says is "not found" for Qt's xcb plugin (empty if ldd or Qt is absent)."""
    ldd = shutil.which("ldd")
    plugin = _xcb_plugin()
    if ldd is None or plugin is None:
        return []
    try:
        output = subprocess.run([ldd, str(plugin)], capture_output=True, text=True,
                                timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(set(re.findall(r"^\s*(\S+) => not found", output, re.MULTILINE)))


def _xcb_plugin() -> Path | None:
    try:
        from PySide6.QtCore import QLibraryInfo
    except ImportError:
        return None
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    path = plugins / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def xcb_problem(missing: list[str]) -> Problem | None:
    """The missing xcb libraries as one sentence with the ``apt install`` line that fixes it."""
    if not missing:
        return None
    packages = sorted({XCB_LIBRARIES[s] for s in missing if s in XCB_LIBRARIES})
    unknown = [s for s in missing if s not in XCB_LIBRARIES]
    hint = f"Install them: sudo apt install {' '.join(packages)}" if packages else ""
    if unknown:
        hint += ("; " if hint else "") + ("and the package that provides " + ", ".join(unknown)
                                          + " (apt-file search NAME finds it)")
    return Problem(
        "The desktop app cannot open a window: Qt's X11 plugin needs "
        f"{', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed.",
        hint + ". (scripts/setup-host.sh installs everything the app needs on Debian.)")


def signal_emit_loses_references() -> bool:
    """True when this Qt binding takes a reference from ``True`` with every ``emit()``."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    before = sys.getrefcount(True)
    for _ in range(PROBE_EMITS):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    return lost >= PROBE_EMITS // 2


def binding_problem() -> Problem | None:
    if not signal_emit_loses_references():
        return None
    from PySide6 import __version__ as version

    return Problem(
        f"This PySide6 ({version}) loses a reference to True with every Qt signal; under "
        f"Python {sys.version_info.major}.{sys.version_info.minor} the app would crash within "
        "minutes (\"bool_dealloc\").",
        f"Install another release: pip install '{FIXED_BINDING}'.")


def display_problem(env: Mapping[str, str] = os.environ,
                    platform: str = sys.platform) -> Problem | None:
    """No display at all on Linux (and no platform chosen): Qt could only abort."""
    if (not platform.startswith("linux") or env.get("QT_QPA_PLATFORM")
            or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return None
    return Problem("The desktop app found no display to open its window on.",
                   "Start it from a desktop session (DISPLAY or WAYLAND_DISPLAY set), or use "
                   "the command line: myonion --help.")


def problems(env: Mapping[str, str] = os.environ) -> list[Problem]:
    """Everything that would make the app crash or fail to open its window, in words."""
    found = []
    no_display = display_problem(env)
    if no_display is not None:
        found.append(no_display)
    elif platform_is_xcb(env):
        problem = xcb_problem(missing_xcb_libraries())
        if problem is not None:
            found.append(problem)
    problem = binding_problem()
    if problem is not None:
        found.append(problem)
    return found
