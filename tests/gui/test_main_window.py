"""The main window on the fake runtime: share, list, stop/start/remove, drop, errors, closing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from myonion.events import Event, Stage
from myonion.manager import Manager, ServiceView, container_name
from myonion.runtime.fake import FakeRuntime
from myonion_gui import close_prompt
from myonion_gui.main_window import MainWindow
from myonion_gui.service_panel import START_COLOUR, STOP_COLOUR

Idle = Callable[[MainWindow], None]


def share_in_window(qtbot: QtBot, window: MainWindow, folder: Path,
                    name: str | None = None) -> ServiceView:
    """Click-to-share through the dialog, as a user does."""
    dialog = window.open_share_dialog()
    assert dialog is not None
    dialog.form().set_value("dir", str(folder))
    dialog.access.choose_public()
    if name:
        dialog.name_edit.setText(name)
    with qtbot.waitSignal(window.controller.shared, timeout=10_000) as shared:
        dialog.share_button.click()
    view: ServiceView = shared.args[0]
    return view


def states(window: MainWindow) -> dict[str, str]:
    return {v.name: v.state for v in window.model.views()}


def test_share_flow_drives_the_manager_and_lists_the_service(
        qtbot: QtBot, window: MainWindow, runtime: FakeRuntime, site: Path, idle: Idle) -> None:
    events: list[Event] = []
    window.controller.progress.connect(events.append)
    view = share_in_window(qtbot, window, site, name="blog")

    assert view.name == "blog" and view.template == "site" and view.state == "running"
    spec, info = runtime.containers[container_name("blog")]
    assert info.status == "running"
    assert any(m.source == str(site) and m.read_only for m in spec.mounts)
    # the core's progress events arrived as signals, each naming the service, in stage order
    stages = [e.stage for e in events]
    assert stages.index(Stage.BUILDING) < stages.index(Stage.STARTING)
    assert {e.service for e in events} == {"blog"}
    assert any(e.detail == "Step 1/2 : FROM fake" for e in events)
    assert "Step 2/2 : RUN true" in window.progress.log.toPlainText()
    # the new service is in the list, selected, and shown in the panel
    idle(window)
    assert states(window) == {"blog": "running"}
    assert window.services.current == "blog"
    assert window.panel.view is not None and window.panel.view.name == "blog"
    assert window.services.currentIndex() == 1  # the table, not the empty placeholder
    assert window.progress.isHidden()
    assert "'blog' is starting" in window.messages.text()


def test_live_stage_and_percent_show_in_the_list(window: MainWindow, manager: Manager,
                                                 site: Path, idle: Idle) -> None:
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    window.refresh()
    idle(window)
    window.model.apply_event(Event(Stage.BOOTSTRAPPING, "tor bootstrapping", 45, "blog"))
    row = window.model.row_of("blog")
    assert window.model.index(row, 2).data() == "bootstrapping 45%"
    window.model.clear_live("blog")
    assert window.model.index(row, 2).data() == "starting"


def test_a_service_started_behind_the_guis_back_appears_on_refresh(
        window: MainWindow, manager: Manager, site: Path, idle: Idle) -> None:
    assert window.model.views() == []
    assert window.services.currentIndex() == 0  # the "no services yet" placeholder
    manager.share("site", {"dir": str(site)}, name="from-cli", wait=False)
    window.refresh()
    idle(window)
    assert states(window) == {"from-cli": "running"}


def test_the_list_refreshes_by_itself(qtbot: QtBot, make_window: Callable[..., MainWindow],
                                      manager: Manager, site: Path) -> None:
    window = make_window(poll_ms=20)
    manager.share("site", {"dir": str(site)}, name="from-cli", wait=False)
    qtbot.waitUntil(lambda: "from-cli" in states(window), timeout=5000)
    manager.stop("from-cli")
    qtbot.waitUntil(lambda: states(window).get("from-cli") == "stopped", timeout=5000)


def test_one_primary_start_stop_and_remove(qtbot: QtBot, window: MainWindow, manager: Manager,
                                           runtime: FakeRuntime, site: Path,
                                           idle: Idle) -> None:
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    window.refresh()
    idle(window)
    window.services.select("blog")
    panel = window.panel
    # one primary button whose words and colour say what it does now
    power = panel.power_button
    assert "Stop" in power.text() and STOP_COLOUR in power.styleSheet()
    assert "Ctrl+T" in power.toolTip()

    power.click()  # no address yet: nothing is lost, so nothing is asked
    qtbot.waitUntil(lambda: states(window)["blog"] == "stopped")
    assert runtime.containers[container_name("blog")][1].status == "exited"
    assert "Start" in power.text() and START_COLOUR in power.styleSheet()
    assert panel.pill.text() == "● stopped"

    power.click()
    qtbot.waitUntil(lambda: states(window)["blog"] == "running")

    panel.remove_button.click()  # ephemeral, public, no address, no data: nothing to ask
    qtbot.waitUntil(lambda: states(window) == {})
    idle(window)
    assert runtime.containers == {} and manager.store.all() == []
    assert window.panel.view is None and window.services.currentIndex() == 0


def test_panel_offers_the_link_qr_and_copies(qtbot: QtBot, window: MainWindow,
                                             manager: Manager, site: Path, idle: Idle,
                                             publish: Callable[..., str]) -> None:
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    address = publish("blog")
    window.refresh()
    idle(window)
    window.services.select("blog")
    panel = window.panel
    # a web service's address is the link Tor Browser opens
    assert panel.address.text() == f"http://{address}/"
    pixmap = panel.qr.pixmap()
    assert not pixmap.isNull() and pixmap.width() <= panel.qr.width()
    panel.copy_button.click()
    assert QGuiApplication.clipboard().text() == f"http://{address}/"
    assert panel.check_button.isEnabled()
    # on the test network no Tor Browser gets there: the panel says so
    assert "test network" in panel.guidance.text() and "Tor Browser cannot" in \
        panel.guidance.text()
    # its log is loaded off the GUI thread when it is selected
    qtbot.waitUntil(lambda: panel.log.toPlainText() == "fake log line")


def drop_event(paths: list[Path]) -> tuple[QDragEnterEvent, QDropEvent, QMimeData]:
    """Drag-enter and drop events; the caller keeps the mime data alive (events do not own it)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    return enter, drop, mime


