"""A service started again at its address is proven each time, through the test network's
client, even after that client asked for it while it was down.

What this guards: after a stop, an old introduction point of the service can still
acknowledge an introduction for a while; a client holding the old descriptor then waits on a
rendezvous nobody answers, for minutes, and so does every later request of it for that onion
(seen as "The SOCKS connection failed (timed out)" after a promote, a stop and a start). The
proof makes the client forget first (a start at a known address), or when an attempt hangs
(``myonion check``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from myonion.manager import Manager
from myonion.templates import TemplateRegistry
from myonion.tor import fetch, probes

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

CYCLES = 4
#: a proven start takes seconds; a client stuck on an old rendezvous takes minutes
START_TIMEOUT = 45
#: what a visitor gets, as the site template declares it (the proof asks the same)
PAGE = TemplateRegistry().get("site").probes[0]


def visit_while_down(address: str, proxy: tuple[str, int]) -> None:
    """A visitor with the old descriptor asks while the service is down (it gets nothing)."""
    result = probes.run(PAGE, proxy, address, timeout=8)
    assert not result.ok, "a stopped service answered"


def test_a_service_started_again_is_proven_every_time(real_manager: Manager,
                                                      site_dir: Path) -> None:
    proxy = real_manager.testnet.socks()
    address = real_manager.share("site", {"dir": str(site_dir)}, name="again",
                                 persistent=True, timeout=120).address
    assert address
    for _ in range(CYCLES):
        real_manager.stop("again")
        visit_while_down(address, proxy)
        view = real_manager.start("again", timeout=START_TIMEOUT)
        assert view.address == address and view.stage == "reachable"
        page = fetch.http_get_retry(f"http://{address}/", proxy, timeout=30).body.decode()
        assert "integration" in page

    # started without waiting, then checked (as `myonion check`): a hanging attempt makes
    # the client forget, and the next one is answered
    real_manager.stop("again")
    visit_while_down(address, proxy)
    real_manager.start("again", wait=False)
    result = real_manager.check("again", timeout=90)
    assert result.reachable, result.error
