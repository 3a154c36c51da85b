"""The window tells the truth (issue 18): news goes when a listing contradicts it, the log follows
the running service, states and their reasons come from the core's views, the desktop hears of
what changed, and a receiver's device tokens are where the user needs them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from myonion.events import Stage
from myonion.manager import Manager, ServiceView, container_name
from myonion.runtime.fake import FakeRuntime
from myonion_gui.main_window import MainWindow
from myonion_gui.notices import KEPT, Notice, transitions
from myonion_gui.state_look import Tone, look

Idle = Callable[[MainWindow], None]


def listed(window: MainWindow, idle: Idle) -> None:
    window.refresh()
    idle(window)


def test_reachable_news_goes_when_the_service_stops_or_goes(
        qtbot: QtBot, window: MainWindow, manager: Manager, site: Path, idle: Idle) -> None:
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    listed(window, idle)
    window.controller.info.emit("'blog' is reachable at x.onion.", "blog")
    assert not window.messages.isHidden()
    listed(window, idle)
    assert not window.messages.isHidden()  # still true: it runs
    manager.stop("blog")  # from the CLI, say
    listed(window, idle)
    assert window.messages.isHidden()

    manager.start("blog", wait=False)
    listed(window, idle)
    window.controller.info.emit("'blog' is reachable at y.onion.", "blog")
    manager.remove("blog")
    listed(window, idle)
    assert window.messages.isHidden()  # not above "No services yet"
    assert window.services.currentIndex() == 0
    # news about no service in particular stays until dismissed
    window.controller.info.emit("The key was saved.", "")
    listed(window, idle)
    assert not window.messages.isHidden()


@pytest.fixture
def runs(runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The fake's log says which run of the container it is (a start makes a new run)."""
    count = ["run 1"]
    start = runtime.start

    def logs(name: str, tail: int | None = None, follow: bool = False) -> Iterator[str]:
        return iter([f"{count[0]}: listening"])

    def started(name: str) -> None:
        count[0] = f"run {int(count[0].split()[1]) + 1}"
        start(name)

    monkeypatch.setattr(runtime, "logs", logs)
    monkeypatch.setattr(runtime, "start", started)
    yield count


def test_the_log_follows_the_service_after_start(qtbot: QtBot, make_window: Callable[...,
                                                 MainWindow], manager: Manager, site: Path,
                                                 runs: list[str]) -> None:
    window = make_window(poll_ms=30)
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    qtbot.waitUntil(lambda: window.model.view("blog") is not None)
    window.services.select("blog")
    qtbot.waitUntil(lambda: window.panel.log.toPlainText() == "run 2: listening")
    window.panel.power_button.click()  # stop
    qtbot.waitUntil(lambda: window.model.view("blog").state == "stopped")  # type: ignore[union-attr]
    window.panel.power_button.click()  # start: a new run
    # no Refresh button to press: the log shows the new run by itself
    qtbot.waitUntil(lambda: window.panel.log.toPlainText() == "run 3: listening", timeout=5000)


def view(state: str = "running", stage: str = Stage.REACHABLE, **kw: object) -> ServiceView:
    values: dict[str, object] = {"name": "x", "template": "site", "network": "local",
                                 "mode": "ephemeral", "state": state, "stage": stage,
                                 "address": None}
    values.update(kw)
    return ServiceView(**values)  # type: ignore[arg-type]


def test_states_and_their_reasons_come_from_the_view() -> None:
    assert look(view()).tone is Tone.OK
    assert look(view(stage=Stage.PUBLISHED)).tone is Tone.READY
    failed = look(view(state="failed", stage=Stage.FAILED, reason="exited with status 1"))
    assert (failed.text, failed.tone, failed.reason) == ("failed", Tone.BAD,
                                                         "exited with status 1")
    assert look(view(state="stopped", stage=Stage.STOPPED)).tone is Tone.OFF
    # issue 15's deeper probe will add a stage with a reason: it shows amber, with the reason
    failing = look(view(stage="failing", reason="the page answers 502"))
    assert (failing.text, failing.tone, failing.reason) == ("failing", Tone.WARN,
                                                            "the page answers 502")


def test_an_amber_state_shows_its_reason_in_the_panel(window: MainWindow, manager: Manager,
                                                      site: Path, idle: Idle) -> None:
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    manager.store.update("blog", stage="failing", reason="the page answers 502")
    listed(window, idle)
    window.services.select("blog")
    panel = window.panel
    assert panel.pill.text() == "● failing"
    assert Tone.WARN.colour in panel.pill.styleSheet()
    assert panel.reason.text() == "the page answers 502" and not panel.reason.isHidden()


