"""Fakes shared by the unit and GUI tests (the runtime's fake lives in myonion.runtime.fake)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeTestnet:
    """Stands in for myonion.testnet.Testnet's public side; records the calls made to it."""

    running: bool = True
    network: str = "myonion-testnet"
    include_volume: str = "myonion-testnet-include"
    access_network: str = "myonion-testnet-access"
    calls: list[str] = field(default_factory=list)
    #: client keys handed to the test network's client: file name -> .auth_private line
    authorized: dict[str, str] = field(default_factory=dict)

    #: how often the whole network was looked at (:meth:`is_up`)
    looks: int = 0
    #: the nodes that do not run, as :meth:`stopped_nodes` names them
    stopped: list[str] = field(default_factory=list)

    def is_up(self) -> bool:
        self.looks += 1
        return self.running

    def up(self) -> None:
        self.calls.append("up")
        self.running = True

    def down(self) -> None:
        self.calls.append("down")
        self.running = False

    def status(self) -> dict[str, Any]:
        return {"up": self.running}

    def socks(self) -> tuple[str, int]:
        if not self.running:
            from myonion.errors import TestnetError

            raise TestnetError("The local Tor test network is not up.")
        return ("127.0.0.1", 1)

    def authorize(self, key: str, auth_private_line: str) -> None:
        self.authorized[key] = auth_private_line

    def deauthorize(self, key: str) -> None:
        self.authorized.pop(key, None)

    def forget_onions(self) -> bool:
        self.calls.append("forget_onions")
        return True

    def stopped_nodes(self) -> list[str]:
        return list(self.stopped)
