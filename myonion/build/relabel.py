"""An image's metadata made to name the architecture of the programs in it.

Docker 20.10's ``docker import`` labels every image with the engine's own architecture (amd64
on a laptop), whatever its files are, and ``--platform`` does not change that (tried); the
classic builder's ``FROM scratch`` does the same unless it is given a platform *and* no cache
(its cache ignores the platform: tried, it handed back the amd64 image). An arm64 base labelled
amd64 would make every image built on it say amd64 too (a child image takes its parent's
architecture), and a machine that checks, like ``bundle load`` or an engine that pulls by
platform, would be lied to.

:func:`relabel` fixes an image exactly: ``docker save`` it, write its config again with the
right ``architecture`` and ``variant``, load that (the same layers, so nothing is copied but the
archive; a new image ID, the sha256 of the new config) and move the tag to it. Images myonion
builds on a truthful base need none of this (they inherit it); :func:`check` tells whether an
image is what it should be.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from myonion.arch import PLATFORMS, Platform
from myonion.errors import RuntimeFailure
from myonion.runtime.base import Runtime

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
MANIFEST = "manifest.json"


def platform_of(runtime: Runtime, tag: str) -> Platform:
    """The platform an image's metadata names."""
    architecture, variant = runtime.image_platform(tag)
    return Platform(architecture, variant)


def check(runtime: Runtime, tag: str, arch: str) -> bool:
    """Whether the image ``tag`` is labelled as ``arch`` (Debian's name) should be (an
    architecture myonion does not build for is taken as the engine labels it)."""
    return arch not in PLATFORMS or platform_of(runtime, tag) == PLATFORMS[arch]


def _rewrite(saved: Path, fixed: Path, wanted: Platform) -> str:
    """Copy the one-image archive ``saved`` to ``fixed`` with its config naming ``wanted`` and
    no tags; returns the new image ID."""
    with tarfile.open(saved, "r:") as src:
        manifest = src.extractfile(MANIFEST)
        assert manifest is not None
        entries = json.loads(manifest.read())
        if len(entries) != 1:
            raise RuntimeFailure(f"The engine saved {len(entries)} images where one was asked "
                                 "for; its architecture was not changed.")
        entry = entries[0]
        member = src.extractfile(entry["Config"])
        assert member is not None
        config = json.loads(member.read())
        config["architecture"] = wanted.architecture
        config.pop("variant", None)
        if wanted.variant:
            config["variant"] = wanted.variant
        data = json.dumps(config, separators=(",", ":")).encode()
        digest = hashlib.sha256(data).hexdigest()
        new_entry = {**entry, "Config": f"{digest}.json", "RepoTags": []}
        replaced = {f"{digest}.json": data, MANIFEST: json.dumps([new_entry]).encode()}
        with tarfile.open(fixed, "w:", format=tarfile.PAX_FORMAT) as dst:
            for item in src:
                if item.name in (MANIFEST, "repositories", entry["Config"]):
                    continue
                dst.addfile(item, src.extractfile(item) if item.isreg() else None)
            for name, content in replaced.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(content), 0o644
                dst.addfile(info, io.BytesIO(content))
    return f"sha256:{digest}"


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def relabel(runtime: Runtime, tag: str, arch: str) -> str:
    """Make ``tag`` name an image labelled as ``arch`` (Debian's name) with the same layers;
    returns its image ID. The image it named before is left to its other tags (or to
    ``docker image prune`` when it has none). Nothing happens if the label is right."""
    wanted = PLATFORMS[arch]
    before = platform_of(runtime, tag)
    if before == wanted:
        return str(runtime.image_id(tag))
    with tempfile.TemporaryDirectory(prefix="myonion-relabel-") as tmp:
        saved, fixed = Path(tmp) / "saved.tar", Path(tmp) / "fixed.tar"
        runtime.save_images([tag], str(saved))
        image_id = _rewrite(saved, fixed, wanted)
        saved.unlink()
        runtime.load_images(_chunks(fixed))
    if not runtime.image_exists(image_id):
        raise RuntimeFailure(f"Loading {tag} labelled {wanted} did not give the image "
                             f"{image_id}; {tag} was left as it was ({before}).")
    runtime.tag_image(image_id, tag)
    if platform_of(runtime, tag) != wanted:
        raise RuntimeFailure(f"The engine keeps labelling {tag} {platform_of(runtime, tag)}, "
                             f"not {wanted}.")
    log.info("%s was labelled %s; now %s (%s)", tag, before, wanted, image_id)
    return image_id
