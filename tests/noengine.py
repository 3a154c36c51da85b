"""Unit and template tests run without a Docker engine: they point docker (the Python client
and the command) at a socket that does not exist, so a test that reaches for the real engine
fails on every machine, not only on one without an engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def no_docker_engine(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """DOCKER_HOST at a socket nobody listens on (a test may point it elsewhere itself)."""
    socket = tmp_path_factory.getbasetemp() / "no-docker-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    yield socket
