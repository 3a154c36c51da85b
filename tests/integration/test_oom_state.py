"""The engine's word that it killed a container at its memory limit reaches myonion (what a
share that failed on a test network whose node died names as its cause), and a container that
only exited is not taken for one."""

from __future__ import annotations

import os
import time

import pytest

from myonion.build.images import LOCAL_BASE
from myonion.runtime.base import ContainerInfo, ContainerSpec
from myonion.runtime.docker import DockerRuntime

pytestmark = pytest.mark.integration

NAME = f"myonion-oom-{os.getpid()}"


def _ended(runtime: DockerRuntime, script: str) -> ContainerInfo:
    runtime.create(ContainerSpec(name=NAME, image=LOCAL_BASE, labels={"org.myonion.test": "oom"},
                                 entrypoint=["sh", "-c", script], command=[], user="65534:65534",
                                 mem_limit="16m", network="none"))
    try:
        runtime.start(NAME)
        deadline = time.monotonic() + 60
        while True:
            info = runtime.get(NAME)
            assert info is not None
            if not info.running or time.monotonic() > deadline:
                return info
            time.sleep(0.2)
    finally:
        runtime.remove(NAME)


def test_a_container_killed_at_its_memory_limit_is_known_as_such(
        docker_runtime: DockerRuntime) -> None:
    # the shell holds 64 MB of output in memory: four times its limit
    info = _ended(docker_runtime, "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo ${#x}")
    assert (info.status, info.exit_code, info.oom_killed) == ("exited", 137, True)


def test_a_container_that_exits_is_not_taken_for_one_killed(
        docker_runtime: DockerRuntime) -> None:
    info = _ended(docker_runtime, "exit 3")
    assert (info.status, info.exit_code, info.oom_killed) == ("exited", 3, False)
