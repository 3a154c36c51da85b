"""A share prepared ahead on the real engine and test network, as the desktop app does while
its share dialog is open: the onion is published but nothing answers at it (a visitor who
had the address would get nothing of the folder), and starting it serves the folder, proven
through the test network's own client."""

from __future__ import annotations

from pathlib import Path

import pytest

from myonion.errors import FetchError
from myonion.manager import Manager
from myonion.services.readiness import PREPARED
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]


def test_a_share_ahead_publishes_but_serves_only_once_started(real_manager: Manager,
                                                              site_dir: Path) -> None:
    view = real_manager.share("site", {"dir": str(site_dir)}, name="it-ahead", timeout=120,
                              ahead=True)
    assert view.stage == "published" and view.reason == PREPARED and view.address
    socks = real_manager.socks_for("local")
    # published: the client finds the onion, but no service answers behind it
    with pytest.raises(FetchError):
        fetch.http_get(f"http://{view.address}/", socks, timeout=20)
    started = real_manager.start("it-ahead", timeout=60)
    assert started.stage == "reachable" and started.address == view.address
    assert started.reason is None and started.timings.get("reachable")
    body = fetch.http_get(f"http://{view.address}/", socks).body.decode()
    assert body == (site_dir / "index.html").read_text()
