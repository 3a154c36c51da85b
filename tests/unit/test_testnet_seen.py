"""Shares at once look at the whole test network once (ServiceContext.ensure_testnet), and a
network that went down since is still noticed and brought up again."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from myonion.manager import Manager
from myonion.services import context as service_context
from tests.fakes import FakeTestnet


class SlowTestnet(FakeTestnet):
    """Its whole look takes a while, as the real one's does while the engine starts others."""

    def is_up(self) -> bool:
        time.sleep(0.05)
        return super().is_up()

    def up(self) -> None:
        time.sleep(0.2)
        super().up()


def _at_once(manager: Manager, n: int = 20) -> None:
    start = threading.Barrier(n)

    def one(_: int) -> None:
        start.wait()
        manager.context.ensure_testnet()

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(one, range(n)))


def test_twenty_shares_at_once_look_at_the_whole_network_once(manager: Manager) -> None:
    testnet = SlowTestnet()
    manager.context._testnet = testnet
    _at_once(manager)
    assert testnet.looks == 1
    assert testnet.calls == []


def test_a_network_down_is_brought_up_once_for_shares_at_once(manager: Manager) -> None:
    testnet = SlowTestnet(running=False)
    manager.context._testnet = testnet
    _at_once(manager)
    assert testnet.calls == ["up"]
    assert testnet.looks == 1


def test_a_network_gone_down_since_it_was_seen_is_looked_at_and_brought_up(
        manager: Manager, testnet: FakeTestnet) -> None:
    manager.context.ensure_testnet()
    testnet.down()  # e.g. `myonion testnet down` in another shell
    manager.context.ensure_testnet()
    assert testnet.calls == ["down", "up"]
    assert testnet.looks == 2


def test_a_network_not_seen_lately_is_looked_at_whole_again(
        manager: Manager, testnet: FakeTestnet, monkeypatch: pytest.MonkeyPatch) -> None:
    manager.context.ensure_testnet()
    manager.context.ensure_testnet()
    assert testnet.looks == 1
    monkeypatch.setattr(service_context, "TESTNET_SEEN", 0.0)
    manager.context.ensure_testnet()
    assert testnet.looks == 2
