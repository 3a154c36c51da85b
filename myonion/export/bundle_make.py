"""Making a bundle (see :mod:`myonion.export.bundle` for what one holds and how a load checks
it): a deployment's images for the manager's architecture, built when missing, saved by the
engine and read back as a load would read them, with the file, manifest and checksums."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from myonion.build import images
from myonion.deploy import Deployment
from myonion.errors import MyOnionError
from myonion.export.bundle import (
    FILE_RE,
    FORMAT,
    IMAGES,
    MANIFEST,
    SUMS,
    Bundle,
    BundleError,
    check_platforms,
    sha256_file,
)
from myonion.export.imagearchive import ArchiveError, ImageArchive
from myonion.manager import Manager


def bundle_images(manager: Manager, deployment: Deployment) -> list[str]:
    """The tags a deployment needs for the manager's architecture (built when missing): base,
    tor layer, each template."""
    runtime, arch = manager.context.runtime, manager.arch
    tags = {images.tor_image(runtime, manager.reporter, arch), images.base_image(runtime, arch)}
    for template_id in sorted({s.template for s in deployment.expanded()}):
        tags.add(images.template_image(runtime, manager.template(template_id),
                                       manager.reporter, arch=arch))
    return sorted(tags)


def create_bundle(manager: Manager, deployment: Deployment, output: str | Path) -> Bundle:
    """Write a bundle of ``deployment`` to ``output`` (refused if it exists). Its images.tar is
    read back as a load would read it, so a bundle that would be refused is never written."""
    out = Path(output).expanduser().resolve()
    if out.exists():
        raise MyOnionError(f"{output} exists already; it was not overwritten.",
                           hint="Give another file name, or remove that file first.")
    runtime = manager.context.runtime
    runtime.ping()
    arch = manager.arch
    tags = bundle_images(manager, deployment)
    file = deployment.path.name if FILE_RE.fullmatch(deployment.path.name) else "myonion.yaml"
    with tempfile.TemporaryDirectory(prefix="myonion-bundle-", dir=out.parent) as tmp:
        work = Path(tmp)
        runtime.save_images(tags, str(work / IMAGES))
        with open(work / IMAGES, "rb") as f:
            try:
                archive = ImageArchive(f, os.fstat(f.fileno()).st_size)
                saved = archive.tags()
                check_platforms(archive, arch, out)
            except ArchiveError as e:
                raise BundleError(f"The engine saved an {IMAGES} that a load would refuse: "
                                 f"it {e.message}.", hint=None) from e
        ids = {tag: runtime.image_id(tag) for tag in tags}
        if saved != ids:
            raise BundleError(f"The engine saved images other than {', '.join(tags)} (or with "
                              "other IDs); no bundle was written.", hint=None)
        shutil.copyfile(deployment.path, work / file)
        manifest = {"format": FORMAT, "deployment": deployment.name, "file": file,
                    "images": saved, "architecture": arch}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        names = [MANIFEST, file, IMAGES]
        (work / SUMS).write_text("".join(f"{sha256_file(work / n)}  {n}\n" for n in names))
        partial = out.with_name(f".{out.name}.partial")
        with tarfile.open(partial, "w") as tar:
            for name in [SUMS, *names]:
                tar.add(work / name, arcname=name, recursive=False)
        os.replace(partial, out)
    return Bundle(out, deployment.name, file, saved, arch=arch)
