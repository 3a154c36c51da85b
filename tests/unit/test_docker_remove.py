"""Removing a container another command is removing right now (the soak met it: `myonion ls`
failed with "removal of container … is already in progress" while the app removed the same
service): it counts as removed once the container is gone, and only then."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from myonion.errors import RuntimeFailure
from myonion.runtime.docker import DockerRuntime
from myonion.runtime.docker import containers as docker_containers

IN_PROGRESS = "removal of container myonion-x is already in progress"


def runtime_with(remove_error: str, gone_after: int) -> tuple[DockerRuntime, list[str]]:
    """A runtime whose container refuses removal with ``remove_error``, and is found
    ``gone_after`` more times before it is gone."""
    calls: list[str] = []
    left = [gone_after]

    class Container:
        def remove(self, force: bool, v: bool) -> None:
            calls.append("remove")
            raise docker.errors.APIError("409", explanation=remove_error)

    class Containers:
        def get(self, name: str) -> Any:
            calls.append("get")
            if left[0] < 0:
                raise docker.errors.NotFound("gone")
            left[0] -= 1
            return Container()

    class Client:
        containers = Containers()

    runtime = DockerRuntime(client=Client())  # type: ignore[arg-type]
    # the container's details are not what this is about
    runtime.get = lambda name: (  # type: ignore[method-assign]
        None if left[0] < 0 else (left.__setitem__(0, left[0] - 1) or object()))
    return runtime, calls


def test_a_removal_in_progress_elsewhere_counts_once_the_container_is_gone() -> None:
    runtime, calls = runtime_with(IN_PROGRESS, gone_after=3)
    runtime.remove("myonion-x")
    assert calls == ["get", "remove"]  # one try; then it waited until it was gone


def test_it_waits_no_longer_than_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_containers, "REMOVAL_WAIT", 0.3)
    runtime, _ = runtime_with(IN_PROGRESS, gone_after=10**6)
    with pytest.raises(RuntimeFailure, match="already in progress"):
        runtime.remove("myonion-x")


def test_any_other_refusal_is_an_error() -> None:
    runtime, _ = runtime_with("device or resource busy", gone_after=0)
    with pytest.raises(RuntimeFailure, match="busy"):
        runtime.remove("myonion-x")
