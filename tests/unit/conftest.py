from __future__ import annotations

import os
from pathlib import Path

import pytest

from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.services.store import StateStore
from tests.fakes import FakeTestnet


@pytest.fixture
def manager(runtime: FakeRuntime, testnet: FakeTestnet) -> Manager:
    return Manager(runtime=runtime, store=StateStore(), testnet=testnet)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder with an index page that everyone may read (the ordinary service user serves
    it); a test module may define its own."""
    (tmp_path / "index.html").write_text("hello")
    os.chmod(tmp_path, 0o755)
    return tmp_path


# no unit test talks to a Docker engine (see tests/noengine.py)
from tests.noengine import no_docker_engine  # noqa: E402, F401
