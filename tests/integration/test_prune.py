"""`myonion prune` on the real engine: an older version of a template's image goes, the current
one and an old one a container still uses stay, and so does every layer something builds on."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from myonion import cli
from myonion.build import images
from myonion.manager import Manager
from myonion.runtime.base import ContainerSpec
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from tests.fakes import FakeTestnet

pytestmark = [pytest.mark.integration]

OLD = "myonion/site:0000000000000000"  # a version no template builds now
USED = "myonion/site:1111111111111111"  # another, which a container still uses
CONTAINER = "myonion-it-prune-user"


@pytest.fixture
def old_images(docker_runtime: DockerRuntime) -> Iterator[str]:
    """Two 'old versions' of site (tags of the current image) and a container using one."""
    current = images.template_image(docker_runtime, Manager(
        runtime=docker_runtime, testnet=FakeTestnet()).registry.get("site"))
    client = docker.from_env()
    image = client.images.get(current)
    for tag in (OLD, USED):
        repo, _, version = tag.partition(":")
        image.tag(repo, version)
    docker_runtime.remove(CONTAINER)
    docker_runtime.create(ContainerSpec(name=CONTAINER, image=USED, labels={}))
    yield current
    docker_runtime.remove(CONTAINER)
    for tag in (OLD, USED):
        docker_runtime.remove_image(tag)


def test_prune_removes_only_old_unused_versions(
        docker_runtime: DockerRuntime, old_images: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    manager = Manager(runtime=docker_runtime, store=StateStore(), testnet=FakeTestnet())
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    capsys.readouterr()
    assert cli.main(["prune", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    print(dry)
    assert f"would remove {OLD}" in dry and USED not in dry and old_images not in dry
    assert docker_runtime.image_exists(OLD)
    # other old versions may exist on this engine (earlier builds): prune removes those too,
    # but never what is current or in use
    before = set(docker_runtime.list_images("myonion/"))
    in_use = {c.image for c in docker_runtime.list_containers({})}
    result = manager.prune_images()
    print(f"removed {len(result.removed)} image(s), {result.size / 1e6:.1f} MB; "
          f"kept {result.kept}")
    after = set(docker_runtime.list_images("myonion/"))
    assert OLD in result.removed and not docker_runtime.image_exists(OLD)
    assert docker_runtime.image_exists(USED) and docker_runtime.image_exists(old_images)
    current = images.current_tags(docker_runtime, manager.registry.all())
    assert (before & (current | in_use)) <= after
    assert after == before - set(result.removed)
    assert manager.prune_images().removed == []  # nothing left to prune
