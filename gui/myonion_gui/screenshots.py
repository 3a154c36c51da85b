"""Regenerate the screenshots in docs/screenshots from the real windows, on the fake runtime.

    QT_QPA_PLATFORM=offscreen python -m myonion_gui.screenshots [OUTPUT_DIR]

No Docker engine and no tor are used: services are made by the manager on the in-memory fake
runtime in a throw-away MYONION_HOME (``$TMPDIR/myonion-demo``), and made to look published by
writing the hostname file tor would write.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEventLoop, QPoint
from PySide6.QtWidgets import QApplication, QWidget

if TYPE_CHECKING:
    from myonion.manager import Manager
    from myonion_gui.main_window import MainWindow
    from myonion_gui.share_dialog import ShareDialog

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SERVICE_LOG = """\
[notice] Tor 0.4.7.16 opening log file.
[notice] Bootstrapped 0% (starting): Starting
[notice] Bootstrapped 5% (conn): Connecting to a relay
[notice] Bootstrapped 50% (loading_descriptors): Loading relay descriptors
[notice] Bootstrapped 90% (ap_handshake_done): Handshake finished with a relay
[notice] Bootstrapped 100% (done): Done
nginx: 127.0.0.1 - - "GET / HTTP/1.1" 200 612
nginx: 127.0.0.1 - - "GET /photos/ HTTP/1.1" 200 1841"""


DEMO_TOKENS = "garden:q8Xv2LmR7tKp4Wz9NcYb\nkitchen:Ax7oL2q9Vd3mKp8sTw4n\n"


def settle(window: QWidget) -> None:
    """Let workers report back and layouts settle (bounded; no fixed sleeps)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        controller = getattr(window, "controller", None)
        if controller is None or controller.runner.active == 0:
            break
    for _ in range(5):
        QCoreApplication.processEvents()


def scroll_to(dialog: ShareDialog, child: QWidget) -> None:
    """Scroll the share dialog so that ``child`` is at the top of its view."""
    settle(dialog)
    content = dialog.scroll_area.widget()
    assert content is not None
    dialog.scroll_area.verticalScrollBar().setValue(child.mapTo(content, QPoint(0, 0)).y() - 8)


def scroll_to_end(widget: QWidget) -> None:
    """Scroll a widget's scroll area (its ``scroll_area``) to the bottom."""
    settle(widget)
    bar = widget.scroll_area.verticalScrollBar()  # type: ignore[attr-defined]
    bar.setValue(bar.maximum())


def save(widget: QWidget, out: Path, name: str) -> Path:
    settle(widget)
    path = out / name
    widget.grab().save(str(path))
    print(path)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else OUT
    out.mkdir(parents=True, exist_ok=True)
    os.environ["MYONION_NETWORK"] = "local"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # a fixed throw-away folder, so the paths shown (and the images) are the same every run
    home = Path(tempfile.gettempdir()) / "myonion-demo"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    os.environ["MYONION_HOME"] = str(home)
    QApplication.instance() or QApplication([])
    try:
        for _ in shoot(out, home):
            pass
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


class DemoTestnet:
    """A test network that is always up and does nothing (the demo shares no real service)."""

    network = "myonion-testnet"
    include_volume = "myonion-testnet-include"
    access_network = "myonion-testnet-access"

    def is_up(self) -> bool:
        return True

    def up(self) -> None:
        pass

    def down(self) -> None:
        pass

    def socks(self) -> tuple[str, int]:
        return ("127.0.0.1", 1)

    def authorize(self, key: str, auth_private_line: str) -> None:
        pass

    def deauthorize(self, key: str) -> None:
        pass

    def forget_onions(self) -> bool:
        return True

    def stopped_nodes(self) -> list[str]:
        return []


def demo_manager() -> Manager:
    """A manager on the fake runtime whose services show a tor log and IoT device tokens."""
    from myonion.manager import Manager
    from myonion.runtime.base import Runtime
    from myonion.runtime.fake import FakeRuntime
    from myonion.services.store import StateStore

    class DemoRuntime(FakeRuntime):
        def logs(self, name: str, tail: int | None = None,
                 follow: bool = False) -> Iterator[str]:
            self._info(name)
            return iter(SERVICE_LOG.splitlines())

        def exec(self, name: str, command: list[str],
                 user: str | None = None) -> tuple[int, str]:
            if command == ["iot-receiver", "tokens"]:
                return 0, DEMO_TOKENS
            return super().exec(name, command, user)

    runtime: Runtime = DemoRuntime(images={"myonion/base:bookworm"})
    return Manager(runtime=runtime, store=StateStore(), testnet=DemoTestnet())


def shoot(out: Path, home: Path) -> Iterator[Path]:
    """Every screenshot in turn, each scene going on from where the one before left off."""
    from myonion_gui.main_window import MainWindow

    manager = demo_manager()
    window = MainWindow(manager, wait=False, poll_ms=0)
    window.show()
    yield save(window, out, "main-window-empty.png")  # the first start: networks explained
    window.intro.ok_button.click()
    folders = share_demo_services(manager, home)
    yield from shoot_services(window, out)
    yield from shoot_private(window, out)
    yield from shoot_devices(window, out)
    yield from shoot_remove_confirmation(window, out)
    yield from shoot_share_dialog(window, out, folders["my-site"])
    yield from shoot_share_dialog_invalid(window, out, home)
    yield from shoot_settings(window, out)
    yield from shoot_sharing(window, out, folders["drafts"])
    window.model.set_services([])
    window.close()


