"""A ``docker save`` archive (a bundle's ``images.tar``), checked and rewritten, never unpacked.

:class:`ImageArchive` reads the archive's member headers, its ``manifest.json`` and each image's
config, and refuses (:class:`ArchiveError`) an archive with:

- a member that is not a regular file, a folder or a symbolic link that stays inside the
  archive (``docker save`` links a layer shared by two images): devices, fifos, hard links;
- a sparse member (a few bytes that unpack to gigabytes);
- an absolute name, a name with ``..``, a name given twice, more than :data:`MAX_MEMBERS`
  members, or members whose sizes add up to more than the archive holds;
- a ``manifest.json``, ``index.json`` or config over :data:`MAX_META` bytes, or malformed;
- an image whose config's sha256 is not the name it is stored under, or whose config is no
  JSON object.

Each image's ID is the sha256 of its config: the engine computes the same ID when it loads the
image and checks every layer against the config, so a verified ID pins the whole image.

:meth:`ImageArchive.untagged` yields the archive as the engine is to load it: ``manifest.json``
lists only the approved images and gives them no tags, ``repositories`` is left out and an OCI
``index.json`` loses the annotations that name images. Loading it therefore tags nothing; the
caller tags what it approved, by image ID, once the engine has them.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from myonion.errors import MyOnionError

MAX_MEMBERS = 20_000
MAX_META = 4 * 1024 * 1024
CHUNK = 1024 * 1024
MANIFEST = "manifest.json"
REPOSITORIES = "repositories"
INDEX = "index.json"
#: OCI index annotations through which an engine could name (tag) an image on load
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_CONFIG_RE = re.compile(r"(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?")


class ArchiveError(MyOnionError):
    """An images archive that is refused; the message completes "images.tar …"."""


@dataclass(frozen=True)
class ArchiveImage:
    """One image of the archive: its ID (``sha256:…``), its config's member name, the tags the
    archive gives it, its ``manifest.json`` entry as written, and the architecture and variant
    its config names (what the engine will say it is)."""

    image_id: str
    config: str
    tags: tuple[str, ...]
    entry: dict[str, Any]
    platform: tuple[str, str | None] = ("", None)


def _normal(name: str) -> str | None:
    """A member name as the engine would unpack it, or None if it would leave the folder."""
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        return None
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../"):
        return None
    return normal


def _check_member(member: tarfile.TarInfo) -> str:
    """The member's normal name, or :class:`ArchiveError` if it could harm the machine."""
    name = _normal(member.name)
    if name is None or ".." in name.split("/"):
        raise ArchiveError(f"has a member named '{member.name}', outside the archive's folder")
    if member.issparse() or member.type == tarfile.GNUTYPE_SPARSE:
        raise ArchiveError(f"has a sparse member '{member.name}' "
                           f"({member.size} bytes once unpacked)")
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise ArchiveError(f"has a link '{member.name}' to '{member.linkname}', outside "
                               "the archive")
    elif not (member.isreg() or member.isdir()):
        raise ArchiveError(f"has '{member.name}', which is not a file or a folder (a device, "
                           "a fifo or a hard link)")
    return name


