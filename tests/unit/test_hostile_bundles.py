"""Bundles from elsewhere, played from the attacker's side (no engine: the fake runtime loads
a ``docker save`` archive as Docker does, every tag its manifest.json lists included).

Every crafted bundle has valid checksums. Each is refused with a clear error and a non-zero
exit through the CLI, and nothing changes: no image loaded or tagged, nothing written. The time
each refusal takes is printed (``pytest -s``), not asserted.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from myonion import deploy
from myonion.cli import main
from myonion.export import bundle, bundle_make, imagearchive
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from tests import hostile
from tests.hostile import reg, special

VICTIM = "victim/app:1"
GIB3 = 3 << 30


def timed(what: str, action: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        return action()
    finally:
        print(f"\n{what}: {time.perf_counter() - start:.3f} s", file=sys.__stderr__)


def snapshot(runtime: FakeRuntime) -> tuple[set[str], dict[str, str], set[str]]:
    return set(runtime.images), dict(runtime.image_ids), set(runtime.configs)


def give(runtime: FakeRuntime, tag: str, config: bytes) -> str:
    """Make ``tag`` name an image of this machine's own (config ``config``)."""
    image = hostile.image_id(config)
    runtime.configs[image] = config
    runtime.tag_image(image, tag)
    return image


@pytest.fixture
def made(manager: Manager, tmp_path: Path) -> bundle.Bundle:
    """A genuine bundle of a one-site deployment, made on the fake engine."""
    folder = tmp_path / "made"
    (folder / "site").mkdir(parents=True)
    path = folder / "myonion.yaml"
    path.write_text("version: 1\nname: dep\nservices:\n  depsite:\n    template: site\n"
                    "    options:\n      dir: ./site\n")
    return bundle_make.create_bundle(manager, deploy.load(path), tmp_path / "genuine.tar")


@pytest.fixture
def victim() -> FakeRuntime:
    """The machine the bundle is loaded on: images of its own, one of them myonion's."""
    runtime = FakeRuntime()
    give(runtime, VICTIM, b'{"victim": "app"}')
    give(runtime, "myonion/tor:0000000000000000", b'{"victim": "its own tor layer"}')
    return runtime


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder, empty: a refused bundle must leave nothing in it."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def refused(victim: FakeRuntime, path: Path, match: str, to: Path, what: str) -> None:
    """Loading ``path`` is refused with ``match``, and nothing changed."""
    before = snapshot(victim)
    with pytest.raises(bundle.BundleError, match=match):
        timed(f"{what}: refused in", lambda: bundle.load_bundle(victim, path, to))
    assert snapshot(victim) == before
    assert not to.exists()
    assert os.listdir(tempfile.gettempdir()) == []


