"""Heavy tests: long runs under emulation (armhf, the whole Pi gateway on arm64, a Pi's own
myonion loading a bundle), marked ``heavy``. They are deselected — not skipped: a skip under CI
fails the run — unless ``--heavy`` is given (``scripts/test-heavy.sh`` runs exactly them), so
CI's run stays well inside its time limit while every one of them can be run by name.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--heavy", action="store_true", default=False,
                     help="also run the tests marked heavy (long runs under emulation)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--heavy"):
        return
    heavy = [item for item in items if item.get_closest_marker("heavy")]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if not item.get_closest_marker("heavy")]
