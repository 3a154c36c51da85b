"""What changed between two listings that the user should hear about, and desktop notifications.

``transitions`` compares the services before and after a listing: one became reachable, one
failed, one's time to live ran out. ``Notifier`` shows them on the desktop: through the system
tray when there is one, else through org.freedesktop.Notifications (``gdbus``, or
``notify-send``), else not at all: a missing notification service is never an error.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, QProcess
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from myonion.events import Stage
from myonion.manager import ServiceView
from myonion_gui.state_look import Tone, look

#: a service listed with less time left than this, and gone (or stopped) in the next listing,
#: ran out of time
EXPIRY_SLACK = 5.0
APP_NAME = "myonion"
SHOW_MS = 8000


@dataclass(frozen=True)
class Notice:
    """One thing to tell: ``kind`` is "reachable", "failed" or "expired"."""

    kind: str
    service: str
    text: str


def transitions(old: list[ServiceView], new: list[ServiceView], now: float) -> list[Notice]:
    """What happened between two listings; services not listed before are not news."""
    before = {v.name: v for v in old}
    after = {v.name: v for v in new}
    notices = []
    for name, was in before.items():
        ran_out = was.expires_at is not None and was.expires_at <= now + EXPIRY_SLACK
        now_is = after.get(name)
        if ran_out and now_is is None:
            notices.append(Notice("expired", name,
                                  f"'{name}' was removed: its time to live ran out."))
        elif (ran_out and now_is is not None and was.state == "running"
              and now_is.state == "stopped"):
            notices.append(Notice("expired", name, f"'{name}' was stopped: its time to live ran "
                                  "out (it keeps its address)."))
    for name, view in after.items():
        if name not in before:
            continue
        was = before[name]
        if (view.state == "running" and view.stage == Stage.REACHABLE
                and was.stage != Stage.REACHABLE):
            notices.append(reachable_notice(view))
        if look(view).tone is Tone.BAD and look(was).tone is not Tone.BAD:
            reason = f": {view.reason}" if view.reason else "."
            notices.append(Notice("failed", name, f"'{name}' failed{reason}"))
    return notices


def reachable_notice(view: ServiceView) -> Notice:
    where = f" at {view.address}" if view.address else ""
    return Notice("reachable", view.name, f"'{view.name}' is reachable{where}.")


#: notices kept in :attr:`Notifier.sent` (an app open for days would keep every one)
KEPT = 50


class Notifier(QObject):
    """Desktop notifications, best effort; ``sent`` keeps the last :data:`KEPT` shown (newest
    last), ``count`` how many were shown in all."""

    def __init__(self, icon: QIcon, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sent: deque[Notice] = deque(maxlen=KEPT)
        self.count = 0
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon, self)
            self.tray.setToolTip(APP_NAME)
            self.tray.show()
        self.command = self._command()

    @staticmethod
    def _command() -> str | None:
        """The tool that reaches org.freedesktop.Notifications, when there is a desktop with a
        session bus (offscreen, e.g. in tests, there is nobody to tell)."""
        if (QGuiApplication.platformName() in ("offscreen", "minimal")
                or not os.environ.get("DBUS_SESSION_BUS_ADDRESS")):
            return None
        for tool in ("gdbus", "notify-send"):
            if shutil.which(tool):
                return tool
        return None

    def notify(self, notice: Notice) -> None:
        """Show ``notice`` on the desktop if the desktop can; never raises."""
        self.sent.append(notice)
        self.count += 1
        title = {"reachable": "Reachable", "failed": "Failed", "expired": "Time ran out"}.get(
            notice.kind, APP_NAME)
        if self.tray is not None and self.tray.supportsMessages():
            icon = (QSystemTrayIcon.MessageIcon.Warning if notice.kind == "failed"
                    else QSystemTrayIcon.MessageIcon.Information)
            self.tray.showMessage(f"{APP_NAME}: {title}", notice.text, icon, SHOW_MS)
        elif self.command == "gdbus":
            # typed GVariant text: Notify is (susssasa{sv}i)
            QProcess.startDetached("gdbus", [
                "call", "--session", "--dest", "org.freedesktop.Notifications",
                "--object-path", "/org/freedesktop/Notifications",
                "--method", "org.freedesktop.Notifications.Notify",
                gvariant_text(APP_NAME), "uint32 0", "''", gvariant_text(f"{APP_NAME}: {title}"),
                gvariant_text(notice.text), "@as []", "@a{sv} {}", f"int32 {SHOW_MS}"])
        elif self.command == "notify-send":
            QProcess.startDetached("notify-send", ["--app-name", APP_NAME,
                                                   f"{APP_NAME}: {title}", notice.text])


def gvariant_text(text: str) -> str:
    """``text`` as a GVariant string literal (so gdbus never reads it as another type)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