def test_what_changed_between_listings_is_news() -> None:
    now = time.time()
    before = [view(name="up", stage=Stage.PUBLISHED), view(name="ok"),
              view(name="gone", expires_at=now + 2), view(name="kept", mode="persistent",
                                                           expires_at=now + 1)]
    after = [view(name="up", address="a.onion"),
             view(name="ok", state="failed", stage=Stage.FAILED, reason="it exited"),
             view(name="kept", mode="persistent", state="stopped", stage=Stage.STOPPED)]
    assert transitions(before, after, now) == [
        Notice("expired", "gone", "'gone' was removed: its time to live ran out."),
        Notice("expired", "kept", "'kept' was stopped: its time to live ran out (it keeps "
               "its address)."),
        Notice("reachable", "up", "'up' is reachable at a.onion."),
        Notice("failed", "ok", "'ok' failed: it exited"),
    ]
    assert transitions([], after, now) == []  # the first listing is no news


def test_the_desktop_hears_of_reachable_failed_and_expired(
        window: MainWindow, manager: Manager, runtime: FakeRuntime, site: Path, idle: Idle,
        publish: Callable[..., str]) -> None:
    manager.share("site", {"dir": str(site)}, name="blog", wait=False)
    manager.share("site", {"dir": str(site)}, name="brief", ttl=3600, wait=False)
    listed(window, idle)
    publish("blog")
    manager.store.update("blog", stage="reachable")
    listed(window, idle)
    manager.store.update("brief", expires_at=time.time() + 3)
    listed(window, idle)
    info = runtime.containers[container_name("blog")][1]
    info.status, info.exit_code = "exited", 1  # it died on its own
    manager.store.update("brief", expires_at=time.time() - 1)  # as if 4 s went by
    listed(window, idle)
    assert [(n.kind, n.service) for n in window.notifier.sent] == [
        ("reachable", "blog"), ("expired", "brief"), ("failed", "blog")]
    assert window.notifier.sent[-1].text == "'blog' failed: the container exited with status 1"
    assert window.notifier.count == 3


def test_the_app_keeps_only_the_latest_notices(window: MainWindow) -> None:
    # an app open for days shows thousands: it keeps the last few, and counts them all
    for i in range(KEPT + 20):
        window.notifier.notify(Notice("reachable", f"s{i}", f"'s{i}' is reachable"))
    assert len(window.notifier.sent) == KEPT and window.notifier.count == KEPT + 20
    assert window.notifier.sent[-1].service == f"s{KEPT + 19}"


def test_a_receivers_device_tokens_are_shown(qtbot: QtBot, window: MainWindow,
                                             manager: Manager, runtime: FakeRuntime,
                                             idle: Idle,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    token = "Tq5kWz8RmN2vLx7cPb4H"  # unique to this test, never published
    manager.share("iot-receiver", {"devices": f"kitchen:{token}\ngarden"}, name="iot",
                  wait=False)
    asked: list[str] = []

    def exec_(name: str, command: list[str], user: str | None = None) -> tuple[int, str]:
        asked.append(name)
        return 0, f"garden:Generated0123456789abc\nkitchen:{token}\n"

    monkeypatch.setattr(runtime, "exec", exec_)
    listed(window, idle)
    window.services.select("iot")
    panel = window.panel
    assert panel.tabs.isTabVisible(panel.devices_tab)
    assert panel.tabs.currentIndex() == panel.devices_tab  # a receiver opens on its devices
    idle(window)
    # while it starts the receiver may still be making its tokens: not asked yet (the soak
    # saw "could not be read" when they were read too early)
    assert asked == [] and "once the service is up" in panel.devices.status.text()
    manager.store.update("iot", stage="published")
    listed(window, idle)
    assert asked == []  # published is not proof that the receiver made its tokens yet
    manager.store.update("iot", stage="reachable")
    listed(window, idle)
    qtbot.waitUntil(lambda: panel.devices.tokens != {})
    assert panel.devices.tokens == {"garden": "Generated0123456789abc", "kitchen": token}
    # not shown for other templates
    manager.share("site", {}, name="page", wait=False)
    listed(window, idle)
    window.services.select("page")
    assert not panel.tabs.isTabVisible(panel.devices_tab)
