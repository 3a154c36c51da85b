from __future__ import annotations

import pytest

from myonion import config
from myonion.errors import OptionError


def test_local_pin_refuses_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYONION_NETWORK", "local")
    assert config.resolve_network(None) == "local"
    assert config.resolve_network("local") == "local"
    with pytest.raises(OptionError, match="refused"):
        config.resolve_network("tor")


def test_default_and_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MYONION_NETWORK")
    assert config.resolve_network(None) == "tor"
    with pytest.raises(OptionError):
        config.resolve_network("moon")
    monkeypatch.setenv("MYONION_NETWORK", "moon")
    with pytest.raises(OptionError, match="MYONION_NETWORK"):
        config.resolve_network(None)
