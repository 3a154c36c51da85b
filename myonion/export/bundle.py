"""Offline bundles: a deployment's images and file in one tar, for a machine with no registry.

A bundle (an uncompressed tar) holds exactly four regular files::

    SHA256SUMS      sha256 of each other file, as `sha256sum` writes them
    manifest.json   format 2: deployment name, the file's name, architecture, and "images":
                    each tag → the ID (sha256 of the config) of the image it names
    <file>          the deployment file (e.g. myonion.yaml)
    images.tar      `docker save` of the images: base, tor layer, one per template

A bundle is made by :func:`myonion.export.bundle_make.create_bundle`. It comes from
elsewhere, so :func:`load_bundle` trusts nothing in it until it is checked,
and checks everything before the engine sees a byte:

- the tar's member headers, before anything is read: regular files only (no links, folders,
  devices or sparse members), plain names, at most four, sizes bounded and not more than the
  file holds (a 10 KB bundle cannot claim a 3 GiB member); the engine's disk has room for them;
- the checksums and the manifest (format, architecture, file name, tags): the architecture must
  be this machine's (``myonion bundle --arch arm64`` on a laptop makes one for a 64-bit Pi);
- ``images.tar``, in place, never unpacked (:mod:`myonion.export.imagearchive`): it holds
  exactly the images the manifest names, under exactly its tags, with the IDs it records, and
  every one of them is labelled as the manifest's architecture (what the engine will run it as);
- the tags it would set, against this machine (see "Which tags a bundle may set");
- the folder ``--to``: the deployment file is created fresh (``O_EXCL | O_NOFOLLOW``); a link,
  or another file of that name there, is refused. It is written 0600: it may hold secrets.

Then the images are loaded with every name taken out (the engine tags nothing), their IDs are
checked once more on the engine, and only then are the manifest's tags set, one by one, by ID.
The checksums guard against damage, not against someone who can rewrite the whole bundle (bring
it over a channel you trust): what they cannot do is touch anything but myonion's own images.

Which tags a bundle may set (what it "owns")
--------------------------------------------
A bundle owns the names of myonion's own images, ``myonion/…`` (templates, the tor layer, the
locally built base), because providing those is its job: such a tag is set even if it pointed to
another image (a build of the same template elsewhere differs by timestamps); each one moved is
reported. Outside ``myonion/`` it may name only the base image myonion builds on here
(``debian:bookworm-slim`` or the configured ``MYONION_BASE_IMAGE``), and only where that tag is
missing or already points to the same image. Every other tag on the machine is never changed.
The base and tor-layer tags are included so that ``myonion up`` finds every image it would
otherwise build, and builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from myonion import arch as arches
from myonion import safeyaml
from myonion.build import images
from myonion.errors import MyOnionError
from myonion.export.imagearchive import ArchiveError, ImageArchive
from myonion.runtime.base import Runtime

log = logging.getLogger(__name__)

FORMAT = 2
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
IMAGES = "images.tar"
FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.ya?ml")
#: repository[/path]:tag, no registry host, no digest: the only tags a bundle may name
TAG_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
                    r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
OURS = "myonion/"
MAX_META = 1024 * 1024
MAX_IMAGES = 64 * 1024**3
#: the engine unpacks the archive, then stores its layers: about twice its size
SPACE_FACTOR = 2


class BundleError(MyOnionError):
    hint = "Make the bundle again with `myonion bundle` and copy it over once more."


@dataclass
class Bundle:
    """What a bundle holds (from its manifest): ``images`` maps each tag to its image ID;
    ``replaced`` lists the myonion tags a load moved from another image; ``arch``: the
    architecture of its images."""

    path: Path
    deployment: str
    file: str
    images: dict[str, str]
    replaced: list[str] = field(default_factory=list)
    arch: str = ""


def _sha256(f: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: f.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return _sha256(f)


def check_platforms(archive: ImageArchive, arch: str, path: Path) -> None:
    """Every image of ``archive`` is labelled as ``arch`` should be (else BundleError)."""
    want = arches.PLATFORMS.get(arch)
    if want is None:
        raise BundleError(f"{path} is for {arch[:40]}, an architecture myonion builds no "
                          "images for; nothing was loaded.")
    wrong = sorted({f"{a}/{v}" if v else a or "no architecture"
                    for a, v in (i.platform for i in archive.images)
                    if (a, v) != (want.architecture, want.variant)})
    if wrong:
        raise BundleError(f"{path}: its {IMAGES} holds images labelled {', '.join(wrong)}, not "
                          f"{want} as its {MANIFEST} says ({arch}); nothing was loaded.")


# --- loading: the tar, the checksums, the manifest ------------------------------------------
def _members(tar: tarfile.TarFile, path: Path, size: int) -> dict[str, tarfile.TarInfo]:
    """The bundle's four members, from their headers alone (nothing is read or unpacked)."""
    members: dict[str, tarfile.TarInfo] = {}
    total = 0
    while (member := tar.next()) is not None:
        name = member.name
        if len(members) == 4:
            raise BundleError(f"{path} is not a valid bundle: it holds more than four files.")
        if member.issparse() or member.type == tarfile.GNUTYPE_SPARSE:
            raise BundleError(f"{path} is not a valid bundle: '{name}' is a sparse member "
                              f"({member.size} bytes once unpacked); nothing was unpacked.")
        if not member.isreg():
            raise BundleError(f"{path} is not a valid bundle: '{name}' is not a regular file "
                              "(a link, a folder or a device); nothing was unpacked.")
        if name not in (SUMS, MANIFEST, IMAGES) and not FILE_RE.fullmatch(name):
            raise BundleError(f"{path} is not a valid bundle: it holds '{name}', which no "
                              "bundle has.")
        if name in members:
            raise BundleError(f"{path} is not a valid bundle: a file is in it twice.")
        limit = MAX_IMAGES if name == IMAGES else (
            MAX_META if name in (SUMS, MANIFEST) else safeyaml.MAX_BYTES)
        total += member.size
        if member.size > limit or total > size:
            raise BundleError(f"{path} is not a valid bundle: '{name}' declares {member.size} "
                              f"bytes, more than " + (f"the {limit} allowed" if member.size >
                                                      limit else f"the {size}-byte file holds")
                              + "; nothing was unpacked.")
        members[name] = member
    return members


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    assert f is not None  # a regular member, and small (checked in _members)
    return f.read()