def cli_refuses(victim: FakeRuntime, path: Path, to: Path, words: str,
                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import myonion.runtime

    monkeypatch.setattr(myonion.runtime, "default_runtime", lambda: victim)
    before = snapshot(victim)
    assert main(["bundle", "load", str(path), "--to", str(to)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err, err
    assert snapshot(victim) == before and not to.exists()


# --- what the genuine bundle records --------------------------------------------------------
def test_a_bundle_records_each_tags_image_id_and_loads_by_it(
        made: bundle.Bundle, runtime: FakeRuntime, victim: FakeRuntime, tmp_path: Path) -> None:
    manifest = json.loads(hostile.parts(made.path)["manifest.json"])
    assert manifest["format"] == 2
    assert manifest["images"] == {t: runtime.image_id(t) for t in made.images} == made.images
    loaded = bundle.load_bundle(victim, made.path, tmp_path / "to")
    assert {t: victim.image_id(t) for t in made.images} == made.images
    assert victim.image_id(VICTIM) == hostile.image_id(b'{"victim": "app"}')
    assert loaded.replaced == []
    assert (tmp_path / "to" / "myonion.yaml").stat().st_mode & 0o777 == 0o600


# --- images.tar carries more than the manifest names ----------------------------------------
@pytest.mark.parametrize("extra", [VICTIM, "myonion/tor:0000000000000000", "alpine:latest"])
def test_an_extra_tag_in_images_tar_is_refused(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path, extra: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    files = hostile.parts(made.path)
    files["images.tar"] = hostile.edit_manifest(
        files["images.tar"], lambda entries: entries[0]["RepoTags"].append(extra))
    # the attack is real: loaded as it is, the engine would move the tag
    engine = copy.deepcopy(victim)
    engine.load_images([files["images.tar"]])
    assert engine.image_id(extra) != victim.image_id(extra)
    path = hostile.write_bundle(tmp_path / "evil.tar", files)
    refused(victim, path, rf"its images\.tar holds other images or tags than its manifest\.json "
            rf"names \({extra}\); nothing was loaded", tmp_path / "to", f"extra tag {extra}")
    cli_refuses(victim, path, tmp_path / "to", "holds other images or tags", monkeypatch,
                capsys)


def test_an_extra_untagged_image_is_refused(made: bundle.Bundle, victim: FakeRuntime,
                                            tmp_path: Path) -> None:
    files = hostile.parts(made.path)
    members = hostile.members_of(files["images.tar"])
    config = b'{"extra": "image"}'
    digest = hostile.image_id(config).removeprefix("sha256:")
    entries = json.loads(next(d for i, d in members if i.name == "manifest.json") or b"")
    entries.append({"Config": f"{digest}.json", "RepoTags": None, "Layers": []})
    files["images.tar"] = hostile.tar_bytes(
        [m for m in members if m[0].name != "manifest.json"]
        + [reg(f"{digest}.json", config), reg("manifest.json", json.dumps(entries).encode())])
    path = hostile.write_bundle(tmp_path / "evil.tar", files)
    refused(victim, path, r"holds images its manifest\.json does not name", tmp_path / "to",
            "extra untagged image")


def test_image_ids_are_checked(made: bundle.Bundle, victim: FakeRuntime,
                               tmp_path: Path) -> None:
    files = hostile.parts(made.path)
    images = json.loads(files["manifest.json"])["images"]
    tags = sorted(images)
    swapped = {**images, tags[0]: images[tags[1]], tags[1]: images[tags[0]]}
    path = hostile.write_bundle(tmp_path / "swapped.tar", files, manifest={"images": swapped})
    refused(victim, path, r"holds other images or tags than its manifest\.json names",
            tmp_path / "to", "image IDs swapped in the manifest")
    # a config stored under a name that is not its digest
    files["images.tar"] = hostile.tar_bytes([
        reg(info.name, b'{"not": "what the name says"}') if info.name.endswith(".json")
        and info.name != "manifest.json" else (info, data)
        for info, data in hostile.members_of(files["images.tar"])])
    path = hostile.write_bundle(tmp_path / "config.tar", files)
    refused(victim, path, r"has an image config '[0-9a-f]{64}\.json' whose sha256 is",
            tmp_path / "to", "config not matching its name")


def test_a_format_1_bundle_is_refused_clearly(made: bundle.Bundle, victim: FakeRuntime,
                                              tmp_path: Path) -> None:
    path = hostile.write_bundle(tmp_path / "old.tar", hostile.parts(made.path), manifest={
        "format": 1, "images": sorted(made.images)})
    refused(victim, path, r"is a bundle of format 1; this myonion reads 2 \(format 1 records "
            "no image IDs", tmp_path / "to", "format 1")


# --- the tags a bundle may set ----------------------------------------------------------------
def evil_image(files: dict[str, bytes], tag: str,
               config: bytes = b'{"evil": "image", "architecture": "amd64"}') -> dict[str, bytes]:
    """``files`` with one more image (labelled amd64, as the bundle's own are, unless its
    ``config`` says otherwise), listed in the manifest and the archive alike."""
    archive = hostile.members_of(files["images.tar"])
    entries = json.loads(next(d for i, d in archive if i.name == "manifest.json") or b"")
    extra = hostile.members_of(hostile.docker_save([(config, [tag])]))
    entries += [json.loads(d or b"")[0] for i, d in extra if i.name == "manifest.json"]
    files = dict(files)
    files["images.tar"] = hostile.tar_bytes(
        [m for m in archive if m[0].name != "manifest.json"]
        + [m for m in extra if m[0].name != "manifest.json"]
        + [reg("manifest.json", json.dumps(entries).encode())])
    images = {**json.loads(files["manifest.json"])["images"], tag: hostile.image_id(config)}
    files["manifest.json"] = json.dumps({**json.loads(files["manifest.json"]),
                                         "images": images}).encode()
    return files


def test_a_listed_tag_outside_myonion_is_refused(made: bundle.Bundle, victim: FakeRuntime,
                                                 tmp_path: Path) -> None:
    for tag in (VICTIM, "alpine:latest"):  # existing or not: not a name myonion uses
        path = hostile.write_bundle(tmp_path / "evil.tar",
                                    evil_image(hostile.parts(made.path), tag))
        refused(victim, path, rf"would set the tag {tag}, which is neither myonion's",
                tmp_path / "to", f"listed tag {tag}")


def test_an_image_of_another_architecture_than_the_manifests_is_refused(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path) -> None:
    for config, label in ((b'{"architecture": "arm64", "variant": "v8"}', "arm64/v8"),
                          (b'{"no": "label"}', "no architecture")):
        path = hostile.write_bundle(tmp_path / "mixed.tar", evil_image(
            hostile.parts(made.path), "myonion/extra:1", config))
        refused(victim, path, rf"holds images labelled {label}, not linux/amd64 as its "
                r"manifest.json says \(amd64\)", tmp_path / "to", f"an image labelled {label!r}")


def test_the_base_image_is_set_only_where_it_is_missing(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path) -> None:
    path = hostile.write_bundle(tmp_path / "base.tar",
                                evil_image(hostile.parts(made.path), "debian:bookworm-slim"))
    mine = give(copy.deepcopy(victim), "debian:bookworm-slim", b'{"my": "debian"}')
    owner = copy.deepcopy(victim)
    give(owner, "debian:bookworm-slim", b'{"my": "debian"}')
    refused(owner, path, r"would move the tag debian:bookworm-slim from this machine's image "
            rf"{mine} to another .*not myonion's to replace", tmp_path / "to", "base moved")
    loaded = bundle.load_bundle(victim, path, tmp_path / "to")  # where it is missing
    assert victim.image_id("debian:bookworm-slim") == loaded.images["debian:bookworm-slim"]


def test_a_myonion_tag_is_the_bundles_to_replace_and_is_reported(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import myonion.runtime

    give(victim, "myonion/base:bookworm", b'{"built": "here"}')
    monkeypatch.setattr(myonion.runtime, "default_runtime", lambda: victim)
    assert main(["bundle", "load", str(made.path), "--to", str(tmp_path / "to")]) == 0
    assert victim.image_id("myonion/base:bookworm") == made.images["myonion/base:bookworm"]
    assert "myonion/base:bookworm now names the bundle's image" in capsys.readouterr().err
    assert victim.image_id(VICTIM) == hostile.image_id(b'{"victim": "app"}')


def test_nothing_is_tagged_unless_the_engine_has_the_verified_image(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # an engine that loads something else (the file changed under us): no tag is set
    monkeypatch.setattr(victim, "load_images", lambda archive: [])
    before = snapshot(victim)
    with pytest.raises(bundle.BundleError, match="loading did not give the image"):
        bundle.load_bundle(victim, made.path, tmp_path / "to")
    assert snapshot(victim) == before


def test_the_engine_is_given_no_tags(made: bundle.Bundle, victim: FakeRuntime,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[bytes] = []
    load = victim.load_images
    monkeypatch.setattr(victim, "load_images", lambda archive: load(
        [given.append(b"".join(archive)) or given[-1]]))
    bundle.load_bundle(victim, made.path, tmp_path / "to")
    names = [info.name for info, _ in hostile.members_of(given[0])]
    entries = json.loads(dict((i.name, d) for i, d in hostile.members_of(given[0]))[
        "manifest.json"] or b"")
    assert "repositories" not in names and [e["RepoTags"] for e in entries] == [[]] * len(entries)


# --- --to DIR ---------------------------------------------------------------------------------
@pytest.mark.parametrize("existing", [True, False])
def test_a_link_in_the_target_folder_is_not_written_through(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path, existing: bool,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside" / "bashrc"
    outside.parent.mkdir()
    if existing:
        outside.write_text("mine\n")
    to = tmp_path / "to"
    to.mkdir()
    (to / "myonion.yaml").symlink_to(outside)
    before = snapshot(victim)
    with pytest.raises(bundle.MyOnionError, match=rf"{to}/myonion\.yaml is a link; myonion "
                       "writes nothing through a link, so nothing was loaded"):
        bundle.load_bundle(victim, made.path, to)
    assert snapshot(victim) == before
    assert (outside.read_text() == "mine\n") if existing else not outside.exists()
    import myonion.runtime

    monkeypatch.setattr(myonion.runtime, "default_runtime", lambda: victim)
    assert main(["bundle", "load", str(made.path), "--to", str(to)]) == 1
    assert "is a link" in capsys.readouterr().err
    assert snapshot(victim) == before


def test_a_link_planted_while_loading_is_not_written_through(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "outside"
    to = tmp_path / "to"
    load = victim.load_images

    def plant(archive: Any) -> list[str]:
        to.mkdir()
        (to / "myonion.yaml").symlink_to(outside)
        return load(archive)

    monkeypatch.setattr(victim, "load_images", plant)
    with pytest.raises(bundle.MyOnionError, match="appeared while the bundle was loaded"):
        bundle.load_bundle(victim, made.path, to)
    assert not outside.exists() and (to / "myonion.yaml").is_symlink()


# --- members that are not plain files, or not where they should be ---------------------------
@pytest.mark.parametrize(("member", "words"), [
    (special("myonion.yaml", tarfile.SYMTYPE, "/etc/passwd"), "is not a regular file"),
    (special("myonion.yaml", tarfile.LNKTYPE, "manifest.json"), "is not a regular file"),
    (special("myonion.yaml", tarfile.DIRTYPE), "is not a regular file"),
    (special("myonion.yaml", tarfile.CHRTYPE), "is not a regular file"),
    (special("myonion.yaml", tarfile.FIFOTYPE), "is not a regular file"),
    (reg("../myonion.yaml", b"version: 1\n"), "which no bundle has"),
    (reg("/tmp/myonion.yaml", b"version: 1\n"), "which no bundle has"),
    (reg("sub/myonion.yaml", b"version: 1\n"), "which no bundle has"),
    (reg(".myonion.yaml", b"version: 1\n"), "which no bundle has"),
])
def test_a_bundle_member_that_is_no_plain_file_is_refused(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path, member: hostile.Member,
        words: str) -> None:
    files = hostile.parts(made.path)
    files.pop("myonion.yaml")
    path = hostile.write_bundle(tmp_path / "evil.tar", files, extra=[member])
    refused(victim, path, words, tmp_path / "to",
            f"bundle member {member[0].name} (type {member[0].type!r})")


INNER = [
    (reg("../../etc/evil", b"x"), "outside the archive's folder"),
    (reg("/etc/evil", b"x"), "outside the archive's folder"),
    (special("link", tarfile.SYMTYPE, "/etc/passwd"), "outside the archive"),
    (special("a/link", tarfile.SYMTYPE, "../../etc"), "outside the archive"),
    (special("hard", tarfile.LNKTYPE, "manifest.json"), "not a file or a folder"),
    (special("dev", tarfile.CHRTYPE), "not a file or a folder"),
    (special("fifo", tarfile.FIFOTYPE), "not a file or a folder"),
    (reg("./manifest.json", b"[]"), "has 'manifest.json' twice"),
]


@pytest.mark.parametrize(("member", "words"), INNER)
def test_an_images_tar_member_that_could_harm_is_refused(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path, member: hostile.Member,
        words: str) -> None:
    files = hostile.parts(made.path)
    files["images.tar"] = hostile.tar_bytes([*hostile.members_of(files["images.tar"]), member])
    path = hostile.write_bundle(tmp_path / "evil.tar", files)
    refused(victim, path, rf"its images\.tar .*{words}", tmp_path / "to",
            f"images.tar member {member[0].name}")


def test_a_shared_layer_link_inside_images_tar_is_accepted(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path) -> None:
    files = hostile.parts(made.path)
    members = hostile.members_of(files["images.tar"])
    layer = next(i.name for i, _ in members if i.name.endswith("/layer.tar"))
    link = special("f" * 64 + "/layer.tar", tarfile.SYMTYPE, f"../{layer}")
    files["images.tar"] = hostile.tar_bytes([*members, link])
    bundle.load_bundle(victim, hostile.write_bundle(tmp_path / "ok.tar", files),
                       tmp_path / "to")


# --- sizes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("sparse", [hostile.gnu_sparse, hostile.pax_sparse])
def test_a_sparse_member_is_refused_before_anything_is_unpacked(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path,
        sparse: Callable[[str, int], bytes], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    files = hostile.parts(made.path)
    files.pop("images.tar")
    path = hostile.write_bundle(tmp_path / "sparse.tar", files, raw=sparse("images.tar", GIB3))
    assert path.stat().st_size < 20 * 1024
    refused(victim, path, rf"'images\.tar' is a sparse member \({GIB3} bytes once unpacked\); "
            "nothing was unpacked", tmp_path / "to",
            f"{path.stat().st_size}-byte bundle, {sparse.__name__} 3 GiB member")
    cli_refuses(victim, path, tmp_path / "to", "is a sparse member", monkeypatch, capsys)
    # inside images.tar too
    files = hostile.parts(made.path)
    files["images.tar"] = hostile.tar_bytes(hostile.members_of(files["images.tar"]),
                                            raw=sparse("big", GIB3))
    refused(victim, hostile.write_bundle(tmp_path / "inner.tar", files),
            rf"its images\.tar has a sparse member 'big' \({GIB3} bytes", tmp_path / "to",
            f"{sparse.__name__} member inside images.tar")


def test_sizes_are_checked_against_the_file_and_the_bounds(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path) -> None:
    files = hostile.parts(made.path)
    files.pop("images.tar")
    path = hostile.write_bundle(tmp_path / "big.tar", files,
                                raw=hostile.big_header("images.tar", GIB3))
    refused(victim, path, rf"'images\.tar' declares {GIB3} bytes, more than the "
            rf"{path.stat().st_size}-byte file holds", tmp_path / "to", "declared 3 GiB")
    files = hostile.parts(made.path)
    manifest = files.pop("manifest.json")
    path = hostile.write_bundle(tmp_path / "meta.tar", files, extra=[
        reg("manifest.json", manifest + b" " * bundle.MAX_META)])
    refused(victim, path, rf"'manifest\.json' declares \d+ bytes, more than the "
            f"{bundle.MAX_META} allowed", tmp_path / "to", "2 MiB manifest")


def test_the_engines_free_space_is_checked(made: bundle.Bundle, victim: FakeRuntime,
                                           tmp_path: Path) -> None:
    victim.disk_free = 1000
    refused(victim, made.path, r"its images need about \d+ MiB on the engine's disk, which "
            "has 0 MiB free", tmp_path / "to", "no room")


def test_a_deployment_file_with_aliases_in_a_bundle_is_refused(
        made: bundle.Bundle, victim: FakeRuntime, tmp_path: Path) -> None:
    from tests.unit.test_hostile_yaml import laughs

    files = hostile.parts(made.path)
    files["myonion.yaml"] = laughs().encode()
    path = hostile.write_bundle(tmp_path / "lol.tar", files)
    refused(victim, path, r"its deployment file is refused: .*myonion\.yaml:3: sets the YAML "
            "anchor &a0", tmp_path / "to", "billion laughs in a bundle")


def test_archive_reader_refuses_garbage() -> None:
    with pytest.raises(imagearchive.ArchiveError, match="cannot be read as an images archive"):
        imagearchive.read_tags(b"not a tar" * 100)
