"""Entry point of the desktop app (``myonion-gui`` and ``myonion gui``)."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from myonion.errors import MyOnionError
from myonion.manager import Manager
from myonion_gui import preflight
from myonion_gui.errors import UserError
from myonion_gui.main_window import MainWindow
from myonion_gui.settings import GuiSettings


def settings_store() -> QSettings:
    """<user config dir>/myonion/gui.ini, beside the core's own configuration."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "myonion", "gui")


def main(argv: list[str] | None = None) -> int:
    """Open the main window on the real Docker engine; returns the exit status."""
    args = sys.argv if argv is None else [sys.argv[0], *argv]
    logging.basicConfig(level=logging.DEBUG if "--debug" in args else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance()
    if app is None:
        # before Qt is asked for a window: a missing library or a faulty binding is said in
        # words here, where Qt would abort or crash later
        problems = preflight.problems()
        for problem in problems:
            print(f"myonion-gui: {problem.text()}", file=sys.stderr)
        if problems:
            return 1
        app = QApplication(args)
    app.setApplicationName("myonion")
    app.setOrganizationName("myonion")
    store = settings_store()
    settings = GuiSettings.load(store)
    try:
        manager = Manager()
    except MyOnionError as e:
        # e.g. no Docker engine: say so in words, not with a traceback
        error = UserError.from_exception(e)
        QMessageBox.critical(None, "myonion", error.text())
        return 1
    window = MainWindow(manager, settings)
    window.show()
    status = app.exec()
    window.settings.save(store)
    window.controller.runner.wait()
    return int(status)
