"""The question asked when the window closes while ephemeral services still run."""

from __future__ import annotations

from enum import Enum

from PySide6.QtWidgets import QMessageBox, QWidget


class CloseChoice(Enum):
    STOP = "stop"
    LEAVE = "leave"
    CANCEL = "cancel"


STOP_TEXT = "Stop them"
LEAVE_TEXT = "Leave them running"


def ask_about_running(parent: QWidget, names: list[str]) -> CloseChoice:
    """Stop the running ephemeral services, leave them running, or do not close."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Running services — myonion")
    listed = ", ".join(names)
    box.setText(f"{len(names)} ephemeral service(s) still running: {listed}.")
    box.setInformativeText("Stopping them forgets their addresses. Left running, they keep "
                           "serving after this window closes; manage them with `myonion` or "
                           "by opening the app again.")
    stop = box.addButton(STOP_TEXT, QMessageBox.ButtonRole.AcceptRole)
    leave = box.addButton(LEAVE_TEXT, QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    # Enter must not forget addresses: stopping (or leaving) is chosen on purpose
    box.setDefaultButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    if clicked == stop:
        return CloseChoice.STOP
    if clicked == leave:
        return CloseChoice.LEAVE
    return CloseChoice.CANCEL