def test_dropping_a_folder_fills_the_share_dialog(qtbot: QtBot, window: MainWindow,
                                                  runtime: FakeRuntime, site: Path,
                                                  idle: Idle) -> None:
    enter, drop, _mime = drop_event([site])
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(drop)
    # nothing is published before the user chose who may connect
    dialog = window.share_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.cards.current() is not None and dialog.cards.current().id == "site"
    assert dialog.form().raw_values()["dir"] == str(site)
    assert runtime.containers == {}
    dialog.access.choose_public()
    with qtbot.waitSignal(window.controller.shared, timeout=10_000) as shared:
        dialog.share_button.click()
    view: ServiceView = shared.args[0]
    assert view.template == "site" and view.options["dir"] == str(site)
    assert view.mode == "ephemeral" and view.state == "running"
    idle(window)
    assert states(window) == {view.name: "running"}


def test_dropping_a_file_is_refused(window: MainWindow, site: Path) -> None:
    enter, _, _mime = drop_event([site / "index.html"])
    enter.setAccepted(False)
    window.dragEnterEvent(enter)
    assert not enter.isAccepted()


def test_errors_are_readable_messages(qtbot: QtBot, window: MainWindow,
                                      runtime: FakeRuntime, site: Path, idle: Idle) -> None:
    runtime.fail_build = True
    dialog = window.open_share_dialog()
    assert dialog is not None
    dialog.form().set_value("dir", str(site))
    dialog.access.choose_public()
    with qtbot.waitSignal(window.controller.failed, timeout=10_000):
        dialog.share_button.click()
    idle(window)
    assert window.messages.kind == "error"
    assert "fake failure" in window.messages.text()
    assert "Traceback" not in window.messages.text()
    assert window.messages.details.toPlainText() == "fake log"
    assert not window.messages.details_button.isHidden()
    # the progress panel stays, with its build log, until dismissed
    assert not window.progress.isHidden() and "Step 1/2" in window.progress.log.toPlainText()
    assert runtime.containers == {} and states(window) == {}

    runtime.fail_build = False
    runtime.down = True
    with qtbot.waitSignal(window.controller.failed):
        window.refresh()
    assert window.messages.text() == (
        "The Docker engine is not reachable (fake engine is down).\n"
        "Start the Docker engine (e.g. `systemctl start docker` or `dockerd &`) and try again.")


def answer_close(monkeypatch: pytest.MonkeyPatch, button_text: str | None) -> list[str]:
    """Make the close question click ``button_text`` (None: Cancel); returns what was asked."""
    asked: list[str] = []

    def exec_(box: QMessageBox) -> int:
        asked.append(box.text())
        wanted = button_text or box.button(QMessageBox.StandardButton.Cancel).text()
        next(b for b in box.buttons() if b.text() == wanted).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


@pytest.fixture
def running(window: MainWindow, manager: Manager, site: Path, idle: Idle) -> MainWindow:
    manager.share("site", {"dir": str(site)}, name="eph", wait=False)
    manager.share("site", {"dir": str(site)}, name="kept", persistent=True, wait=False)
    window.refresh()
    idle(window)
    window.show()
    return window


def test_close_can_stop_running_ephemeral_services(
        qtbot: QtBot, running: MainWindow, runtime: FakeRuntime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked = answer_close(monkeypatch, close_prompt.STOP_TEXT)
    running.close()
    assert asked == ["1 ephemeral service(s) still running: eph."]
    assert running.isVisible()  # it closes once they are stopped
    qtbot.waitUntil(lambda: not running.isVisible())
    assert runtime.containers[container_name("eph")][1].status == "exited"
    # persistent ones are not asked about and keep running
    assert runtime.containers[container_name("kept")][1].status == "running"


def test_close_can_leave_them_running(running: MainWindow, runtime: FakeRuntime,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    answer_close(monkeypatch, close_prompt.LEAVE_TEXT)
    running.close()
    assert not running.isVisible()
    assert runtime.containers[container_name("eph")][1].status == "running"


def test_close_can_be_cancelled(running: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    answer_close(monkeypatch, None)
    running.close()
    assert running.isVisible()


def test_close_without_running_ephemeral_services_asks_nothing(
        window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = answer_close(monkeypatch, None)
    window.show()
    window.close()
    assert asked == [] and not window.isVisible()
