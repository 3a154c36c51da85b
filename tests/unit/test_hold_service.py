"""A share prepared ahead (``Manager.share(ahead=True)``) on the fake runtime: its service is
held (the entry script waits for conf/hold-service to go), ``start`` releases it, and any
other start of its container starts the service at once."""

from __future__ import annotations

from pathlib import Path

from myonion.manager import Manager, container_name
from myonion.runtime.fake import FakeRuntime
from myonion.services.readiness import HOLD_SERVICE


def held(manager: Manager, name: str) -> bool:
    return (manager.store.service_dir(name) / "conf" / HOLD_SERVICE).exists()


def test_a_share_ahead_holds_its_service_until_started(manager: Manager, runtime: FakeRuntime,
                                                       site: Path) -> None:
    view = manager.share("site", {"dir": str(site)}, name="blog", wait=False, ahead=True)
    assert held(manager, "blog") and runtime.get(container_name("blog")).running
    # the entry script reads it from its read-only configuration
    assert oct((manager.store.service_dir("blog") / "conf" / HOLD_SERVICE).stat().st_mode
               & 0o777) == "0o644"
    manager.start(view.name, wait=False)
    assert not held(manager, "blog")
    manager.start(view.name, wait=False)  # a running service without a hold: nothing to do
    assert runtime.get(container_name("blog")).running


def test_an_ordinary_share_or_start_never_holds(manager: Manager, site: Path) -> None:
    manager.share("site", {"dir": str(site)}, name="a", wait=False)
    assert not held(manager, "a")
    manager.share("site", {"dir": str(site)}, name="b", wait=False, ahead=True)
    manager.stop("b")
    manager.start("b", wait=False)  # a stopped one started again serves at once
    assert not held(manager, "b")
