"""Templates: a folder with ``template.yaml``, ``Dockerfile.j2``, ``torrc.j2`` and files.

The registry globs ``*/template.yaml`` in the built-in directory and the user's templates
directory, so adding a template is adding a folder. Options given by the user are validated and
coerced against the manifest here, before anything is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from myonion import paths
from myonion.errors import OptionError, TemplateError

OPTION_TYPES = ("string", "text", "int", "bool", "choice", "dir", "file")
ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
#: what status and listings show instead of a secret option's value
HIDDEN = "(hidden)"


@dataclass(frozen=True)
class OptionSpec:
    """One option a template accepts."""

    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    #: a regular expression a string value must match in full
    pattern: str | None = None
    #: a valid sample value (for required options without a default: docs and template tests)
    example: Any = None
    #: the value holds a secret (tokens, passwords): never shown in status or listings
    secret: bool = False

    def coerce(self, raw: Any) -> Any:
        """Turn a raw value (a string from the CLI, or a YAML value) into the option's type."""
        name = self.name
        if self.type == "int":
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise OptionError(f"Option '{name}' must be a whole number, not '{raw}'.") from None
            if self.min is not None and value < self.min:
                raise OptionError(f"Option '{name}' must be at least {self.min}, not {value}.")
            if self.max is not None and value > self.max:
                raise OptionError(f"Option '{name}' must be at most {self.max}, not {value}.")
            return value
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in TRUE:
                return True
            if text in FALSE:
                return False
            raise OptionError(f"Option '{name}' must be true or false, not '{raw}'.")
        text = str(raw)
        if self.type == "choice":
            if text not in self.choices:
                raise OptionError(
                    f"Option '{name}' must be one of {', '.join(self.choices)}, not '{text}'."
                )
            return text
        if self.type in ("dir", "file"):
            return self._path(text)
        if "\x00" in text or (self.type == "string" and "\n" in text):
            raise OptionError(f"Option '{name}' must be a single line of text.")
        if self.pattern and not re.fullmatch(self.pattern, text):
            raise OptionError(f"Option '{name}' has an invalid value '{text}'.", hint=self.help)
        return text

    def _path(self, text: str) -> str:
        path = Path(text).expanduser()
        try:
            path = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise OptionError(
                f"Option '{self.name}': {text} does not exist.",
                hint=f"Give an existing {'folder' if self.type == 'dir' else 'file'}.",
            ) from None
        if self.type == "dir" and not path.is_dir():
            raise OptionError(f"Option '{self.name}': {text} is not a folder.")
        if self.type == "file" and not path.is_file():
            raise OptionError(f"Option '{self.name}': {text} is not a regular file.")
        return str(path)


@dataclass(frozen=True)
class PortSpec:
    """An onion port: ``virtual`` on the .onion address → ``target`` on 127.0.0.1 inside."""

    virtual: int
    target: int
    protocol: str = "http"


@dataclass(frozen=True)
class MountSpec:
    """A host path given by an option, bind-mounted read-only into the container."""

    option: str
    target: str


@dataclass(frozen=True)
class VolumeSpec:
    """Data that persists in a named volume (besides the onion key)."""

    name: str
    target: str


@dataclass(frozen=True)
class TemplateSpec:
    """A parsed, checked ``template.yaml`` and the folder it came from."""

    id: str
    title: str
    description: str
    path: Path
    options: tuple[OptionSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    mounts: tuple[MountSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    tmpfs: tuple[str, ...] = ("/tmp",)
    runtime_files: tuple[str, ...] = ()
    healthcheck: dict[str, Any] = field(default_factory=dict)
    cap_add: tuple[str, ...] = ()
    #: the service itself connects out through tor (a SOCKS port on 127.0.0.1:9050 inside)
    tor_client: bool = False
    builtin: bool = True

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)

    def public_options(self, values: dict[str, Any]) -> dict[str, Any]:
        """Option values fit to show: those of ``secret`` options replaced by a placeholder."""
        secret = {o.name for o in self.options if o.secret}
        return {k: (HIDDEN if k in secret and v not in (None, "") else v)
                for k, v in values.items()}

    def validate(self, given: dict[str, Any]) -> dict[str, Any]:
        """Check and coerce user options; returns every option with its value (or default)."""
        known = {o.name for o in self.options}
        unknown = sorted(set(given) - known)
        if unknown:
            raise OptionError(
                f"Template '{self.id}' has no option '{unknown[0]}'.",
                hint=f"Its options are: {', '.join(sorted(known)) or 'none'} "
                f"(see `myonion templates show {self.id}`).",
            )
        values: dict[str, Any] = {}
        for spec in self.options:
            if spec.name in given and given[spec.name] not in (None, ""):
                values[spec.name] = spec.coerce(given[spec.name])
            elif spec.required:
                raise OptionError(
                    f"Template '{self.id}' needs option '{spec.name}'.",
                    hint=f"Give it with -o {spec.name}=VALUE ({spec.help}).",
                )
            else:
                values[spec.name] = spec.default
        return values

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "builtin": self.builtin,
            "ports": [{"virtual": p.virtual, "target": p.target} for p in self.ports],
            "options": [
                {
                    "name": o.name,
                    "type": o.type,
                    "required": o.required,
                    "default": o.default,
                    "help": o.help,
                    **({"choices": list(o.choices)} if o.choices else {}),
                }
                for o in self.options
            ],
        }


