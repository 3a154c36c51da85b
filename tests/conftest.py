"""Shared fixtures: every test gets its own myonion home; the public Tor network is never used."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from myonion.runtime.fake import FakeRuntime
from tests.fakes import FakeTestnet

# No test may ever create a service on the public Tor network.
os.environ["MYONION_NETWORK"] = "local"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def myonion_home(tmp_path_factory: pytest.TempPathFactory,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MYONION_HOME", str(home))
    monkeypatch.setenv("MYONION_NETWORK", "local")
    yield home


@pytest.fixture
def runtime() -> FakeRuntime:
    """The in-memory runtime, with the base image present."""
    return FakeRuntime(images={"myonion/base:bookworm"})


@pytest.fixture
def testnet() -> FakeTestnet:
    return FakeTestnet()


# run-wide rules: nothing skips under CI, no test writes into committed files; heavy tests
# (long runs under emulation) run only with --heavy (scripts/test-heavy.sh)
from tests.heavy import pytest_addoption, pytest_collection_modifyitems  # noqa: E402, F401
from tests.suite_rules import (  # noqa: E402, F401
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
)
