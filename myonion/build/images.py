"""The images myonion builds: the base (debootstrap), the shared tor layer, one per template.

Image tags carry a digest of their build context, so an unchanged template is never rebuilt and
a changed one always is. Every image is built for one architecture (:mod:`myonion.arch`): the
machine's own by default, or another one (``arm64``, ``armhf``) that the engine runs through
emulation. Tags keep architectures apart the same way on every machine: amd64's are the names
myonion always gave (``myonion/base:bookworm``, ``myonion/tor:<digest>``), every other
architecture's end in ``-<arch>`` (``myonion/base:bookworm-arm64``, ``myonion/tor:<digest>-arm64``)
and their digests build on that base's name, so a bundle made on a laptop names exactly the
tags ``myonion up`` looks for on a Pi. What an image's metadata says is checked after every
build and base import, and corrected where the engine got it wrong (:mod:`myonion.build.relabel`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from myonion import arch as arches
from myonion.build import relabel, render
from myonion.errors import BuildFailed, EmulationMissing, MyOnionError, OptionError
from myonion.events import Event, Reporter, Stage, log_reporter
from myonion.runtime.base import LABEL, Runtime
from myonion.templates import TemplateSpec

log = logging.getLogger(__name__)

LOCAL_BASE = "myonion/base:bookworm"
REGISTRY_BASE = "debian:bookworm-slim"
SUITE = "bookworm"
STEP_RE = re.compile(r"^Step (\d+)/(\d+)")
EXEC_FORMAT = "exec format error"


def architecture() -> str:
    """This machine's architecture as Debian names it (amd64, arm64, armhf, …)."""
    return arches.host()


def local_base(arch: str | None = None) -> str:
    """The tag ``myonion base build`` gives the base of ``arch`` (default: this machine's)."""
    return f"{LOCAL_BASE}{arches.tag_suffix(arch or arches.host())}"


def base_image(runtime: Runtime, arch: str | None = None) -> str:
    """The base image of ``arch`` (default: this machine's): ``MYONION_BASE_IMAGE_<ARCH>``
    (e.g. ``MYONION_BASE_IMAGE_ARM64``), else for this machine's own architecture
    ``MYONION_BASE_IMAGE``, else the one ``myonion base build`` made, else (this machine's
    architecture only: the engine would fetch its own) Debian's slim."""
    arch = arch or arches.host()
    configured = _configured_base(arch)
    if configured:
        return configured
    local = local_base(arch)
    if runtime.image_exists(local) or arch != arches.host():
        return local
    return REGISTRY_BASE


def _configured_base(arch: str) -> str | None:
    return (os.environ.get(f"MYONION_BASE_IMAGE_{arch.upper()}")
            or (os.environ.get("MYONION_BASE_IMAGE") if arch == arches.host() else None)
            or None)


def base_names() -> set[str]:
    """Every name :func:`base_image` may answer on this machine (whichever images exist)."""
    host = arches.host()
    return {local_base(host), _configured_base(host) or REGISTRY_BASE}


def host_debian_mirror(sources: tuple[Path, ...] = (
    Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"),
)) -> str | None:
    """The Debian mirror this host's apt uses (deb822 ``URIs:`` or a one-line ``deb`` entry)."""
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("URIs:"):
                uris = line.split()[1:]
                if uris:
                    return uris[0]
            if line.startswith("deb ") and "security" not in line:
                parts = [p for p in line.split()[1:] if not p.startswith("[")]
                if parts:
                    return parts[0]
    return None


