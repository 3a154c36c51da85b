"""The contract fixture: one Runtime suite, run on the in-memory fake and on the real engine.

``engine`` is parametrized: ``fake`` (a FakeRuntime with the base image) and ``docker`` (the
real engine, marked integration; in CI a missing engine fails, elsewhere it skips). Everything a
test makes is named with this run's prefix and recorded, and removed at the end, so runs of
other engineers on the shared engine never collide with it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from myonion.build import images
from myonion.errors import MyOnionError
from myonion.runtime.base import Runtime
from myonion.runtime.fake import FakeRuntime

#: the image every container of the suite runs (present on the fake; built if need be)
IMAGE = images.LOCAL_BASE


@dataclass
class Engine:
    """A runtime under test, and what the test made on it (removed afterwards)."""

    runtime: Runtime
    kind: str
    prefix: str = field(default_factory=lambda: f"myonion-contract-{uuid.uuid4().hex[:8]}")
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    @property
    def label(self) -> dict[str, str]:
        """A label only this test's objects carry."""
        return {"org.myonion.contract": self.prefix}

    def cleanup(self) -> None:
        for name in self.containers:
            self.runtime.remove(name)
        for tag in self.tags:
            self.runtime.remove_image(tag)
        for name in self.networks:
            self.runtime.remove_network(name)
        for name in self.volumes:
            self.runtime.remove_volume(name)


def _docker() -> Runtime:
    from myonion.runtime.docker import DockerRuntime

    runtime = DockerRuntime()
    try:
        runtime.ping()
    except MyOnionError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a Docker engine: {e.message}", pytrace=False)
        pytest.skip(f"no Docker engine here: {e.message}")
    images.build_base(runtime)
    return runtime


@pytest.fixture(scope="session")
def docker_engine() -> Runtime:
    return _docker()


@pytest.fixture(params=["fake", pytest.param("docker", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "fake":
        runtime: Runtime = FakeRuntime(images={IMAGE})
    else:
        runtime = request.getfixturevalue("docker_engine")
    made = Engine(runtime, request.param)
    yield made
    made.cleanup()
