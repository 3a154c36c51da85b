"""A share on the local network that tor could not finish names the test network's nodes
that do not run (the engine kills one at its memory limit) as the likely cause, and says how
to start them again; when every node runs, or on the public network, the error is tor's own."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from myonion import testnet as tn
from myonion import tor
from myonion.errors import TorError
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.services import readiness
from myonion.testnet import nodes as tn_nodes
from tests.fakes import FakeTestnet

KILLED = "auth1 (the engine killed it at its memory limit)"


@pytest.fixture
def silent_tor(monkeypatch: pytest.MonkeyPatch) -> None:
    def wait_published(*args: Any, **kwargs: Any) -> None:
        raise TorError("tor did not publish its descriptor within 5 s (last: 100% done).")

    monkeypatch.setattr(tor, "wait_published", wait_published)


@pytest.mark.usefixtures("silent_tor")
def test_a_share_names_the_node_that_stopped(manager: Manager, testnet: FakeTestnet,
                                             site: Path) -> None:
    testnet.stopped = [KILLED, "relay2 (it exited with code 1)"]
    with pytest.raises(TorError) as caught:
        manager.share("site", {"dir": str(site)}, name="web", network="local", timeout=5)
    message = caught.value.message
    assert message.startswith("tor did not publish its descriptor within 5 s")
    assert f"nodes {KILLED}, relay2 (it exited with code 1) do not run" in message
    assert "myonion testnet up" in (caught.value.hint or "")
    assert manager.store.get("web") is None  # a share that fails is removed, as before


@pytest.mark.usefixtures("silent_tor")
def test_with_every_node_running_the_error_is_tors_own(manager: Manager, site: Path) -> None:
    with pytest.raises(TorError) as caught:
        manager.share("site", {"dir": str(site)}, name="web", network="local", timeout=5)
    assert caught.value.message == ("tor did not publish its descriptor within 5 s "
                                    "(last: 100% done).")
    assert "test network" not in (caught.value.hint or "")


def test_on_the_public_network_the_test_network_is_not_asked(
        manager: Manager, testnet: FakeTestnet, site: Path) -> None:
    testnet.stopped = [KILLED]
    manager.share("site", {"dir": str(site)}, name="web", network="local", wait=False)
    record = manager.store.get("web")
    assert record is not None
    error = TorError("tor did not publish its descriptor within 5 s.")
    assert readiness.with_stopped_nodes(manager.context, record, error) is not error
    public = dataclasses.replace(record, network="tor")
    assert readiness.with_stopped_nodes(manager.context, public, error) is error


def test_the_network_says_which_nodes_stopped_and_why() -> None:
    runtime = FakeRuntime(images={"image"})
    net = tn.Testnet(runtime)
    access = tn.access_plan("10.213.9.0/24")
    planned = tn.plan("10.213.4.0/24", access=access)
    for node in planned:
        runtime.create(tn_nodes.spec(net, node, "image", 3, 3, access))
        runtime.start(node.container)
    assert net.stopped_nodes() == []
    runtime.kill(planned[0].container)
    runtime.containers[planned[0].container][1].oom_killed = True
    runtime.kill(planned[4].container)
    runtime.stop(planned[6].container)
    assert net.stopped_nodes() == [KILLED, "client (it exited with code 0)",
                                   "relay2 (it exited with code 137)"]
