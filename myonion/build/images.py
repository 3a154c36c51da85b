"""The images myonion builds: the base (debootstrap), the shared tor layer, one per template.

Image tags carry a digest of their build context, so an unchanged template is never rebuilt and
a changed one always is.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from myonion.build import render
from myonion.errors import MyOnionError, OptionError
from myonion.events import Event, Reporter, Stage, log_reporter
from myonion.runtime.base import LABEL, Runtime
from myonion.templates import TemplateSpec

log = logging.getLogger(__name__)

LOCAL_BASE = "myonion/base:bookworm"
REGISTRY_BASE = "debian:bookworm-slim"
SUITE = "bookworm"
STEP_RE = re.compile(r"^Step (\d+)/(\d+)")


#: Debian's names for the machine types ``platform.machine()`` reports
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                  "armv7l": "armhf", "armv6l": "armel", "i686": "i386", "i386": "i386"}


def architecture() -> str:
    """This machine's architecture as Debian names it (amd64, arm64, armhf, …)."""
    machine = platform.machine().lower()
    return _ARCHITECTURES.get(machine, machine)


def base_image(runtime: Runtime) -> str:
    """The base image: ``MYONION_BASE_IMAGE_<ARCH>`` for this machine's architecture (e.g.
    ``MYONION_BASE_IMAGE_ARM64`` on a 64-bit Pi), else ``MYONION_BASE_IMAGE``, else the
    locally built one (debootstrap builds the machine's own architecture), else Debian's slim."""
    configured = _configured_base()
    if configured:
        return configured
    return LOCAL_BASE if runtime.image_exists(LOCAL_BASE) else REGISTRY_BASE


def _configured_base() -> str | None:
    return (os.environ.get(f"MYONION_BASE_IMAGE_{architecture().upper()}")
            or os.environ.get("MYONION_BASE_IMAGE") or None)


def base_names() -> set[str]:
    """Every name :func:`base_image` may answer on this machine (whichever images exist)."""
    return {LOCAL_BASE, _configured_base() or REGISTRY_BASE}


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
    tag: str = LOCAL_BASE,
    reporter: Reporter = log_reporter,
    force: bool = False,
) -> str:
    """Make a minimal Debian image with debootstrap and ``docker import`` it as ``tag``."""
    runtime.ping()
    if runtime.image_exists(tag) and not force:
        reporter(Event(Stage.BUILDING, f"Base image {tag} exists already.", percent=100))
        return tag
    if shutil.which("debootstrap") is None:
        raise MyOnionError(
            "debootstrap is not installed, so the base image cannot be made locally.",
            hint="Install it (`apt-get install debootstrap`) or set MYONION_BASE_IMAGE to an "
            "image you have.",
        )
    if os.geteuid() != 0:
        raise MyOnionError("Building the base image needs root (debootstrap).",
                           hint="Run `sudo myonion base build`.")
    mirror = mirror or host_debian_mirror()
    if not mirror:
        raise OptionError("No Debian mirror was given and none is configured for apt here.",
                          hint="Give one with --mirror URL.")
    with tempfile.TemporaryDirectory(prefix="myonion-base-") as tmp:
        root = Path(tmp) / "rootfs"
        reporter(Event(Stage.BUILDING, f"debootstrap {SUITE} from {mirror}", percent=5))
        _run(["debootstrap", "--variant=minbase", SUITE, str(root), mirror], reporter)
        # Keep the image small: no apt lists or caches, no docs.
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
        tarball = Path(tmp) / "rootfs.tar"
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tarball), "."], reporter)
        reporter(Event(Stage.BUILDING, f"Importing as {tag}", percent=90))
        runtime.import_image(str(tarball), tag)
    reporter(Event(Stage.BUILDING, f"Base image {tag} is ready.", percent=100))
    return tag


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
           reporter: Reporter, force: bool = False) -> str:
    if runtime.image_exists(tag) and not force:
        return tag
    reporter(Event(Stage.BUILDING, f"Building {what} ({tag})", percent=0))

    def on_line(line: str) -> None:
        match = STEP_RE.match(line)
        percent = None
        if match:
            percent = int(100 * (int(match.group(1)) - 1) / int(match.group(2)))
        reporter(Event(Stage.BUILDING, f"Building {what}", percent=percent, detail=line))

    runtime.build(context.tar(), tag, {f"{LABEL}.image": what}, on_line, nocache=force)
    reporter(Event(Stage.BUILDING, f"Built {what}", percent=100))
    return tag


def tor_image(runtime: Runtime, reporter: Reporter = log_reporter) -> str:
    """The shared tor layer, built on the base image when missing."""
    context = render.tor_image_context(base_image(runtime))
    return _build(runtime, context, f"myonion/tor:{context.digest}", "the tor layer", reporter)


def python_image(runtime: Runtime, reporter: Reporter = log_reporter) -> str:
    """The shared python layer (tor + Debian's python3), built on the tor layer when missing."""
    tor = tor_image(runtime, reporter)
    context = render.python_image_context(tor)
    return _build(runtime, context, f"myonion/python:{context.digest}", "the python layer",
                  reporter)


def _python_tag(tor: str) -> str:
    return f"myonion/python:{render.python_image_context(tor).digest}"


def _tor_tag(runtime: Runtime) -> str:
    return f"myonion/tor:{render.tor_image_context(base_image(runtime)).digest}"


def template_tag(runtime: Runtime, template: TemplateSpec, tor: str | None = None) -> str:
    """The tag :func:`template_image` gives ``template``'s image now, without building
    anything (so a deployment can tell that a template changed since its service was made);
    ``tor``: the tor layer's tag, when known."""
    tor = tor or _tor_tag(runtime)
    python = _python_tag(tor) if template.layer == "python" else None
    return f"myonion/{template.id}:{render.template_context(template, tor, python).digest}"


def template_image(runtime: Runtime, template: TemplateSpec,
                   reporter: Reporter = log_reporter, force: bool = False) -> str:
    """A template's image (and the layers below it), built when missing; ``force`` builds
    the template's own steps again without the cache (the layers below are kept)."""
    tor = tor_image(runtime, reporter)
    python = python_image(runtime, reporter) if template.layer == "python" else None
    context = render.template_context(template, tor, python)
    tag = f"myonion/{template.id}:{context.digest}"
    return _build(runtime, context, tag, f"template '{template.id}'", reporter, force=force)


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
    """The images myonion builds now: the base, the tor and python layers, every template's."""
    tor = _tor_tag(runtime)
    return {base_image(runtime), LOCAL_BASE, tor, _python_tag(tor),
            *(template_tag(runtime, t, tor) for t in templates)}


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