def build_base(
    runtime: Runtime,
    mirror: str | None = None,
    tag: str | None = None,
    reporter: Reporter = log_reporter,
    force: bool = False,
    arch: str | None = None,
) -> str:
    """Make a minimal Debian image of ``arch`` (default: this machine's) with debootstrap,
    ``docker import`` it as ``tag`` (default :func:`local_base`) and make its metadata name
    that architecture. Another architecture needs this kernel to run its programs (debootstrap
    runs them for its second stage): see :func:`myonion.arch.emulation_problem`."""
    arch = arches.check(arch) if arch else arches.host()
    tag = tag or local_base(arch)
    runtime.ping()
    if runtime.image_exists(tag) and not force:
        if not relabel.check(runtime, tag, arch):
            relabel.relabel(runtime, tag, arch)
        reporter(Event(Stage.BUILDING, f"Base image {tag} exists already.", percent=100))
        return tag
    _check_debootstrap(arch)
    mirror = mirror or host_debian_mirror()
    if not mirror:
        raise OptionError("No Debian mirror was given and none is configured for apt here.",
                          hint="Give one with --mirror URL.")
    with tempfile.TemporaryDirectory(prefix="myonion-base-") as tmp:
        root = Path(tmp) / "rootfs"
        reporter(Event(Stage.BUILDING, f"debootstrap {SUITE} ({arch}) from {mirror}",
                       percent=5))
        _run(["debootstrap", "--variant=minbase", f"--arch={arch}", SUITE, str(root), mirror],
             reporter)
        tarball = Path(tmp) / "rootfs.tar"
        _pack(root, tarball, reporter)
        reporter(Event(Stage.BUILDING, f"Importing as {tag}", percent=90))
        old = runtime.image_id(tag)
        runtime.import_image(str(tarball), tag)
    imported = runtime.image_id(tag)
    if not relabel.check(runtime, tag, arch):
        reporter(Event(Stage.BUILDING, f"Labelling {tag} as {arches.PLATFORMS[arch]}",
                       percent=95))
        relabel.relabel(runtime, tag, arch)
        if imported and imported not in (old, runtime.image_id(tag)):
            runtime.remove_image(imported)  # the import, labelled wrongly and now untagged
    reporter(Event(Stage.BUILDING, f"Base image {tag} is ready.", percent=100))
    return tag


def _check_debootstrap(arch: str) -> None:
    if shutil.which("debootstrap") is None:
        raise MyOnionError(
            "debootstrap is not installed, so the base image cannot be made locally.",
            hint="Install it (`apt-get install debootstrap`) or set MYONION_BASE_IMAGE to an "
            "image you have.",
        )
    if os.geteuid() != 0:
        raise MyOnionError("Building the base image needs root (debootstrap).",
                           hint="Run `sudo myonion base build`.")
    problem = arches.emulation_problem(arch)
    if problem:
        raise EmulationMissing(f"The {arch} base cannot be made here: {problem}.",
                               hint=f"As root: `scripts/setup-host.sh --emulate {arch}` (it "
                               "installs qemu-user-static and binfmt-support and registers "
                               "them), then try again.")


def _pack(root: Path, tarball: Path, reporter: Reporter) -> None:
    """Trim the root filesystem (no apt lists or caches, no docs) and tar it."""
    for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for item in (root / sub).glob("*"):
            if item.is_file():
                item.unlink()
    shutil.rmtree(root / "usr/share/doc", ignore_errors=True)
    shutil.rmtree(root / "usr/share/man", ignore_errors=True)
    (root / "etc/apt/apt.conf.d/99myonion").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
    )
    reporter(Event(Stage.BUILDING, "Packing the root filesystem", percent=80))
    _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tarball), "."], reporter)


def _run(command: list[str], reporter: Reporter) -> None:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = [*tail[-29:], line.rstrip()]
        reporter(Event(Stage.BUILDING, command[0], detail=line.rstrip()))
    if proc.wait() != 0:
        raise MyOnionError(f"{command[0]} failed with status {proc.returncode}.",
                           detail="\n".join(tail))