def share_demo_services(manager: Manager, home: Path) -> dict[str, Path]:
    """The demo's six services: public, private and IoT; published, stopped, bootstrapping."""
    from myonion.onion import address_from_public_key

    folders = {}
    for name in ("my-site", "family-photos", "old-notes", "drafts"):
        folders[name] = home / "Documents" / name
        folders[name].mkdir(parents=True)
    manager.share("site", {"dir": str(folders["my-site"])}, name="blog", wait=False)
    manager.share("site", {"dir": str(folders["family-photos"])}, name="family",
                  clients=["alice", "bob"], ttl=2 * 3600, wait=False)
    manager.share("site", {"dir": str(folders["family-photos"]), "listing": True},
                  name="photos", persistent=True, wait=False)
    manager.share("site", {"dir": str(folders["old-notes"])}, name="notes", wait=False)
    manager.share("site", {"dir": str(folders["drafts"])}, name="drafts", wait=False)
    manager.share("iot-receiver", {"devices": "kitchen\ngarden"},
                  name="sensors", persistent=True, wait=False)
    for seed, name in enumerate(("blog", "photos", "family", "sensors"), start=3):
        ctl = manager.store.service_dir(name) / "ctl"
        (ctl / "hostname").write_text(address_from_public_key(bytes([seed * 17]) * 32) + "\n")
        manager.store.update(name, stage="reachable")
    manager.stop("notes")
    manager.store.update("drafts", stage="bootstrapping")
    return folders


def shoot_services(window: MainWindow, out: Path) -> Iterator[Path]:
    """The list of services with one selected, at the default and at a small size."""
    window.refresh()
    settle(window)
    window.services.select("blog")
    yield save(window, out, "main-window.png")

    window.resize(720, 520)
    yield save(window, out, "main-window-small.png")
    window.resize(980, 720)


def shoot_private(window: MainWindow, out: Path) -> Iterator[Path]:
    """A private service: its clients, each key with Copy and a QR code."""
    window.services.select("family")
    settle(window)
    yield save(window, out, "main-window-private.png")
    window.resize(720, 520)
    scroll_to_end(window.panel)
    yield save(window, out, "main-window-private-small.png")
    window.resize(980, 720)


def shoot_devices(window: MainWindow, out: Path) -> Iterator[Path]:
    """An IoT receiver: its devices' tokens where they are needed."""
    window.services.select("sensors")
    settle(window)
    yield save(window, out, "main-window-devices.png")


def shoot_remove_confirmation(window: MainWindow, out: Path) -> Iterator[Path]:
    """Removing asks first, naming what goes; Cancel is the default, the key can be saved."""
    window.services.select("family")
    settle(window)
    window.remove("family")
    assert window.confirm_dialog is not None
    yield save(window.confirm_dialog, out, "remove-confirmation.png")
    window.confirm_dialog.reject()
    window.services.select("blog")


def shoot_share_dialog(window: MainWindow, out: Path, folder: Path) -> Iterator[Path]:
    """The share dialog filled in, then private with two clients, then with wrong access."""
    dialog = window.open_share_dialog()
    assert dialog is not None
    dialog.form().set_value("dir", str(folder))
    yield save(dialog, out, "share-dialog.png")
    dialog.access.private.setChecked(True)
    for client in ("alice", "bob"):
        dialog.access.add_client(client)
    dialog.access.set_ttl(2, "h")
    scroll_to_end(dialog)
    yield save(dialog, out, "share-dialog-access.png")
    dialog.access.client_edit.setText("Bob Smith")
    dialog.access.set_ttl(400, "d")
    dialog.share_button.click()
    scroll_to_end(dialog)
    yield save(dialog, out, "share-dialog-access-invalid.png")
    dialog.reject()


def shoot_share_dialog_invalid(window: MainWindow, out: Path, home: Path) -> Iterator[Path]:
    """The share dialog naming a folder that is not there."""
    dialog = window.open_share_dialog()
    assert dialog is not None
    dialog.form().set_value("dir", str(home / "Documents" / "missing-folder"))
    dialog.share_button.click()
    scroll_to(dialog, dialog.options_section)
    yield save(dialog, out, "share-dialog-invalid.png")
    dialog.reject()


def shoot_settings(window: MainWindow, out: Path) -> Iterator[Path]:
    """The settings dialog."""
    settings = window.open_settings()
    yield save(settings, out, "settings-dialog.png")
    settings.reject()


def shoot_sharing(window: MainWindow, out: Path, folder: Path) -> Iterator[Path]:
    """A share under way: its progress, with the build log open."""
    from myonion.events import Event, Stage

    window.progress.begin("Sharing " + str(folder))
    for event in (Event(Stage.BUILDING, "Building template 'site'", 50, "drafts",
                        "Step 2/4 : COPY files/ /srv/"),
                  Event(Stage.STARTING, "Starting the container", None, "drafts"),
                  Event(Stage.BOOTSTRAPPING, "tor bootstrapping 75%: Loading relay descriptors",
                        75, "drafts")):
        window.progress.apply(event)
        window.model.apply_event(event)
    window.progress.log_button.setChecked(True)
    yield save(window, out, "main-window-sharing.png")
    window.progress.end()
    window.progress.log_button.setChecked(False)


if __name__ == "__main__":
    raise SystemExit(main())
