"""The driver of test_real_window.py: the real app on a real X server, used with the keyboard
and the mouse (QTest events on the real window), on the real engine and the test network.

    DISPLAY=:N QT_QPA_PLATFORM=xcb python tests/gui/real_window.py FOLDER NAME SHOT_DIR

Ctrl+N opens the share dialog; the folder is typed into its field, the name too, "Public" is
clicked, and "Share" once the app has prepared the share (as a user still reading the
dialog). Once the window says "reachable" it prints one JSON line (the link shown, the state,
the screenshot's path, the seconds from Share to reachable, whether the prepared share was
used) and waits for a line on stdin (the test fetched the page
through its own tor client meanwhile); then it removes the service with the Remove button and
the confirmation's button, and exits 0. Any failure exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import faulthandler
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from myonion.manager import Manager
from myonion_gui.main_window import MainWindow
from myonion_gui.settings import GuiSettings

SHARE_TIMEOUT = 300.0


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               window: MainWindow | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            said = f" (the window says: {window.messages.text()!r}; listed: " \
                f"{[(v.name, v.state, v.stage) for v in window.model.views()]})" if window else ""
            raise SystemExit(f"timed out waiting for {what}{said}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def click(widget: QWidget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)
    QCoreApplication.processEvents()


def share(window: MainWindow, folder: str, name: str) -> None:
    window.activateWindow()
    wait_until(window.isActiveWindow, 10, "the window to be active")
    QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    dialog = window.share_dialog
    wait_until(lambda: dialog is not None and dialog.isVisible(), 10, "the share dialog")
    assert dialog is not None
    wait_until(dialog.isActiveWindow, 10, "the share dialog to be active")
    field = dialog.form().editors["dir"].edit  # type: ignore[attr-defined]
    dialog.scroll_area.ensureWidgetVisible(field)
    click(field)
    QTest.keyClicks(field, folder)
    dialog.scroll_area.ensureWidgetVisible(dialog.name_edit)
    click(dialog.name_edit)
    QTest.keyClicks(dialog.name_edit, name)
    dialog.scroll_area.ensureWidgetVisible(dialog.access.public)
    click(dialog.access.public)
    # as a user reading the dialog before pressing Share: the app prepares the share meanwhile
    wait_until(lambda: window.ahead.ready, 120, "the share to be prepared ahead")
    click(dialog.share_button)
    wait_until(lambda: not dialog.isVisible(), 10, "the dialog to close (refused?)")


def main(argv: list[str]) -> int:
    faulthandler.enable()
    folder, name, shots = argv[1], argv[2], Path(argv[3])
    app = QApplication([argv[0]])
    window = MainWindow(Manager(), GuiSettings(network="local", intro_seen=True))
    window.resize(1100, 760)
    window.show()
    share(window, folder, name)
    pressed = time.monotonic()

    def shared() -> bool:  # reachable, or failed with the reason in the window
        listed = window.model.view(name)
        return window.messages.kind == "error" or (
            listed is not None and listed.stage in ("reachable", "failed"))

    wait_until(shared, SHARE_TIMEOUT, "the share", window)
    after_share = round(time.monotonic() - pressed, 2)
    view = window.model.view(name)
    if window.messages.kind == "error" or view is None or view.stage != "reachable":
        raise SystemExit(f"not reachable: {window.messages.text()} {view}")
    wait_until(lambda: window.panel.view is not None and window.panel.view.name == name, 10,
               "the panel")
    QTest.qWait(300)  # let the window paint before the X server is photographed
    shot = shots / "real-window.png"
    screen = window.screen()
    screen.grabWindow(0).save(str(shot))  # the X server's own picture of the screen
    print(json.dumps({"link": window.panel.address.text(), "state": view.stage,
                      "pill": window.panel.pill.text(), "screenshot": str(shot),
                      "share_to_reachable_s": after_share,
                      "shared_ahead": name in window.ahead.released}), flush=True)
    sys.stdin.readline()  # the test checked the page through its own tor client
    click(window.panel.remove_button)
    wait_until(lambda: window.confirm_dialog is not None and window.confirm_dialog.isVisible(),
               10, "the remove confirmation")
    assert window.confirm_dialog is not None
    click(window.confirm_dialog.confirm_button)
    wait_until(lambda: window.model.view(name) is None and window.controller.runner.active == 0,
               120, "the removal")
    window.close()
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