def _build(runtime: Runtime, context: render.BuildContext, tag: str, what: str,
           reporter: Reporter, arch: str, force: bool = False) -> str:
    if runtime.image_exists(tag) and not force:
        return tag
    reporter(Event(Stage.BUILDING, f"Building {what} ({tag})", percent=0))

    def on_line(line: str) -> None:
        match = STEP_RE.match(line)
        percent = None
        if match:
            percent = int(100 * (int(match.group(1)) - 1) / int(match.group(2)))
        reporter(Event(Stage.BUILDING, f"Building {what}", percent=percent, detail=line))

    try:
        runtime.build(context.tar(), tag, {f"{LABEL}.image": what, f"{LABEL}.arch": arch},
                      on_line, nocache=force)
    except BuildFailed as e:
        if EXEC_FORMAT in f"{e.message}\n{e.detail or ''}".lower():
            raise _emulation_missing(arch, f"building {what}") from e
        raise
    if not relabel.check(runtime, tag, arch):  # a child takes its base's label: tell why not
        log.warning("%s came out labelled %s; labelling it %s", tag,
                    relabel.platform_of(runtime, tag), arches.PLATFORMS[arch])
        relabel.relabel(runtime, tag, arch)
    reporter(Event(Stage.BUILDING, f"Built {what}", percent=100))
    return tag


def _emulation_missing(arch: str, doing: str) -> EmulationMissing:
    problem = arches.emulation_problem(arch)
    return EmulationMissing(
        f"This Docker engine cannot run {arch} programs, which {doing} needs"
        + (f": {problem}." if problem else " (exec format error)."),
        hint=f"On the engine's machine, as root: `scripts/setup-host.sh --emulate {arch}`; or "
        f"build on a {arch} machine.")


def _checked_base(runtime: Runtime, arch: str) -> str:
    """The base image of ``arch``, refused if it is missing (another architecture's is never
    fetched) or labelled as another architecture."""
    base = base_image(runtime, arch)
    if not runtime.image_exists(base):
        if arch == arches.host():
            return base  # Debian's slim: the engine's own business, as before
        raise MyOnionError(f"There is no {arch} base image ({base}).",
                           hint=f"Make it with `myonion base build --arch {arch}` (as root), "
                           f"or set MYONION_BASE_IMAGE_{arch.upper()} to a {arch} image.")
    if not relabel.check(runtime, base, arch):
        raise MyOnionError(f"The base image {base} is labelled "
                           f"{relabel.platform_of(runtime, base)}, not {arches.PLATFORMS[arch]}, "
                           f"so it cannot be the {arch} base.",
                           hint=f"Make the base with `myonion base build --arch {arch}`, or "
                           f"set MYONION_BASE_IMAGE_{arch.upper()} to a {arch} image.")
    return base


def require_runnable(runtime: Runtime, image: str, arch: str) -> None:
    """Run ``uname -m`` in ``image`` when ``arch`` is not this machine's: raise
    :class:`EmulationMissing` if the engine cannot run it, :class:`MyOnionError` if it runs as
    another machine than ``arch`` (the image's files are not what its label says)."""
    if not arches.is_foreign(arch):
        return
    code, output = runtime.run_task(image, ["uname", "-m"], [], timeout=60)
    machine = output.strip().splitlines()[-1] if output.strip() else ""
    if code != 0 and EXEC_FORMAT in output.lower():
        raise _emulation_missing(arch, f"running {image}")
    if code != 0 or machine not in arches.MACHINES[arch]:
        raise MyOnionError(f"{image} should run as {arch}, but `uname -m` in it says "
                           f"'{machine or output.strip()[:200]}' (status {code}).",
                           hint=f"Make the base again with `myonion base build --arch {arch} "
                           "--force`.")


def _tor_context(runtime: Runtime, arch: str) -> render.BuildContext:
    return render.tor_image_context(base_image(runtime, arch))


def tor_image(runtime: Runtime, reporter: Reporter = log_reporter,
              arch: str | None = None) -> str:
    """The shared tor layer of ``arch`` (default: this machine's), built on the base image
    when missing."""
    arch = arch or arches.host()
    context = _tor_context(runtime, arch)
    tag = f"myonion/tor:{context.digest}{arches.tag_suffix(arch)}"
    if runtime.image_exists(tag):
        return tag
    base = _checked_base(runtime, arch)
    require_runnable(runtime, base, arch)
    return _build(runtime, context, tag, f"the tor layer ({arch})" if arch != "amd64"
                  else "the tor layer", reporter, arch)


