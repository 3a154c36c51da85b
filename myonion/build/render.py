"""Rendering with jinja2 (StrictUndefined): build contexts for images, config files for services.

Two kinds of output:
- a *build context* (``Dockerfile.j2`` + ``files/``) that depends only on the template and the
  image it builds on, so one image serves every service of a template;
- *runtime files* (``torrc.j2`` and the manifest's ``runtime_files``) rendered per service into its
  ``conf/`` directory and mounted read-only at ``/etc/myonion``. They never enter an image layer;
  some hold a template's secret options (device tokens, passwords), so they are only readable
  below the service's 0700 directory on the host and inside its own container.
"""

from __future__ import annotations

import functools
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from myonion import paths
from myonion.errors import OptionError, TemplateError
from myonion.templates import TemplateSpec

if TYPE_CHECKING:  # jinja2 is imported where a template is rendered: most commands render none
    import jinja2

#: the unprivileged uid/gid tor runs as inside every container (user myonion-tor); it alone can
#: read the onion key and use tor's control socket
TOR_UID = 10001
#: the unprivileged uid/gid a template's service runs as (user myonion), unless it serves a
#: folder of the host (then the folder's owner) or is tor's own helper (onionbalance)
SERVICE_UID = 10002


_UIDS = {"uid": TOR_UID, "service_uid": SERVICE_UID}


def runtime_dir() -> Path:
    """The shared layer's folder (``containers/_runtime``): the tor image and common torrc."""
    return paths.builtin_templates_dir() / "_runtime"


def _env(folder: Path) -> jinja2.Environment:
    """One environment per template folder: it compiles each file once, and again only
    when the file changed (jinja2 looks at its time on every use). A new one per render
    compiled every file each time: ~20 % of a share's CPU in Python, profiled."""
    return _environment(str(folder), str(runtime_dir()))


@functools.lru_cache(maxsize=64)
def _environment(folder: str, shared: str) -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([folder, shared]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _render(folder: Path, name: str, variables: dict[str, Any]) -> str:
    import jinja2

    try:
        return _env(folder).get_template(name).render(**variables)
    except jinja2.TemplateError as e:
        raise TemplateError(f"Rendering {folder / name} failed: {e}.") from e


@dataclass(frozen=True)
class BuildContext:
    """Files of a docker build context and a digest naming exactly that content."""

    files: dict[str, bytes]
    modes: dict[str, int]

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + oct(self.modes[name]).encode() + b"\0")
            h.update(hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()[:16]

    def tar(self) -> io.BytesIO:
        """The context as an uncompressed tar stream, as the Docker API wants it."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name in sorted(self.files):
                data = self.files[name]
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = self.modes[name]
                tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        return buf


def _collect(folder: Path, dockerfile: str, skip: set[str]) -> dict[str, Path]:
    """The files of a context folder, without what Python writes beside its modules: pip
    compiles a template's .py files when it installs myonion, and a context (its digest, so
    the image's tag) must be the same from a wheel as from a checkout, or a bundle made on a
    laptop names tags a Pi's myonion never looks for."""
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if "__pycache__" in path.relative_to(folder).parts or rel.endswith(".pyc"):
            continue
        if path.is_file() and rel not in skip and not rel.endswith(".j2"):
            files[rel.removeprefix("files/")] = path
    return files


def _context(folder: Path, variables: dict[str, Any], skip: set[str]) -> BuildContext:
    files: dict[str, bytes] = {"Dockerfile": _render(folder, "Dockerfile.j2", variables).encode()}
    modes: dict[str, int] = {"Dockerfile": 0o644}
    for rel, path in _collect(folder, "Dockerfile.j2", skip).items():
        files[rel] = path.read_bytes()
        modes[rel] = 0o755 if path.stat().st_mode & 0o111 else 0o644
    return BuildContext(files, modes)


def tor_image_context(base_image: str) -> BuildContext:
    """The shared tor layer's build context, on top of ``base_image``."""
    return _context(
        runtime_dir(), {"base_image": base_image, **_UIDS}, skip={"template.yaml"}
    )


def python_layer_dir() -> Path:
    """The python layer's folder (``containers/_python``): tor + Debian's python3."""
    return paths.builtin_templates_dir() / "_python"


def python_image_context(tor_image: str) -> BuildContext:
    """The shared python layer's build context, on top of the tor layer ``tor_image``."""
    return _context(python_layer_dir(), {"tor_image": tor_image, **_UIDS}, set())


def template_context(template: TemplateSpec, tor_image: str,
                     python_image: str | None = None) -> BuildContext:
    """A template's build context: ``Dockerfile.j2`` rendered plus ``files/``; a template on
    the python layer (``layer: python``) builds ``FROM {{ python_image }}``."""
    skip = {"template.yaml"}
    variables: dict[str, Any] = {"tor_image": tor_image, **_UIDS}
    if python_image is not None:
        variables["python_image"] = python_image
    return _context(template.path, variables, skip)


def render_runtime_files(
    template: TemplateSpec,
    service: dict[str, Any],
    options: dict[str, Any],
    tor: dict[str, Any] | None = None,
    guard: Any = None,
) -> dict[str, str]:
    """Render ``torrc`` and the template's runtime files for one service.

    Besides the variables, templates get ``file_text(option)``: the content of a ``file``
    option's file, read and checked by its ``format`` again now (it is copied into the service's
    configuration, so later changes of the file need a new share); and ``guard.host`` /
    ``guard.testnet``: what a relay must never connect to (this machine's addresses, the test
    network's nodes: a :class:`myonion.targets.GuardAddresses`; none unless given).
    """

    def file_text(name: str) -> str:
        spec = template.option(name)
        if spec is None or spec.type != "file":
            raise TemplateError(f"Template '{template.id}' reads option '{name}' as a file, "
                                "but it is no file option.")
        if not options.get(name):
            raise OptionError(f"Option '{name}' of template '{template.id}' is not given.")
        return spec.file_text(str(options[name]))

    variables = {
        "template": template,
        # service: name, network, mode and the uid its service runs as (the service user's
        # unless given: see manager.service_user)
        "service": {"uid": SERVICE_UID, **service},
        "options": options,
        "tor": {"pow": False, "balance_instance": False, **(tor or {})},
        **_UIDS,
        "file_text": file_text,
        "guard": guard if guard is not None else {"host": [], "testnet": []},
    }
    out = {"torrc": _render(template.path, "torrc.j2", variables)}
    for name in template.runtime_files:
        out[name.removesuffix(".j2")] = _render(template.path, name, variables)
    return out
