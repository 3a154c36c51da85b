"""A container removed meanwhile (by the CLI, its time to live, another window) is a
NoSuchObject (a RuntimeFailure) on the real engine as on the fake, never docker's own
NotFound: the desktop app's soak caught `logs` of a just-removed service escaping as a
traceback."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from myonion.errors import NoSuchObject
from myonion.runtime.docker import DockerRuntime
from myonion.runtime.fake import FakeRuntime

pytestmark = pytest.mark.integration

GONE = f"myonion-gt-never-was-{os.getpid()}"
ACTIONS: dict[str, Callable[[Any], object]] = {
    "start": lambda r: r.start(GONE),
    "stop": lambda r: r.stop(GONE),
    "kill": lambda r: r.kill(GONE),
    "logs": lambda r: list(r.logs(GONE, tail=10)),
    "exec": lambda r: r.exec(GONE, ["true"]),
    "put_files": lambda r: r.put_files(GONE, {"/tmp/x": (b"x", 0o600)}, "0:0"),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_acting_on_a_container_that_is_gone_is_no_such_object(
        docker_runtime: DockerRuntime, action: str) -> None:
    for runtime in (FakeRuntime(), docker_runtime):
        with pytest.raises(NoSuchObject, match=GONE):
            ACTIONS[action](runtime)
    assert docker_runtime.get(GONE) is None  # asking whether it is there stays a question