def python_image(runtime: Runtime, reporter: Reporter = log_reporter,
                 arch: str | None = None) -> str:
    """The shared python layer (tor + Debian's python3) of ``arch``, built on the tor layer
    when missing."""
    arch = arch or arches.host()
    tor = tor_image(runtime, reporter, arch)
    context = render.python_image_context(tor)
    return _build(runtime, context, _python_tag(tor, arch), "the python layer"
                  + (f" ({arch})" if arch != "amd64" else ""), reporter, arch)


def _python_tag(tor: str, arch: str) -> str:
    return f"myonion/python:{render.python_image_context(tor).digest}{arches.tag_suffix(arch)}"


def _tor_tag(runtime: Runtime, arch: str) -> str:
    return f"myonion/tor:{_tor_context(runtime, arch).digest}{arches.tag_suffix(arch)}"


def template_tag(runtime: Runtime, template: TemplateSpec, tor: str | None = None,
                 arch: str | None = None) -> str:
    """The tag :func:`template_image` gives ``template``'s image of ``arch`` now, without
    building anything (so a deployment can tell that a template changed since its service
    was made); ``tor``: the tor layer's tag, when known."""
    arch = arch or arches.host()
    tor = tor or _tor_tag(runtime, arch)
    python = _python_tag(tor, arch) if template.layer == "python" else None
    digest = render.template_context(template, tor, python).digest
    return f"myonion/{template.id}:{digest}{arches.tag_suffix(arch)}"


def template_image(runtime: Runtime, template: TemplateSpec,
                   reporter: Reporter = log_reporter, force: bool = False,
                   arch: str | None = None) -> str:
    """A template's image of ``arch`` (default: this machine's; the layers below it too),
    built when missing; ``force`` builds the template's own steps again without the cache
    (the layers below are kept). Another architecture's image is refused unless the engine
    runs it (see :func:`require_runnable`)."""
    arch = arch or arches.host()
    tor = tor_image(runtime, reporter, arch)
    python = python_image(runtime, reporter, arch) if template.layer == "python" else None
    context = render.template_context(template, tor, python)
    tag = f"myonion/{template.id}:{context.digest}{arches.tag_suffix(arch)}"
    require_runnable(runtime, tor, arch)
    return _build(runtime, context, tag, f"template '{template.id}'"
                  + (f" ({arch})" if arch != "amd64" else ""), reporter, arch, force=force)


@dataclass
class PruneResult:
    """What :func:`prune` removed (or would remove), and what it kept and why."""

    removed: list[str] = field(default_factory=list)
    #: bytes the removed images took, each counted whole (their shared layers stay if other
    #: images use them, so the disk gains at most this much)
    size: int = 0
    #: tag -> why it stays although it is an old version (an image in use builds on it)
    kept: dict[str, str] = field(default_factory=dict)


def current_tags(runtime: Runtime, templates: list[TemplateSpec]) -> set[str]:
    """The images myonion builds now, for every architecture it builds for: the bases, the
    tor and python layers, every template's."""
    tags: set[str] = set()
    for arch in arches.ARCHES:
        tor = _tor_tag(runtime, arch)
        tags |= {base_image(runtime, arch), local_base(arch), tor, _python_tag(tor, arch),
                 *(template_tag(runtime, t, tor, arch) for t in templates)}
    return tags


def prune(runtime: Runtime, templates: list[TemplateSpec], in_use: set[str],
          dry_run: bool = False) -> PruneResult:
    """Remove the ``myonion/…`` images of older versions: neither what myonion builds now for
    ``templates`` nor an image a container uses (``in_use``: their image names). Templates'
    images go first, then the python and tor layers, which an image still there may build on."""
    keep = current_tags(runtime, templates) | in_use
    old = [tag for tag in runtime.list_images("myonion/") if tag not in keep]
    layer_order = {"myonion/tor": 2, "myonion/python": 1}
    old.sort(key=lambda tag: (layer_order.get(tag.partition(":")[0], 0), tag))
    result = PruneResult()
    for tag in old:
        size = runtime.image_size(tag)
        if not dry_run:
            try:
                runtime.remove_image(tag)
            except MyOnionError as e:
                result.kept[tag] = e.message
                continue
        result.removed.append(tag)
        result.size += size
    return result