class ImageArchive:
    """The images of a ``docker save`` archive read from ``fileobj`` (``size`` bytes long,
    seekable, kept open by the caller while this is used)."""

    def __init__(self, fileobj: IO[bytes], size: int) -> None:
        self.size = size
        try:
            # lives as long as this object; closing it would not close the caller's fileobj
            self._tar = tarfile.open(fileobj=fileobj, mode="r:")  # noqa: SIM115
            self._members = self._read_members(size)
            self.images = self._read_images()
        except (OSError, tarfile.TarError, EOFError) as e:
            raise ArchiveError(f"cannot be read as an images archive ({e})") from e

    def _read_members(self, size: int) -> dict[str, tarfile.TarInfo]:
        members: dict[str, tarfile.TarInfo] = {}
        total = 0
        while (member := self._tar.next()) is not None:
            if len(members) >= MAX_MEMBERS:
                raise ArchiveError(f"has more than {MAX_MEMBERS} members")
            name = _check_member(member)
            if name in members:
                raise ArchiveError(f"has '{name}' twice")
            total += member.size if member.isreg() else 0
            if total > size:
                raise ArchiveError(f"declares members of more than its own {size} bytes")
            members[name] = member
        return members

    def _read(self, name: str, what: str) -> bytes:
        member = self._members.get(name)
        if member is None or not member.isreg():
            raise ArchiveError(f"has no {what} ({name})")
        if member.size > MAX_META:
            raise ArchiveError(f"has a {what} ({name}) of {member.size} bytes; at most "
                               f"{MAX_META} are read")
        f = self._tar.extractfile(member)
        assert f is not None  # a regular member
        return f.read()

    def _read_images(self) -> list[ArchiveImage]:
        try:
            entries = json.loads(self._read(MANIFEST, "manifest"))
            if not isinstance(entries, list) or not entries:
                raise ValueError("it lists no images")
            return [self._image(entry) for entry in entries]
        except (ValueError, TypeError, KeyError) as e:
            raise ArchiveError(f"has a {MANIFEST} that cannot be read ({e})") from e

    def _image(self, entry: Any) -> ArchiveImage:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ValueError(f"a malformed entry {str(entry)[:200]}")
        config = _normal(entry["Config"])
        tags = entry.get("RepoTags") or []
        if config is None or not isinstance(tags, list) or not all(isinstance(t, str)
                                                                   for t in tags):
            raise ValueError(f"a malformed entry {str(entry)[:200]}")
        match = _CONFIG_RE.fullmatch(config)
        data = self._read(config, "image config")
        digest = hashlib.sha256(data).hexdigest()
        if match is None or match.group(1) != digest:
            raise ArchiveError(f"has an image config '{config}' whose sha256 is {digest}, not "
                               "the name it is stored under")
        parsed = json.loads(data)
        if not isinstance(parsed, dict):
            raise ValueError(f"the image config {config} is no JSON object")
        platform = (str(parsed.get("architecture", "")), parsed.get("variant") or None)
        return ArchiveImage(f"sha256:{digest}", config, tuple(tags), entry, platform)

    def tags(self) -> dict[str, str]:
        """Each tag the archive gives → the ID of the image it gives it to."""
        result: dict[str, str] = {}
        for image in self.images:
            for tag in image.tags:
                if result.setdefault(tag, image.image_id) != image.image_id:
                    raise ArchiveError(f"gives the tag {tag} to two images")
        return result

    def untagged(self, image_ids: set[str]) -> Iterator[bytes]:
        """The archive as a tar stream in which only the images ``image_ids`` are listed, and
        none of them named (see the module's docstring)."""
        entries = [{**image.entry, "RepoTags": []} for image in self.images
                   if image.image_id in image_ids]
        replaced = {MANIFEST: json.dumps(entries).encode(), REPOSITORIES: None}
        if INDEX in self._members:
            replaced[INDEX] = self._unnamed_index()
        for name, member in self._members.items():
            if name in replaced:
                data = replaced[name]
                if data is not None:
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(data), 0o644
                    yield info.tobuf(tarfile.PAX_FORMAT)
                    yield data + _padding(len(data))
                continue
            yield member.tobuf(tarfile.PAX_FORMAT)
            if member.isreg():
                yield from self._data(member)
        yield b"\0" * 2 * tarfile.BLOCKSIZE

    def _data(self, member: tarfile.TarInfo) -> Iterator[bytes]:
        source = self._tar.extractfile(member)
        assert source is not None
        left = member.size
        while left:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise ArchiveError(f"ended inside '{member.name}' while it was loaded")
            left -= len(chunk)
            yield chunk
        yield _padding(member.size)

    def _unnamed_index(self) -> bytes:
        try:
            index = json.loads(self._read(INDEX, "OCI index"))
            for descriptor in index.get("manifests") or []:
                for key in NAME_ANNOTATIONS:
                    (descriptor.get("annotations") or {}).pop(key, None)
        except (ValueError, TypeError, AttributeError) as e:
            raise ArchiveError(f"has an {INDEX} that cannot be read ({e})") from e
        return json.dumps(index).encode()


def _padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def read_tags(data: bytes) -> dict[str, str]:
    """Tag → image ID of a ``docker save`` archive held in memory (a test's or a fake's)."""
    return ImageArchive(io.BytesIO(data), len(data)).tags()
