"""Other architectures on the fake runtime: names, tags that keep them apart (the same on every
machine), truthful image labels, emulation missing, prune, services and bundles for arm64."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from myonion import arch, deploy
from myonion.build import images, relabel
from myonion.cli import main
from myonion.errors import EmulationMissing, MyOnionError, OptionError
from myonion.export import bundle, bundle_make
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.templates import TemplateRegistry

ARM64_BASE = "myonion/base:bookworm-arm64"
#: what Debian's qemu-user-static registers for aarch64 (read from /proc/sys/fs/binfmt_misc)
QEMU_AARCH64 = ("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"
                "offset 0\nmagic 7f454c460201010000000000000000000200b700\n"
                "mask ffffffffffffff00fffffffffffffffffeffffff\n")


@pytest.fixture
def on_amd64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arch.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv(arch.ENV, raising=False)


@pytest.fixture
def arm64_base(runtime: FakeRuntime) -> FakeRuntime:
    runtime.set_platform(ARM64_BASE, "arm64", "v8")
    return runtime


# --- names ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("given", "expected"), [
    ("arm64", "arm64"), ("aarch64", "arm64"), ("linux/arm64/v8", "arm64"), ("ARMHF", "armhf"),
    ("armv7l", "armhf"), ("linux/arm/v7", "armhf"), ("x86_64", "amd64"), ("amd64", "amd64")])
def test_architecture_names(given: str, expected: str) -> None:
    assert arch.check(given) == expected


def test_unknown_architectures_are_refused(on_amd64: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("riscv64", "armel", "", "arm64; rm -rf /"):
        with pytest.raises(OptionError, match="is not an architecture myonion builds for"):
            arch.check(bad)
    assert arch.resolve() == "amd64" and arch.resolve("aarch64") == "arm64"
    monkeypatch.setenv(arch.ENV, "arm64")
    assert arch.resolve() == "arm64" and arch.resolve("armhf") == "armhf"
    monkeypatch.setenv(arch.ENV, "sparc")
    with pytest.raises(OptionError, match=r"^MYONION_ARCH is 'sparc': 'sparc' is not an"):
        arch.resolve()


def test_platforms_both_ways() -> None:
    assert [str(arch.PLATFORMS[a]) for a in arch.ARCHES] == [
        "linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    assert arch.from_platform("arm64", "v8") == "arm64"
    assert arch.from_platform("arm64", None) == "arm64"
    assert arch.from_platform("arm", "v7") == "armhf"
    assert arch.from_platform("arm", "v6") is None and arch.from_platform("riscv64", None) is None


def test_foreign_and_tag_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arch.platform, "machine", lambda: "aarch64")
    assert not arch.is_foreign("arm64") and not arch.is_foreign("armhf")  # a 64-bit Pi runs both
    assert arch.is_foreign("amd64")
    assert [arch.tag_suffix(a) for a in arch.ARCHES] == ["", "-arm64", "-armhf"]


# --- can this kernel run it -------------------------------------------------------------------
def test_emulation_problem_reads_binfmt_misc(on_amd64: None, tmp_path: Path) -> None:
    root = tmp_path / "binfmt_misc"
    root.mkdir()
    assert "binfmt_misc is not mounted" in str(arch.emulation_problem("arm64", root))
    assert arch.emulation_problem("amd64", root) is None  # its own: nothing needed
    (root / "status").write_text("enabled\n")
    (root / "register").write_text("")
    (root / "python3.11").write_text("enabled\ninterpreter /usr/bin/python3.11\nflags: \n"
                                     "offset 0\nmagic 330d0d0a\n")
    assert "no interpreter for arm64" in str(arch.emulation_problem("arm64", root))
    (root / "qemu-aarch64").write_text(QEMU_AARCH64.replace("flags: PF", "flags: P"))
    assert "without the F flag" in str(arch.emulation_problem("arm64", root))
    (root / "qemu-aarch64").write_text(QEMU_AARCH64)
    assert arch.emulation_problem("arm64", root) is None
    assert "no interpreter for armhf" in str(arch.emulation_problem("armhf", root))
    (root / "qemu-aarch64").write_text(QEMU_AARCH64.replace("enabled", "disabled", 1))
    assert "without the F flag (or disabled)" in str(arch.emulation_problem("arm64", root))
    (root / "status").write_text("disabled\n")
    assert "disabled" in str(arch.emulation_problem("arm64", root))


# --- tags -------------------------------------------------------------------------------------
def test_tags_keep_architectures_apart_and_are_the_same_on_every_machine(
        on_amd64: None, arm64_base: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = arm64_base
    site = TemplateRegistry().get("site")
    amd = images.template_tag(runtime, site)
    arm = images.template_tag(runtime, site, arch="arm64")
    assert amd.startswith("myonion/site:") and len(amd.partition(":")[2]) == 16  # as before
    assert arm.startswith("myonion/site:") and arm.endswith("-arm64")
    assert arm.removesuffix("-arm64") != amd.partition(":")[2]
    assert images.template_tag(runtime, site, arch="armhf").endswith("-armhf")
    assert images.local_base("arm64") == ARM64_BASE and images.local_base("amd64") == (
        images.LOCAL_BASE)
    # on a 64-bit Pi, the arm64 tags are the ones a laptop makes for it
    monkeypatch.setattr(arch.platform, "machine", lambda: "aarch64")
    assert images.template_tag(runtime, site) == arm
    assert images.template_tag(runtime, site, arch="amd64") == amd


def test_images_of_another_architecture_are_built_on_its_base_and_labelled_so(
        on_amd64: None, arm64_base: FakeRuntime) -> None:
    runtime = arm64_base
    tag = images.template_image(runtime, TemplateRegistry().get("iot-receiver"), arch="arm64")
    assert tag.endswith("-arm64")
    built = [t for t in runtime.builds]
    assert [t.partition(":")[0] for t in built] == ["myonion/tor", "myonion/python",
                                                   "myonion/iot-receiver"]
    assert all(t.endswith("-arm64") and runtime.image_platform(t) == ("arm64", "v8")
               for t in built)
    # it ran uname -m in the base and in the tor layer: they run as aarch64
    assert runtime.tasks.count(["uname", "-m"]) == 2
    runtime.builds.clear()
    assert images.template_image(runtime, TemplateRegistry().get("iot-receiver"),
                                 arch="arm64") == tag
    assert runtime.builds == []  # nothing again


def test_a_missing_or_mislabelled_base_is_refused(on_amd64: None, runtime: FakeRuntime) -> None:
    site = TemplateRegistry().get("site")
    with pytest.raises(MyOnionError, match="There is no arm64 base image") as e:
        images.template_image(runtime, site, arch="arm64")
    assert "myonion base build --arch arm64" in str(e.value.hint)
    runtime.import_image("rootfs.tar", ARM64_BASE)  # Docker 20.10's import: labelled amd64
    with pytest.raises(MyOnionError, match=r"labelled linux/amd64, not linux/arm64/v8"):
        images.template_image(runtime, site, arch="arm64")
    assert runtime.builds == []


def test_an_engine_that_cannot_run_it_is_named(on_amd64: None, arm64_base: FakeRuntime) -> None:
    arm64_base.runs = {"amd64"}
    with pytest.raises(EmulationMissing, match="cannot run arm64 programs") as e:
        images.template_image(arm64_base, TemplateRegistry().get("site"), arch="arm64")
    assert "scripts/setup-host.sh --emulate arm64" in str(e.value.hint)
    assert arm64_base.builds == []
    # images there already (e.g. loaded from a bundle): still refused before a container runs
    arm64_base.runs = None
    images.template_image(arm64_base, TemplateRegistry().get("site"), arch="arm64")
    arm64_base.runs = {"amd64"}
    with pytest.raises(EmulationMissing, match="cannot run arm64 programs"):
        images.template_image(arm64_base, TemplateRegistry().get("site"), arch="arm64")


def test_a_base_whose_files_are_another_machines_is_refused(on_amd64: None,
                                                            runtime: FakeRuntime) -> None:
    runtime.set_platform(ARM64_BASE, "arm64", "v8")
    runtime.run_task = lambda *a, **k: (0, "x86_64\n")  # type: ignore[method-assign]
    with pytest.raises(MyOnionError, match=r"should run as arm64, but `uname -m` in it says "
                       r"'x86_64'"):
        images.template_image(runtime, TemplateRegistry().get("site"), arch="arm64")


# --- relabel ----------------------------------------------------------------------------------
def test_relabel_rewrites_the_config_and_moves_the_tag(runtime: FakeRuntime,
                                                       tmp_path: Path) -> None:
    runtime.import_image("rootfs.tar", ARM64_BASE)
    runtime.images.add("myonion/other:1")
    runtime.image_ids["myonion/other:1"] = before = str(runtime.image_id(ARM64_BASE))
    assert not relabel.check(runtime, ARM64_BASE, "arm64")
    after = relabel.relabel(runtime, ARM64_BASE, "arm64")
    assert after != before and runtime.image_id(ARM64_BASE) == after
    assert runtime.image_platform(ARM64_BASE) == ("arm64", "v8")
    config = json.loads(runtime.configs[after])
    assert config["architecture"] == "arm64" and config["variant"] == "v8"
    assert config["fake image"] == ARM64_BASE  # everything else as it was
    assert runtime.image_id("myonion/other:1") == before  # another tag keeps the old image
    assert relabel.relabel(runtime, ARM64_BASE, "arm64") == after  # right already: no change
    runtime.save_images([ARM64_BASE], str(tmp_path / "saved.tar"))
    assert relabel.relabel(runtime, ARM64_BASE, "armhf") != after
    assert runtime.image_platform(ARM64_BASE) == ("arm", "v7")
    assert relabel.relabel(runtime, ARM64_BASE, "amd64")
    assert runtime.image_platform(ARM64_BASE) == ("amd64", None)
    assert "variant" not in json.loads(runtime.configs[str(runtime.image_id(ARM64_BASE))])


# --- prune ------------------------------------------------------------------------------------
def test_prune_knows_every_architecture(on_amd64: None, manager: Manager,
                                        runtime: FakeRuntime) -> None:
    current = images.current_tags(runtime, manager.registry.all())
    assert {ARM64_BASE, "myonion/base:bookworm-armhf"} <= current
    assert any(t.startswith("myonion/site:") and t.endswith("-armhf") for t in current)
    runtime.images |= current
    old = {"myonion/site:0000000000000000-arm64", "myonion/tor:0000000000000000-armhf",
           "myonion/site:0000000000000000"}
    runtime.images |= old
    result = manager.prune_images()
    assert set(result.removed) == old and current <= runtime.images


# --- services ---------------------------------------------------------------------------------
def test_a_service_of_another_architecture_is_recorded_and_shown(
        on_amd64: None, manager: Manager, arm64_base: FakeRuntime, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    view = manager.share("site", name="pisite", arch="aarch64", wait=False)
    assert view.arch == "arm64"
    record = manager.store.get("pisite")
    assert record is not None and record.arch == "arm64" and record.image.endswith("-arm64")
    assert manager.share("site", name="here", wait=False).arch == "amd64"
    with pytest.raises(OptionError, match="'sparc' is not an architecture"):
        manager.share("site", name="never", arch="sparc", wait=False)
    assert manager.store.get("never") is None
    monkeypatch.setattr("myonion.cli.common.manager", lambda reporter=None: manager)
    assert main(["ls"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert "arm64" in rows["pisite"] and "amd64" in rows["here"]
    assert main(["status", "pisite"]) == 0
    assert "arch: arm64" in capsys.readouterr().out
    # a record made before myonion knew architectures is this machine's
    manager.store.update("here", arch=None)
    assert manager.status("here").arch == "amd64"
    # rebuilt from its container's labels: the image says what it is
    record_dir = manager.store.service_dir("pisite")
    (record_dir / "service.json").write_text("{broken")
    assert manager.repair("pisite").arch == "arm64"


def test_an_emulated_service_gets_qemus_share_on_top_of_its_limit(
        on_amd64: None, manager: Manager, arm64_base: FakeRuntime) -> None:
    assert arch.memory_limit("128m", "amd64") == "128m"
    assert arch.memory_limit("128m", "arm64") == "320m"
    assert arch.memory_limit("1g", "armhf") == "1216m"
    assert arch.memory_limit("65536k", "arm64") == "256m"
    manager.share("site", name="small", arch="arm64", limits={"memory": "64m"}, wait=False)
    manager.share("site", name="native", limits={"memory": "64m"}, wait=False)
    specs = {name: spec for name, (spec, _) in arm64_base.containers.items()}
    assert specs["myonion-small"].mem_limit == "256m"
    assert specs["myonion-native"].mem_limit == "64m"
    assert manager.store.get("small").limits == {"memory": "64m"}  # type: ignore[union-attr]


def test_myonion_arch_chooses_the_default(on_amd64: None, manager: Manager,
                                          arm64_base: FakeRuntime,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(arch.ENV, "arm64")
    assert manager.share("site", name="byenv", wait=False).arch == "arm64"
    monkeypatch.setenv(arch.ENV, "nope")
    with pytest.raises(OptionError, match="MYONION_ARCH is 'nope'"):
        manager.share("site", name="bad", wait=False)


def test_up_for_another_architecture_recreates_what_was_made_for_this_one(
        on_amd64: None, manager: Manager, arm64_base: FakeRuntime, tmp_path: Path) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text("version: 1\nname: archdep\nservices:\n  archsite:\n    template: site\n")
    assert [s.action for s in deploy.up(manager, deploy.load(path), wait=False)] == ["create"]
    manager.arch = "arm64"
    steps = deploy.up(manager, deploy.load(path), wait=False)
    assert [(s.action, s.reason) for s in steps] == [
        ("recreate", "changed: architecture amd64 → arm64")]
    assert manager.status("archsite").arch == "arm64"
    assert [s.action for s in deploy.up(manager, deploy.load(path), wait=False)] == [
        "unchanged"]


# --- bundles ----------------------------------------------------------------------------------
def test_a_bundle_for_arm64_is_made_here_and_loads_only_on_arm64(
        on_amd64: None, manager: Manager, arm64_base: FakeRuntime, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text("version: 1\nname: pibundle\nservices:\n  pisite:\n    template: site\n")
    manager.arch = "arm64"
    made = bundle_make.create_bundle(manager, deploy.load(path), tmp_path / "pi.tar")
    assert made.arch == "arm64" and ARM64_BASE in made.images
    assert all(t.endswith("-arm64") for t in made.images)
    with tarfile.open(made.path) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None and json.loads(member.read())["architecture"] == "arm64"
    other = FakeRuntime()
    with pytest.raises(bundle.BundleError, match="holds images for arm64; this machine is "
                       "amd64") as e:
        bundle.load_bundle(other, made.path, tmp_path / "amd64")
    assert "--arch amd64" in str(e.value.hint) and other.images == set()
    # on a 64-bit Pi: loaded, and `up` finds every image it needs
    monkeypatch.setattr(arch.platform, "machine", lambda: "aarch64")
    pi = FakeRuntime()
    loaded = bundle.load_bundle(pi, made.path, tmp_path / "pi")
    assert loaded.arch == "arm64" and set(made.images) <= pi.images
    assert all(pi.image_platform(t) == ("arm64", "v8") for t in made.images)
    from tests.fakes import FakeTestnet

    on_pi = Manager(runtime=pi, testnet=FakeTestnet())
    deploy.up(on_pi, deploy.load(loaded.path), wait=False)
    assert pi.builds == [] and on_pi.status("pisite").arch == "arm64"


def test_cli_bundle_and_share_take_arch(on_amd64: None, manager: Manager,
                                        arm64_base: FakeRuntime, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text("version: 1\nname: clibundle\nservices:\n  clisite:\n    template: site\n")
    monkeypatch.setattr("myonion.cli.common.manager", lambda reporter=None: manager)
    assert main(["bundle", "--arch", "arm64", "-f", str(path), "-o",
                 str(tmp_path / "b.tar")]) == 0
    assert "3 arm64 images" in capsys.readouterr().err.replace("\n", " ")
    assert main(["share", "site", "--arch", "mips", "--no-wait"]) == 1
    assert "'mips' is not an architecture myonion builds for" in capsys.readouterr().err


def test_a_load_sends_no_empty_chunk_and_reads_every_image_reported() -> None:
    """A Pi's Debian python3-requests (2.28) sends an empty chunk as the end of the body, and
    the engine then hangs up on the rest (found by the heavy test, myonion as an aarch64
    program): the runtime sends none. One message may report several images."""
    from myonion.runtime.docker import DockerRuntime

    sent: list[bytes] = []

    class Api:
        def load_image(self, data: object) -> list[dict[str, str]]:
            sent.extend(data)  # type: ignore[call-overload]
            return [{"stream": "Loaded image ID: sha256:aa\nLoaded image ID: sha256:bb\n"}]

    class Client:
        api = Api()

    runtime = DockerRuntime(client=Client())  # type: ignore[arg-type]
    loaded = runtime.load_images(iter([b"header", b"", b"data", b""]))
    assert sent == [b"header", b"data"]
    assert loaded == ["sha256:aa", "sha256:bb"]