def _checksums(text: str, present: set[str], path: Path) -> dict[str, str]:
    expected: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.fullmatch(r"([0-9a-f]{64})  (\S+)", line)
        if match is None:
            raise BundleError(f"{path}: line {number} of {SUMS} is malformed.")
        expected[match.group(2)] = match.group(1)
    if present != set(expected):
        extra, missing = sorted(present - set(expected)), sorted(set(expected) - present)
        raise BundleError(f"{path} does not match its {SUMS}: "
                          + "; ".join(([f"not listed: {', '.join(extra)}"] if extra else [])
                                      + ([f"missing: {', '.join(missing)}"] if missing else []))
                          + ".")
    return expected


def _manifest(data: bytes, expected: dict[str, str], path: Path) -> Bundle:
    try:
        manifest = json.loads(data)
        fmt = manifest["format"]
        if fmt != FORMAT:
            raise BundleError(f"{path} is a bundle of format {fmt}; this myonion reads {FORMAT}"
                              + (" (format 1 records no image IDs, so its images cannot be "
                                 "checked)" if fmt == 1 else "") + "; nothing was loaded.",
                              hint="Make the bundle again with this myonion version.")
        bundle = Bundle(path, str(manifest["deployment"]), str(manifest["file"]),
                        {str(t): str(i) for t, i in dict(manifest["images"]).items()},
                        arch=str(manifest.get("architecture", arches.host())))
    except (ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{path}: its {MANIFEST} cannot be read ({e}).") from e
    here = arches.host()
    if bundle.arch != here:
        raise BundleError(f"{path} holds images for {bundle.arch[:40]}; this machine is "
                          f"{here}, so they would not run here.",
                          hint=f"Make the bundle for this machine: `myonion bundle --arch "
                          f"{here} -f FILE -o OUT.tar` (on any machine that can build {here} "
                          "images).")
    if not FILE_RE.fullmatch(bundle.file) or set(expected) != {MANIFEST, IMAGES, bundle.file}:
        raise BundleError(f"{path}: its {MANIFEST} does not match the files in it.")
    bad = [f"{t} → {i}" for t, i in bundle.images.items()
           if not TAG_RE.fullmatch(t) or not re.fullmatch(r"sha256:[0-9a-f]{64}", i)]
    if bad or not bundle.images:
        raise BundleError(f"{path}: its {MANIFEST} names no images or malformed ones "
                          f"({', '.join(bad)[:300]}).")
    return bundle


def verify(tar: tarfile.TarFile, path: Path, size: int) -> tuple[Bundle, bytes, ImageArchive]:
    """Check an open bundle (see the module's docstring) without unpacking it: its
    :class:`Bundle`, the deployment file's bytes and its images; raises :class:`BundleError`."""
    members = _members(tar, path, size)
    if SUMS not in members:
        raise BundleError(f"{path} is not a bundle: it has no {SUMS}.")
    small = {n: _read(tar, m) for n, m in members.items() if n != IMAGES}
    expected = _checksums(small[SUMS].decode(errors="replace"), set(members) - {SUMS}, path)
    for name, digest in sorted(expected.items()):
        f = tar.extractfile(members[name])
        assert f is not None
        if _sha256(f) != digest:
            raise BundleError(f"{path} is damaged: the checksum of {name} does not match; "
                              "nothing was loaded.")
    bundle = _manifest(small[MANIFEST], expected, path)
    text = small[bundle.file]
    try:
        safeyaml.parse(text.decode(), f"{path}:{bundle.file}")
    except (safeyaml.RefusedFile, yaml.YAMLError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: its deployment file is refused: {e}; nothing was "
                          "loaded.") from e
    archive_file = tar.extractfile(members[IMAGES])
    assert archive_file is not None
    try:
        archive = ImageArchive(archive_file, members[IMAGES].size)
        tags = archive.tags()
    except ArchiveError as e:
        raise BundleError(f"{path}: its {IMAGES} {e.message}; nothing was loaded.") from e
    if tags != bundle.images:
        differ = sorted({t for t, _ in set(tags.items()) ^ set(bundle.images.items())})
        raise BundleError(f"{path}: its {IMAGES} holds other images or tags than its "
                          f"{MANIFEST} names ({', '.join(differ)}); nothing was loaded.")
    if len(archive.images) != len(set(tags.values())):
        raise BundleError(f"{path}: its {IMAGES} holds images its {MANIFEST} does not name; "
                          "nothing was loaded.")
    check_platforms(archive, bundle.arch, path)
    return bundle, text, archive


# --- loading: this machine -------------------------------------------------------------------
def _owned(runtime: Runtime, bundle: Bundle) -> list[str]:
    """Refuse a tag the bundle may not set here; the myonion tags it moves (see the docstring)."""
    replaced = []
    for tag, image_id in sorted(bundle.images.items()):
        ours = tag.startswith(OURS)
        if not ours and tag not in images.base_names():
            raise BundleError(
                f"{bundle.path} would set the tag {tag}, which is neither myonion's "
                f"({OURS}…) nor the base image myonion builds on here; nothing was loaded.",
                hint=f"If {tag} is your base image, set MYONION_BASE_IMAGE={tag} and load the "
                "bundle again.")
        current = runtime.image_id(tag)
        if current is None or current == image_id:
            continue
        if not ours:
            raise BundleError(
                f"{bundle.path} would move the tag {tag} from this machine's image {current} "
                f"to another ({image_id}), and {tag} is not myonion's to replace; nothing was "
                "loaded.", hint=f"Make the bundle on a machine whose {tag} is the same image, "
                f"or remove {tag} here if the bundle's should take its place.")
        replaced.append(tag)
    return replaced


def _check_target(target: Path, data: bytes) -> bool:
    """True if ``target`` is to be written, False if it holds ``data`` already; a link or a
    different file there is refused (before anything is loaded)."""
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return True
    if stat.S_ISLNK(info.st_mode):
        raise MyOnionError(f"{target} is a link; myonion writes nothing through a link, so "
                           "nothing was loaded.",
                           hint="Remove the link, or load into another folder with --to DIR.")
    if stat.S_ISREG(info.st_mode) and info.st_size == len(data):
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                if f.read(len(data) + 1) == data:
                    return False
        except OSError as e:
            raise MyOnionError(f"{target} exists and cannot be read ({e.strerror}); nothing "
                               "was loaded.",
                               hint="Load it into another folder with --to DIR.") from e

    raise MyOnionError(f"{target} exists and differs from the bundle's file; nothing was "
                       "loaded.", hint="Load it into another folder with --to DIR.")


def _write_new(target: Path, data: bytes) -> None:
    """Create ``target`` afresh with ``data``: never through a link, never over a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise MyOnionError(f"{target} appeared while the bundle was loaded; it was left as it "
                           "is and the deployment file was not written.",
                           hint="Load it into another folder with --to DIR.") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _load(runtime: Runtime, bundle: Bundle, archive: ImageArchive) -> None:
    """Load the approved images untagged, check their IDs on the engine, then tag them."""
    ids = set(bundle.images.values())
    reported = runtime.load_images(archive.untagged(ids))
    named = [r for r in reported if not r.startswith("sha256:")]
    if named:  # cannot happen with the archive rewritten; said loudly if it ever does
        log.error("loading %s tagged %s although every name was taken out", bundle.path, named)
    missing = sorted(i for i in ids if not runtime.image_exists(i))
    if missing:
        raise BundleError(f"{bundle.path}: loading did not give the image(s) "
                          f"{', '.join(missing)}; nothing was tagged.")
    for tag, image_id in sorted(bundle.images.items()):
        if runtime.image_id(tag) != image_id:
            runtime.tag_image(image_id, tag)
            log.info("tagged %s as %s", image_id, tag)


def _load_open(runtime: Runtime, tar: tarfile.TarFile, size: int, source: Path,
               target_dir: Path) -> tuple[Bundle, bytes, bool]:
    """:func:`load_bundle` on the open bundle: the bundle, its file, whether to write it."""
    bundle, text, archive = verify(tar, source, size)
    write = _check_target(target_dir / bundle.file, text)
    runtime.ping()
    free = runtime.free_space()
    if free is not None and free < SPACE_FACTOR * archive.size:
        raise BundleError(f"{source}: its images need about "
                          f"{SPACE_FACTOR * archive.size // 2**20} MiB on the engine's disk, "
                          f"which has {free // 2**20} MiB free; nothing was loaded.",
                          hint="Free space on that disk and load the bundle again.")
    bundle.replaced = _owned(runtime, bundle)
    _load(runtime, bundle, archive)
    return bundle, text, write


def load_bundle(runtime: Runtime, path: str | Path, to: str | Path) -> Bundle:
    """Verify a bundle, load exactly the images it names, set only the tags it may set, and
    create its deployment file in the folder ``to`` (see the module's docstring)."""
    source = Path(path).expanduser().resolve()
    target_dir = Path(to).expanduser().resolve()
    try:
        with open(source, "rb") as raw, tarfile.open(fileobj=raw, mode="r:") as tar:
            bundle, text, write = _load_open(runtime, tar, os.fstat(raw.fileno()).st_size,
                                             source, target_dir)
    except (OSError, tarfile.TarError, EOFError) as e:
        raise BundleError(f"{source} cannot be read as a bundle ({e}).") from e
    target = target_dir / bundle.file
    for tag in bundle.replaced:
        log.warning("%s: %s now names the bundle's image %s", source, tag, bundle.images[tag])
    if write:
        _write_new(target, text)
    bundle.path = target
    return bundle
