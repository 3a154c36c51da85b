from __future__ import annotations

import pytest

from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.services.store import StateStore
from tests.fakes import FakeTestnet


@pytest.fixture
def manager(runtime: FakeRuntime, testnet: FakeTestnet) -> Manager:
    return Manager(runtime=runtime, store=StateStore(), testnet=testnet)


# no unit test talks to a Docker engine (see tests/noengine.py)
from tests.noengine import no_docker_engine  # noqa: E402, F401
