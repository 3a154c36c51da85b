"""What an attacker who hands over a bundle can write: tars built member by member, with valid
checksums (SHA256SUMS guards against damage, not against whoever wrote the bundle)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ORDER = ("SHA256SUMS", "manifest.json", "myonion.yaml", "images.tar")
Member = tuple[tarfile.TarInfo, bytes | None]


def reg(name: str, data: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> Member:
    """A member that is not a regular file: a link, a folder, a device, a fifo."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o777
    return info, None


def tar_bytes(members: list[Member], raw: bytes = b"") -> bytes:
    """A tar of ``members`` (``raw``: hand-made header blocks added before the end)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    body = buf.getvalue()
    if raw:  # before the two zero blocks that end the archive
        body = body.rstrip(b"\0")
        body += b"\0" * (-len(body) % 512) + raw + b"\0" * 10240
    return body


def pax_sparse(name: str, realsize: int) -> bytes:
    """A PAX (GNU 1.0) sparse member: 512 bytes in the tar, ``realsize`` bytes unpacked."""
    info = tarfile.TarInfo(f"./GNUSparseFile.0/{name}")
    mapblock = f"1\n{realsize}\n0\n".encode().ljust(512, b"\0")
    info.size = len(mapblock)
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.name": name, "GNU.sparse.realsize": str(realsize)}
    return info.tobuf(tarfile.PAX_FORMAT) + mapblock


def gnu_sparse(name: str, realsize: int) -> bytes:
    """An old-GNU sparse member (type 'S', as `tar --sparse` writes): one header block."""
    info = tarfile.TarInfo(name)
    info.type, info.size = tarfile.GNUTYPE_SPARSE, 0
    block = bytearray(info.tobuf(tarfile.GNU_FORMAT))

    def octal(n: int) -> bytes:
        return b"%011o\0" % n

    block[386:398], block[398:410] = octal(realsize), octal(0)  # one map entry: all hole
    block[483:495] = octal(realsize)  # the real size
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block[:512])
    return bytes(block)


def big_header(name: str, declared: int) -> bytes:
    """A plain member header that claims ``declared`` bytes (none follow)."""
    info = tarfile.TarInfo(name)
    info.size = declared
    return info.tobuf(tarfile.PAX_FORMAT)


def docker_save(images: list[tuple[bytes, list[str]]], extra: list[Member] = ()) -> bytes:
    """A classic ``docker save`` archive: each image a config and one layer, listed in
    manifest.json with its RepoTags."""
    members: list[Member] = []
    entries = []
    for config, tags in images:
        digest = hashlib.sha256(config).hexdigest()
        layer = tar_bytes([reg("hello", f"layer of {digest}".encode())])
        members += [reg(f"{digest}.json", config), reg(f"{digest}/layer.tar", layer)]
        entries.append({"Config": f"{digest}.json", "RepoTags": tags,
                        "Layers": [f"{digest}/layer.tar"]})
    members.append(reg("manifest.json", json.dumps(entries).encode()))
    return tar_bytes(members + list(extra))


def image_id(config: bytes) -> str:
    return f"sha256:{hashlib.sha256(config).hexdigest()}"


def members_of(data: bytes) -> list[Member]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        result: list[Member] = []
        for info in tar.getmembers():
            f = tar.extractfile(info) if info.isreg() else None
            result.append((info, f.read() if f else None))
        return result


def edit_manifest(archive: bytes, edit: Callable[[list[dict[str, Any]]], object]) -> bytes:
    """``archive`` with its manifest.json entries changed in place by ``edit``."""
    members = []
    for info, data in members_of(archive):
        if info.name == "manifest.json":
            entries = json.loads(data or b"")
            edit(entries)
            info, data = reg("manifest.json", json.dumps(entries).encode())
        members.append((info, data))
    return tar_bytes(members)


def parts(bundle: Path) -> dict[str, bytes]:
    """The files of a bundle."""
    return {info.name: data or b"" for info, data in members_of(bundle.read_bytes())}


def write_bundle(path: Path, files: dict[str, bytes], extra: list[Member] = (),
                 raw: bytes = b"", manifest: dict[str, Any] | None = None) -> Path:
    """A bundle of ``files`` (its manifest.json updated with ``manifest``) with a fresh,
    valid SHA256SUMS; ``extra`` members and ``raw`` header blocks are added after them."""
    files = dict(files)
    if manifest is not None:
        files["manifest.json"] = json.dumps(
            {**json.loads(files["manifest.json"]), **manifest}).encode()
    listed = [n for n in files if n != "SHA256SUMS"]
    files["SHA256SUMS"] = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n"
                                  for n in listed).encode()
    members = [reg(n, files[n]) for n in sorted(files, key=lambda n: (
        ORDER.index(n) if n in ORDER else 2))]
    path.write_bytes(tar_bytes(members + list(extra), raw))
    return path
