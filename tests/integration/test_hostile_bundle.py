"""A bundle crafted to move a tag it does not own, on the real engine.

Two small images of our own are built on the base: a "victim" outside myonion's names (as any
image on the host) and the bundle's own image. The bundle's images.tar gives the victim's tag to
the bundle's image as well: loaded as it is, Docker moves that tag (shown first, then undone);
through ``load_bundle`` it is refused and the tag still names its old image.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from myonion.build import images
from myonion.export import bundle
from myonion.runtime.docker import DockerRuntime
from tests import hostile

pytestmark = [pytest.mark.integration]


def build(runtime: DockerRuntime, tag: str, label: str) -> str:
    dockerfile = f"FROM {images.LOCAL_BASE}\nLABEL org.myonion.test={label}\n".encode()
    context = io.BytesIO(hostile.tar_bytes([hostile.reg("Dockerfile", dockerfile)]))
    runtime.build(context, tag, {}, lambda line: None)
    image = runtime.image_id(tag)
    assert image is not None
    return image


@pytest.fixture
def two_images(docker_runtime: DockerRuntime) -> Iterator[tuple[str, str, str, str]]:
    """(victim tag, its ID, the bundle's tag, its ID); removed afterwards."""
    assert docker_runtime.image_exists(images.LOCAL_BASE)
    run = uuid.uuid4().hex[:12]
    victim, own = f"myonion-test/victim:{run}", f"myonion/hostile-test:{run}"
    victim_id = build(docker_runtime, victim, f"victim-{run}")
    own_id = build(docker_runtime, own, f"bundle-{run}")
    yield victim, victim_id, own, own_id
    for image in (victim, own, victim_id, own_id):
        docker_runtime.remove_image(image)


def test_a_bundle_cannot_move_a_tag_it_does_not_own(
        docker_runtime: DockerRuntime, two_images: tuple[str, str, str, str],
        tmp_path: Path) -> None:
    victim, victim_id, own, own_id = two_images
    docker_runtime.save_images([own], str(tmp_path / "images.tar"))
    genuine = (tmp_path / "images.tar").read_bytes()
    evil = hostile.edit_manifest(genuine, lambda e: e[0]["RepoTags"].append(victim))
    # the attack is real: Docker, given the archive as it is, moves the victim's tag
    docker_runtime.load_images([evil])
    assert docker_runtime.image_id(victim) == own_id
    docker_runtime.tag_image(victim_id, victim)
    assert docker_runtime.image_id(victim) == victim_id
    docker_runtime.remove_image(own)  # as on a machine that never had it
    assert not docker_runtime.image_exists(own)
    files = {"manifest.json": json.dumps({
        "format": bundle.FORMAT, "deployment": "hostile", "file": "myonion.yaml",
        "images": {own: own_id}, "architecture": images.architecture()}).encode(),
        "myonion.yaml": b"version: 1\nservices:\n  web:\n    template: site\n",
        "images.tar": evil}
    path = hostile.write_bundle(tmp_path / "evil.tar", files)
    start = time.perf_counter()
    with pytest.raises(bundle.BundleError, match=rf"holds other images or tags than its "
                       rf"manifest\.json names \({victim}\); nothing was loaded"):
        bundle.load_bundle(docker_runtime, path, tmp_path / "to")
    print(f"\nextra tag in images.tar, real engine: refused in "
          f"{time.perf_counter() - start:.3f} s")
    assert docker_runtime.image_id(victim) == victim_id
    assert not docker_runtime.image_exists(own) and not (tmp_path / "to").exists()
    # listed in the manifest as well: the victim is not myonion's, so still refused
    listed = hostile.write_bundle(tmp_path / "listed.tar", files, manifest={
        "images": {own: own_id, victim: own_id}})
    with pytest.raises(bundle.BundleError, match=rf"would set the tag {victim}, which is "
                       "neither myonion's"):
        bundle.load_bundle(docker_runtime, listed, tmp_path / "to")
    assert docker_runtime.image_id(victim) == victim_id
    assert not docker_runtime.image_exists(own)
    # the genuine archive loads: its own tag, by its verified ID, through the rewritten stream
    files["images.tar"] = genuine
    loaded = bundle.load_bundle(docker_runtime, hostile.write_bundle(tmp_path / "ok.tar", files),
                                tmp_path / "to")
    assert loaded.images == {own: own_id} and docker_runtime.image_id(own) == own_id
    assert docker_runtime.image_id(victim) == victim_id
    assert (tmp_path / "to" / "myonion.yaml").read_bytes() == files["myonion.yaml"]
