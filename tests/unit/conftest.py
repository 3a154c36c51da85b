from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.state import StateStore


@dataclass
class FakeTestnet:
    """Stands in for the private Tor network in unit tests."""

    running: bool = True
    network: str = "myonion-testnet"
    include_volume: str = "myonion-testnet-include"
    ups: list[int] = field(default_factory=list)

    def is_up(self) -> bool:
        return self.running

    def up(self) -> None:
        self.ups.append(1)
        self.running = True

    def socks(self) -> tuple[str, int]:
        return ("127.0.0.1", 1)


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime(images={"myonion/base:bookworm"})


@pytest.fixture
def testnet() -> FakeTestnet:
    return FakeTestnet()


@pytest.fixture
def manager(runtime: FakeRuntime, testnet: FakeTestnet) -> Manager:
    return Manager(runtime=runtime, store=StateStore(), testnet=testnet)
