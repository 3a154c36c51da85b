"""The app side of bench/gui_soak.py: the real main window on a real X server, driven by a
timer through the window's own widgets (its buttons, the share dialog, confirmations).

Run by gui_soak.py as a child process (``python bench/gui_soak_app.py STATUS_FILE MINUTES``)
with DISPLAY, QT_QPA_PLATFORM=xcb and a MYONION_HOME of its own. It shares, stops, starts,
checks, removes and lets expire its own services (``gt-soak-gui-N``), now and then stops one of
the CLI's, and writes what it did to STATUS_FILE as JSON when its time is up.
"""

from __future__ import annotations

import collections
import faulthandler
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from myonion.manager import Manager
from myonion_gui.main_window import MainWindow
from myonion_gui.requests import ShareRequest
from myonion_gui.settings import GuiSettings
from myonion_gui.share_dialog import ShareDialog

GUI_PREFIX = "gt-soak-gui-"
CLI_PREFIX = "gt-soak-cli-"
STEP_MS = 2500
MAX_GUI_SERVICES = 4
#: at most this many manager calls in flight (a share waits for tor on a worker)
MAX_BUSY = 3


def census() -> collections.Counter[str]:
    """How many objects of each type the collector tracks (what grows is what leaks)."""
    gc.collect()
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Driver(QObject):
    """One step every STEP_MS until the deadline, then cleans up and quits."""

    def __init__(self, window: MainWindow, folder: Path, minutes: float, status: Path) -> None:
        super().__init__(window)
        self.window = window
        self.folder = folder
        self.status = status
        self.deadline = time.monotonic() + minutes * 60
        self.random = random.Random(18)
        self.counter = 0
        self.steps: dict[str, int] = {}
        self.operations: dict[str, int] = {"started": 0, "ended": 0, "failed": 0}
        self.errors: list[str] = []
        self.first = {"rss_kib": rss_kib(), "true_refs": sys.getrefcount(True),
                      "time": time.time()}
        self.objects = census()
        self.samples: list[dict[str, float]] = []
        #: sharing ahead: a dialog left open a while, what became of it, what was left held
        self.dialog_open = False
        self.ahead_steps: dict[str, int] = {}
        self.held_left_at_end: list[str] | None = None
        self._listed_again = False
        c = window.controller
        c.operation_started.connect(lambda *_: self._count("started"))
        c.operation_ended.connect(lambda _op, failed: self._ended(failed))
        c.failed.connect(lambda error: self.errors.append(
            error.message + (f" [{error.detail[-200:]}]" if error.detail else "")))
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.step)
        self.timer.start(STEP_MS)

    def _count(self, key: str) -> None:
        self.operations[key] += 1

    def _ended(self, failed: bool) -> None:
        self._count("ended")
        if failed:
            self._count("failed")

    # what there is ----------------------------------------------------------------------------
    def ours(self, state: str | None = None) -> list[str]:
        return [v.name for v in self.window.model.views() if v.name.startswith(GUI_PREFIX)
                and (state is None or v.state == state)]

    def cli_running(self) -> list[str]:
        return [v.name for v in self.window.model.views()
                if v.name.startswith(CLI_PREFIX) and v.state == "running"]

    # the steps --------------------------------------------------------------------------------
    def sample(self) -> None:
        """Every minute: the app's memory and True's references (they must level off)."""
        self.samples.append({"minute": round((time.time() - self.first["time"]) / 60, 1),
                             "rss_kib": rss_kib(), "true_refs": sys.getrefcount(True)})

    def step(self) -> None:
        if time.time() - self.first["time"] >= 60 * (len(self.samples) + 1):
            self.sample()
        if time.monotonic() >= self.deadline:
            self.finish()
            return
        if self.window.controller.runner.active >= MAX_BUSY or self.dialog_open:
            return
        choices = ["share_site", "share_iot_ttl", "share_short_ttl", "share_site_ahead", "stop",
                   "start", "check", "remove", "select", "refresh", "stop_cli"]
        weights = [3, 1, 1, 2, 2, 2, 1, 2, 3, 2, 1]
        if len(self.ours()) >= MAX_GUI_SERVICES:
            weights[0] = weights[1] = weights[2] = weights[3] = 0
        name = self.random.choices(choices, weights)[0]
        if getattr(self, name)() is not False:
            self.steps[name] = self.steps.get(name, 0) + 1

    def _new_name(self) -> str:
        self.counter += 1
        return f"{GUI_PREFIX}{self.counter}"

    def share_site(self) -> bool:
        dialog = self.window.open_share_dialog("site", {"dir": str(self.folder)})
        if dialog is None:
            return False
        dialog.name_edit.setText(self._new_name())
        if self.random.random() < 0.3:
            dialog.access.private.setChecked(True)
            dialog.access.add_client("alice")
        else:
            dialog.access.choose_public()
        if self.random.random() < 0.3:
            dialog.persistent.setChecked(True)
        return self._submit(dialog)

    def share_iot_ttl(self) -> bool:
        """An IoT receiver with a time to live: what was open when the app crashed."""
        dialog = self.window.open_share_dialog("iot-receiver",
                                               {"devices": "kitchen\ngarden"})
        if dialog is None:
            return False
        dialog.name_edit.setText(self._new_name())
        dialog.access.choose_public()
        dialog.access.set_ttl(1, "m")
        return self._submit(dialog)

    def share_site_ahead(self) -> bool:
        """A share whose dialog stays open 1-6 s (the app prepares it meanwhile), then Share,
        or Cancel (which must remove what was prepared)."""
        dialog = self.window.open_share_dialog("site", {"dir": str(self.folder)})
        if dialog is None:
            return False
        dialog.name_edit.setText(self._new_name())
        dialog.access.choose_public()
        self.dialog_open = True
        cancel = self.random.random() < 0.25

        def later() -> None:
            self.dialog_open = False
            if not dialog.isVisible():
                return
            if cancel:
                self.ahead_steps["cancelled"] = self.ahead_steps.get("cancelled", 0) + 1
                dialog.reject()
            elif self._submit(dialog):
                used = bool(self.window.ahead.released) and \
                    self.window.ahead.released[-1] == dialog.request.name  # type: ignore[union-attr]
                key = "shared_prepared" if used else "shared_not_yet_prepared"
                self.ahead_steps[key] = self.ahead_steps.get(key, 0) + 1

        QTimer.singleShot(int(self.random.uniform(1.0, 6.0) * 1000), later)
        return True

    def held_left(self) -> list[str]:
        """Services still held (prepared ahead) with no share dialog open: leaks."""
        store = self.window.controller.manager.store
        return [v.name for v in self.window.model.views()
                if (store.service_dir(v.name) / "conf" / "hold-service").exists()]

    def _submit(self, dialog: ShareDialog) -> bool:
        dialog.share_button.click()
        if dialog.isVisible():  # refused inline (it should not be): counted, and closed
            self.errors.append(f"share dialog refused: {dialog.form().problems()}")
            dialog.reject()
            return False
        return True

    def share_short_ttl(self) -> bool:
        self.window.share(ShareRequest("site", {"dir": str(self.folder)}, self._new_name(),
                                       "local", ttl=20))
        return True

    def _select(self, names: list[str]) -> str | None:
        if not names:
            return None
        name = self.random.choice(names)
        self.window.services.select(name)
        return name

    def _confirm(self) -> None:
        dialog = self.window.confirm_dialog
        if dialog is not None and dialog.isVisible():
            # mostly go ahead; sometimes think again
            if self.random.random() < 0.2:
                dialog.cancel_button.click()
            else:
                dialog.confirm_button.click()

    def stop(self) -> bool:
        if self._select(self.ours("running")) is None:
            return False
        self.window.panel.power_button.click()
        self._confirm()
        return True

    def start(self) -> bool:
        if self._select(self.ours("stopped")) is None:
            return False
        self.window.panel.power_button.click()
        return True

    def check(self) -> bool:
        name = self._select(self.ours("running"))
        if name is None or not self.window.panel.check_button.isEnabled():
            return False
        self.window.panel.check_button.click()
        return True

    def remove(self) -> bool:
        ours = self.ours()
        if len(ours) < 2 or self._select(ours) is None:
            return False
        self.window.panel.remove_button.click()
        self._confirm()
        return True

    def select(self) -> bool:
        return self._select([v.name for v in self.window.model.views()]) is not None

    def refresh(self) -> bool:
        self.window.commands.refresh.trigger()
        return True

    def stop_cli(self) -> bool:
        """Race the CLI: stop one of its services from the window."""
        if self._select(self.cli_running()) is None:
            return False
        self.window.panel.power_button.click()
        self._confirm()
        return True

    # the end ----------------------------------------------------------------------------------
    def finish(self) -> None:
        self.timer.stop()
        if self.dialog_open:  # a share dialog still open: its callback comes first
            QTimer.singleShot(7000, self.finish)
            return
        if self.window.confirm_dialog is not None:
            self.window.confirm_dialog.reject()
        QTimer.singleShot(0, self._clean)

    def _clean(self) -> None:
        runner = self.window.controller.runner
        if runner.active:
            QTimer.singleShot(500, self._clean)
            return
        if not self._listed_again:
            self._listed_again = True
            self.window.controller.refresh()  # the list as it is now, then look again
            QTimer.singleShot(1000, self._clean)
            return
        if self.held_left_at_end is None:
            self.held_left_at_end = self.held_left()
        ours = self.ours()
        if ours:
            for name in ours:
                self.window.controller.remove(name)
            QTimer.singleShot(500, self._wait_removed)
            return
        self._report()

    def _wait_removed(self) -> None:
        if self.window.controller.runner.active:
            QTimer.singleShot(500, self._wait_removed)
        else:
            self._report()

    def _report(self) -> None:
        grown = census() - self.objects
        result: dict[str, Any] = {
            "objects_grown": dict(grown.most_common(12)),
            "steps": self.steps, "operations": self.operations,
            "errors_shown": len(self.errors), "error_samples": sorted(set(self.errors))[:10],
            "notifications": self.window.notifier.count,
            "ahead": self.ahead_steps, "held_left": self.held_left_at_end,
            "start": self.first,
            "samples": self.samples,
            "end": {"rss_kib": rss_kib(), "true_refs": sys.getrefcount(True),
                    "time": time.time()},
        }
        self.status.write_text(json.dumps(result, indent=1))
        self.window.model.set_services([])  # nothing left to ask about when closing
        self.window.close()
        QApplication.quit()


def main(argv: list[str]) -> int:
    faulthandler.enable()
    status, minutes = Path(argv[1]), float(argv[2])
    app = QApplication([argv[0]])
    folder = Path(tempfile.mkdtemp(prefix="gt-soak-site-", dir=status.parent))
    (folder / "index.html").write_text("<h1>soak</h1>\n")
    folder.chmod(0o755)
    window = MainWindow(Manager(), GuiSettings(network="local", intro_seen=True))
    window.show()
    Driver(window, folder, minutes, status)
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