def _fail(path: Path, what: str) -> TemplateError:
    return TemplateError(f"The template manifest {path} is invalid: {what}.", hint=None)


def _option(path: Path, raw: Any) -> OptionSpec:
    if not isinstance(raw, dict) or "name" not in raw:
        raise _fail(path, "every option needs a 'name'")
    kind = raw.get("type", "string")
    if kind not in OPTION_TYPES:
        raise _fail(path, f"option '{raw['name']}' has unknown type '{kind}'")
    if kind == "choice" and not raw.get("choices"):
        raise _fail(path, f"choice option '{raw['name']}' needs 'choices'")
    return OptionSpec(
        name=str(raw["name"]),
        type=kind,
        required=bool(raw.get("required", False)),
        default=raw.get("default"),
        help=str(raw.get("help", "")),
        choices=tuple(str(c) for c in raw.get("choices", ())),
        min=raw.get("min"),
        max=raw.get("max"),
        pattern=raw.get("pattern"),
        example=raw.get("example"),
        secret=bool(raw.get("secret", False)),
    )


def load_template(folder: Path, builtin: bool = True) -> TemplateSpec:
    """Parse and check one template folder."""
    manifest = folder / "template.yaml"
    try:
        raw = yaml.safe_load(manifest.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise _fail(manifest, str(e)) from e
    if not isinstance(raw, dict):
        raise _fail(manifest, "it is not a mapping")
    for key in ("id", "title", "description", "ports"):
        if key not in raw:
            raise _fail(manifest, f"'{key}' is missing")
    if not ID_RE.match(str(raw["id"])) or raw["id"] != folder.name:
        raise _fail(manifest, f"id '{raw['id']}' must be lower-case and equal the folder name")
    for needed in ("Dockerfile.j2", "torrc.j2"):
        if not (folder / needed).is_file():
            raise _fail(manifest, f"{needed} is missing beside it")
    try:
        ports = tuple(PortSpec(int(p["virtual"]), int(p["target"]), p.get("protocol", "http"))
                      for p in raw["ports"])
        mounts = tuple(MountSpec(m["option"], m["target"]) for m in raw.get("mounts", ()))
        volumes = tuple(VolumeSpec(v["name"], v["target"]) for v in raw.get("volumes", ()))
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(manifest, f"ports/mounts/volumes are malformed ({e})") from e
    if not ports:
        raise _fail(manifest, "it declares no onion port")
    options = tuple(_option(manifest, o) for o in raw.get("options", ()))
    for m in mounts:
        if not any(o.name == m.option and o.type in ("dir", "file") for o in options):
            raise _fail(manifest, f"mount '{m.target}' names no dir/file option '{m.option}'")
    for name in raw.get("runtime_files", ()):
        if not (folder / name).is_file():
            raise _fail(manifest, f"runtime file {name} is missing")
    return TemplateSpec(
        id=raw["id"],
        title=str(raw["title"]),
        description=str(raw["description"]).strip(),
        path=folder,
        options=options,
        ports=ports,
        mounts=mounts,
        volumes=volumes,
        tmpfs=tuple(raw.get("tmpfs", ("/tmp",))),
        runtime_files=tuple(raw.get("runtime_files", ())),
        healthcheck=dict(raw.get("healthcheck", {})),
        cap_add=tuple(raw.get("cap_add", ())),
        tor_client=bool(raw.get("tor_client", False)),
        builtin=builtin,
    )


class TemplateRegistry:
    """Every template found in the built-in and the user directories (user ones may override)."""

    def __init__(self, dirs: list[tuple[Path, bool]] | None = None) -> None:
        if dirs is None:
            dirs = [(paths.builtin_templates_dir(), True), (paths.user_templates_dir(), False)]
        self.dirs = dirs

    def _folders(self) -> dict[str, tuple[Path, bool]]:
        found: dict[str, tuple[Path, bool]] = {}
        for root, builtin in self.dirs:
            if root.is_dir():
                for manifest in sorted(root.glob("*/template.yaml")):
                    found[manifest.parent.name] = (manifest.parent, builtin)
        return found

    def ids(self) -> list[str]:
        return sorted(self._folders())

    def all(self) -> list[TemplateSpec]:
        return [load_template(folder, builtin) for folder, builtin in self._folders().values()]

    def get(self, template_id: str) -> TemplateSpec:
        folders = self._folders()
        if template_id not in folders:
            raise TemplateError(
                f"There is no template '{template_id}'.",
                hint=f"Templates: {', '.join(sorted(folders)) or 'none'}.",
            )
        folder, builtin = folders[template_id]
        return load_template(folder, builtin)


def parse_option_args(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Turn CLI ``-o key=value`` pairs into a dict, rejecting malformed ones."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(
                f"'-o {pair}' is not of the form KEY=VALUE.", hint="For example: -o dir=./site"
            )
        result[key.strip()] = value
    return result
