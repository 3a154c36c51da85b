"""Offline bundles: a deployment's images and file in one tar, for a machine with no registry.

A bundle (an uncompressed tar) holds exactly four files::

    SHA256SUMS      sha256 of each other file, as `sha256sum` writes them
    manifest.json   format, deployment name, the file's name, the image tags, architecture
    <file>          the deployment file (e.g. myonion.yaml)
    images.tar      `docker save` of the images: base, tor layer, one per template

:func:`load_bundle` checks every checksum (and that nothing else is in the tar) before it loads
anything, so a damaged or altered bundle changes nothing. The checksums guard against damage,
not against someone who can rewrite the whole bundle: bring it over a channel you trust.
The base and tor-layer tags are included so that ``myonion up`` finds every image it would
otherwise build, and builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from myonion import images
from myonion.deploy import Deployment
from myonion.errors import MyOnionError
from myonion.manager import Manager
from myonion.runtime.base import Runtime

FORMAT = 1
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
IMAGES = "images.tar"
FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.ya?ml")


class BundleError(MyOnionError):
    hint = "Make the bundle again with `myonion bundle` and copy it over once more."


@dataclass
class Bundle:
    """What a bundle holds (from its manifest)."""

    path: Path
    deployment: str
    file: str
    images: list[str]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_images(manager: Manager, deployment: Deployment) -> list[str]:
    """The tags a deployment needs (built when missing): base, tor layer, each template."""
    runtime = manager.runtime
    tags = {images.base_image(runtime), images.tor_image(runtime, manager.reporter)}
    for template_id in sorted({s.template for s in deployment.expanded()}):
        tags.add(images.template_image(runtime, manager.template(template_id),
                                       manager.reporter))
    return sorted(tags)


def create_bundle(manager: Manager, deployment: Deployment, output: str | Path) -> Bundle:
    """Write a bundle of ``deployment`` to ``output`` (refused if it exists)."""
    out = Path(output).expanduser().resolve()
    if out.exists():
        raise MyOnionError(f"{output} exists already; it was not overwritten.",
                           hint="Give another file name, or remove that file first.")
    manager.runtime.ping()
    tags = bundle_images(manager, deployment)
    file = deployment.path.name if FILE_RE.fullmatch(deployment.path.name) else "myonion.yaml"
    with tempfile.TemporaryDirectory(prefix="myonion-bundle-", dir=out.parent) as tmp:
        work = Path(tmp)
        manager.runtime.save_images(tags, str(work / IMAGES))
        shutil.copyfile(deployment.path, work / file)
        manifest = {"format": FORMAT, "deployment": deployment.name, "file": file,
                    "images": tags, "architecture": images.architecture()}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        names = [MANIFEST, file, IMAGES]
        (work / SUMS).write_text("".join(f"{_sha256(work / n)}  {n}\n" for n in names))
        partial = out.with_name(f".{out.name}.partial")
        with tarfile.open(partial, "w") as tar:
            for name in [SUMS, *names]:
                tar.add(work / name, arcname=name, recursive=False)
        os.replace(partial, out)
    return Bundle(out, deployment.name, file, tags)


def _extract(path: Path, into: Path) -> None:
    """Extract the bundle's regular files (and nothing else) into ``into``."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            if len(set(names)) != len(names):
                raise BundleError(f"{path} is not a valid bundle: a file is in it twice.")
            for member in members:
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    raise BundleError(f"{path} is not a valid bundle: it holds "
                                      f"'{member.name}', which no bundle has.")
            tar.extractall(into, filter="data")
    except (OSError, tarfile.TarError) as e:
        raise BundleError(f"{path} cannot be read as a bundle ({e}).") from e


def verify(directory: Path, path: Path) -> Bundle:
    """Check an extracted bundle's checksums and manifest; raises :class:`BundleError`."""
    sums_file = directory / SUMS
    if not sums_file.is_file():
        raise BundleError(f"{path} is not a bundle: it has no {SUMS}.")
    expected: dict[str, str] = {}
    for number, line in enumerate(sums_file.read_text().splitlines(), start=1):
        match = re.fullmatch(r"([0-9a-f]{64})  (\S+)", line)
        if match is None:
            raise BundleError(f"{path}: line {number} of {SUMS} is malformed.")
        expected[match.group(2)] = match.group(1)
    present = {p.name for p in directory.iterdir()} - {SUMS}
    if present != set(expected):
        extra, missing = sorted(present - set(expected)), sorted(set(expected) - present)
        raise BundleError(f"{path} does not match its {SUMS}: "
                          + "; ".join(([f"not listed: {', '.join(extra)}"] if extra else [])
                                      + ([f"missing: {', '.join(missing)}"] if missing else []))
                          + ".")
    for name, digest in sorted(expected.items()):
        if _sha256(directory / name) != digest:
            raise BundleError(f"{path} is damaged: the checksum of {name} does not match; "
                              "nothing was loaded.")
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        bundle = Bundle(path, str(manifest["deployment"]), str(manifest["file"]),
                        [str(t) for t in manifest["images"]])
        fmt = manifest["format"]
        arch = str(manifest.get("architecture", images.architecture()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{path}: its {MANIFEST} cannot be read ({e}).") from e
    if fmt != FORMAT:
        raise BundleError(f"{path} is a bundle of format {fmt}; this myonion reads {FORMAT}.",
                          hint="Use the same myonion version on both machines.")
    if arch != images.architecture():
        raise BundleError(f"{path} holds images for {arch}; this machine is "
                          f"{images.architecture()}, so they would not run here.",
                          hint=f"Make the bundle on a machine of this architecture "
                          f"({images.architecture()}).")
    if not FILE_RE.fullmatch(bundle.file) or set(expected) != {MANIFEST, IMAGES, bundle.file}:
        raise BundleError(f"{path}: its {MANIFEST} does not match the files in it.")
    return bundle


def load_bundle(runtime: Runtime, path: str | Path, to: str | Path) -> Bundle:
    """Verify a bundle, load its images and put its deployment file into the folder ``to``
    (an existing different file there is refused before anything is loaded)."""
    source = Path(path).expanduser().resolve()
    target_dir = Path(to).expanduser().resolve()
    with tempfile.TemporaryDirectory(prefix="myonion-bundle-") as tmp:
        work = Path(tmp)
        _extract(source, work)
        bundle = verify(work, source)
        target = target_dir / bundle.file
        if target.exists() and target.read_bytes() != (work / bundle.file).read_bytes():
            raise MyOnionError(f"{target} exists and differs from the bundle's file; nothing "
                               "was loaded.", hint="Load it into another folder with --to DIR.")
        runtime.ping()
        runtime.load_images(str(work / IMAGES))
        missing = [t for t in bundle.images if not runtime.image_exists(t)]
        if missing:
            raise BundleError(f"{source}: loading did not give the image(s) "
                              f"{', '.join(missing)}.")
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / bundle.file, target)
    bundle.path = target
    return bundle
