"""arm64 — a 64-bit Raspberry Pi's architecture — on this amd64 machine, end to end, in every
CI run: the base made with debootstrap under emulation and labelled truthfully, an arm64 site
reachable through the onion with curl, its processes aarch64 programs (not the host's), and a
bundle made here for a Pi, which this amd64 machine refuses to load.

The base, the tor layer and the site's image are built once per run (the ``emulated_base``
fixture, then the tags myonion finds) and shared by these tests; the heavier ones (armhf, the
whole gateway stack, a Pi's own myonion loading a bundle) are in test_arch_heavy.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from myonion.build import relabel
from myonion.cli import main
from myonion.events import Stage
from myonion.export.imagearchive import ImageArchive
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from tests import archproof

pytestmark = [pytest.mark.integration, pytest.mark.testnet, pytest.mark.emulated]

SITE = "piarch-site64"


def curl(proxy: tuple[str, int], url: str) -> str:
    """GET ``url`` with curl through tor's SOCKS port (the onion name resolved by tor)."""
    done = subprocess.run(["curl", "-sS", "--fail", "--max-time", "90", "--retry", "3",
                           "--socks5-hostname", f"{proxy[0]}:{proxy[1]}", url],
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_import_is_relabelled_on_the_real_engine(docker_runtime: DockerRuntime,
                                                    tmp_path: Path) -> None:
    tag = f"myonion-test/relabel:{os.getpid()}"
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    docker_runtime.import_image(str(rootfs), tag)
    imported = docker_runtime.image_id(tag)
    try:
        # Docker 20.10 labels any import with its own architecture
        assert docker_runtime.image_platform(tag) == ("amd64", None)
        fixed = relabel.relabel(docker_runtime, tag, "arm64")
        assert fixed != imported and docker_runtime.image_id(tag) == fixed
        assert docker_runtime.image_platform(tag) == ("arm64", "v8")
        layers = [docker_runtime.client.images.get(i).attrs["RootFS"]["Layers"]
                  for i in (str(imported), fixed)]
        assert layers[0] == layers[1]  # the same files: only the label changed
        relabel.relabel(docker_runtime, tag, "armhf")
        assert docker_runtime.image_platform(tag) == ("arm", "v7")
    finally:
        docker_runtime.remove_image(tag)
        for image in (str(imported), fixed):
            docker_runtime.remove_image(image)


def test_an_arm64_site_through_the_onion(real_manager: Manager, docker_runtime: DockerRuntime,
                                         emulated_base: Callable[[str], str], site_dir: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    base = emulated_base("arm64")
    assert docker_runtime.image_platform(base) == ("arm64", "v8")
    started = time.monotonic()
    view = real_manager.share("site", {"dir": str(site_dir)}, name=SITE, arch="arm64",
                              timeout=300)
    report = [f"arm64 site: share (images built if missing) → reachable "
              f"{time.monotonic() - started:.1f} s; timings {view.timings}"]
    assert view.stage == Stage.REACHABLE and view.address and view.arch == "arm64"
    record = real_manager.store.get(SITE)
    assert record is not None and record.arch == "arm64" and record.image.endswith("-arm64")
    assert docker_runtime.image_platform(record.image) == ("arm64", "v8")

    page = curl(real_manager.testnet.socks(), f"http://{view.address}/")
    assert page == (site_dir / "index.html").read_text()
    report.append(f"arm64 site: curl through the onion {view.address}: {page.strip()}")
    found = archproof.assert_really(docker_runtime, container_name(SITE), "arm64")
    assert {"tini", "tor", "nginx"} <= {p.comm for p in found}
    assert all(os.path.basename(p.runner) == "qemu-aarch64-static" for p in found)

    monkeypatch.setattr("myonion.cli.common.manager", lambda reporter=None: real_manager)
    capsys.readouterr()
    assert main(["status", SITE, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["arch"] == "arm64"
    assert main(["ls"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if SITE in line)
    assert " arm64 " in row and "reachable" in row
    assert real_manager.check(SITE).reachable
    with capsys.disabled():
        print("\n" + "\n".join([*report, f"myonion ls: {' '.join(row.split())}"]))


def test_an_arm64_bundle_is_made_here_and_refused_here(
        real_manager: Manager, docker_runtime: DockerRuntime,
        emulated_base: Callable[[str], str], site_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    emulated_base("arm64")
    file = site_dir.parent / "myonion.yaml"
    file.write_text("version: 1\nname: piarchbundle\nservices:\n  piarch-bsite:\n"
                    "    template: site\n    options: {dir: ./site}\n")
    monkeypatch.setattr("myonion.cli.common.manager", lambda reporter=None: real_manager)
    out = tmp_path / "pi.tar"
    started = time.monotonic()
    assert main(["bundle", "--arch", "arm64", "-f", str(file), "-o", str(out)]) == 0
    made = capsys.readouterr().err
    assert "arm64 images" in made
    with capsys.disabled():
        print(f"\narm64 bundle: {out.stat().st_size / 1e6:.0f} MB made in "
              f"{time.monotonic() - started:.1f} s: {made.strip()}")
    with tarfile.open(out) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        member = tar.getmember("images.tar")
        archive = ImageArchive(tar.extractfile(member), member.size)  # type: ignore[arg-type]
        platforms = {i.platform for i in archive.images}
    assert manifest["architecture"] == "arm64"
    assert set(manifest["images"]) >= {"myonion/base:bookworm-arm64"}
    assert all(tag.endswith("-arm64") for tag in manifest["images"])
    assert platforms == {("arm64", "v8")}

    tags = {tag: docker_runtime.image_id(tag) for tag in manifest["images"]}
    assert main(["bundle", "load", str(out), "--to", str(tmp_path / "here")]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert f"{out} holds images for arm64; this machine is amd64, so they would not run " \
           "here" in said, said
    with capsys.disabled():
        print(f"arm64 bundle, loaded on this amd64 machine: {said}")
    assert {tag: docker_runtime.image_id(tag) for tag in tags} == tags  # nothing moved
    assert not (tmp_path / "here").exists()
