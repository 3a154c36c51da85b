"""`myonion prune` on the fake runtime: old template and layer versions go, what myonion builds
now and whatever a container uses stay; --dry-run removes nothing."""

from __future__ import annotations

import pytest

from myonion.build import images
from myonion.cli import main
from myonion.manager import Manager
from myonion.runtime.base import ContainerSpec
from myonion.runtime.fake import FakeRuntime


@pytest.fixture
def manager(runtime: FakeRuntime, testnet: object) -> Manager:
    return Manager(runtime=runtime, testnet=testnet)


def test_prune_keeps_current_and_used_images(manager: Manager, runtime: FakeRuntime,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    current = images.current_tags(runtime, manager.registry.all())
    runtime.images |= current
    old = {"myonion/site:0000000000000000", "myonion/tor:0000000000000000",
           "myonion/python:0000000000000000", "myonion/ssh:0000000000000000"}
    used = "myonion/site:1111111111111111"
    runtime.images |= old | {used, "debian:bookworm-slim", "someone/else:1"}
    runtime.create(ContainerSpec(name="theirs", image=used, labels={}))
    monkeypatch.setattr("myonion.cli.common.manager", lambda reporter=None: manager)

    assert main(["prune", "--dry-run"]) == 0
    shown = capsys.readouterr().out
    assert all(f"would remove {tag}" in shown for tag in old)
    assert used not in shown and runtime.images >= old  # nothing removed

    result = manager.prune_images()
    assert set(result.removed) == old and result.size == 4 * 1000
    # layers after the templates built on them
    assert result.removed.index("myonion/site:0000000000000000") < result.removed.index(
        "myonion/python:0000000000000000") < result.removed.index("myonion/tor:0000000000000000")
    assert runtime.images & old == set()
    assert current <= runtime.images and used in runtime.images
    assert {"debian:bookworm-slim", "someone/else:1"} <= runtime.images  # not ours
    assert manager.prune_images().removed == []
    assert main(["prune"]) == 0
    assert "No old images" in capsys.readouterr().out
