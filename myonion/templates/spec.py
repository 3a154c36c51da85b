"""What a template is, once its manifest was read: options, ports, mounts, volumes, the template.

:class:`OptionSpec` checks and coerces one value the user gives; :meth:`TemplateSpec.validate`
checks a whole set of options against the template (unknown names, required ones, ``one_of``
groups, published ports, the DoS defences every template has). Reading a manifest into these
is :mod:`myonion.templates.manifest`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from myonion.errors import OptionError
from myonion.folders import check_shared_folder
from myonion.templates.formats import FORMATS, PATH_SHOWN, shown, whole_number
from myonion.tor.probes import ProbeSpec

__all__ = [
    "COMMON_OPTIONS",
    "HIDDEN",
    "INTRO_DOS_MAX",
    "LAYERS",
    "OPTION_TYPES",
    "MountSpec",
    "OptionSpec",
    "PortSpec",
    "PublishSpec",
    "TemplateSpec",
    "VolumeSpec",
]

OPTION_TYPES = ("string", "text", "int", "bool", "choice", "dir", "file")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
#: what status and listings show instead of a secret option's value
HIDDEN = "(hidden)"
#: the largest file a ``file`` option with a ``format`` is read from, in bytes
MAX_CHECKED_FILE = 1024 * 1024


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
    #: a named check of the value (of a file option: of its content), one of FORMATS
    format: str | None = None

    def coerce(self, raw: Any) -> Any:
        """Turn a raw value (a string from the CLI, or a YAML value) into the option's type."""
        name = self.name
        if self.type == "int":
            value = whole_number(raw)
            if value is None:
                raise OptionError(f"Option '{name}' must be a whole number, not '{shown(raw)}'.")
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
            raise OptionError(f"Option '{name}' must be true or false, not '{shown(raw)}'.")
        text = str(raw)
        if self.type == "choice":
            if text not in self.choices:
                raise OptionError(
                    f"Option '{name}' must be one of {', '.join(self.choices)}, not "
                    f"'{shown(text)}'."
                )
            return text
        if self.type in ("dir", "file"):
            path = self._path(text)
            if self.format:
                self.file_text(path)
            return path
        if "\x00" in text or (self.type == "string" and "\n" in text):
            raise OptionError(f"Option '{name}' must be a single line of text.")
        if self.format:
            FORMATS[self.format](f"Option '{name}'", text)
        if self.pattern and not re.fullmatch(self.pattern, text):
            raise OptionError(f"Option '{name}' has an invalid value '{shown(text)}'.",
                              hint=self.help)
        return text

    def file_text(self, path: str) -> str:
        """The text of this file option's file (small, UTF-8), checked by its ``format``."""
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_CHECKED_FILE + 1)
        except OSError as e:
            raise OptionError(f"Option '{self.name}': {path} cannot be read ({e.strerror}).",
                              hint="Give a file you can read.") from None
        if len(data) > MAX_CHECKED_FILE:
            raise OptionError(f"Option '{self.name}': {path} is larger than "
                              f"{MAX_CHECKED_FILE // 1024} KiB.", hint=self.help)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise OptionError(f"Option '{self.name}': {path} is not a text file.",
                              hint=self.help) from None
        if self.format:
            FORMATS[self.format](f"Option '{self.name}' ({path})", text)
        return text

    def _path(self, text: str) -> str:
        try:
            path = Path(text).expanduser().resolve(strict=True)
        except (OSError, RuntimeError, ValueError):  # ValueError: a NUL in the path
            raise OptionError(
                f"Option '{self.name}': {shown(text, PATH_SHOWN)} does not exist.",
                hint=f"Give an existing {'folder' if self.type == 'dir' else 'file'}.",
            ) from None
        if self.type == "dir" and not path.is_dir():
            raise OptionError(f"Option '{self.name}': {text} is not a folder.")
        if self.type == "dir":
            check_shared_folder(self.name, path)
        if self.type == "file" and not path.is_file():
            raise OptionError(f"Option '{self.name}': {text} is not a regular file.")
        return str(path)


#: tor's largest value of HiddenServiceEnableIntroDoS{Rate,Burst}PerSec
INTRO_DOS_MAX = 0x7FFFFFFF
#: the shared layers a template's image can build on (``layer:`` in its manifest)
LAYERS = ("tor", "python")
#: options every template has: the onion-service DoS defences tor offers (rendered into the
#: torrc by torrc-common.j2); a manifest may not define options of these names
COMMON_OPTIONS = (
    OptionSpec("pow_defense", "bool", default=False,
               help="tor's proof-of-work defence against floods of introductions "
               "(HiddenServicePoWDefensesEnabled): while the service is overwhelmed, clients "
               "solve a small puzzle and the ones that work hardest get in first"),
    OptionSpec("intro_dos_rate", "int", min=1, max=INTRO_DOS_MAX,
               help="rate-limit introductions at the introduction points to this many a second "
               "(HiddenServiceEnableIntroDoSDefense; off when left out)"),
    OptionSpec("intro_dos_burst", "int", min=1, max=INTRO_DOS_MAX,
               help="the burst those introduction points allow (at least intro_dos_rate; "
               "default 8 times intro_dos_rate)"),
)


@dataclass(frozen=True)
class PortSpec:
    """An onion port: ``virtual`` on the .onion address → ``target`` on 127.0.0.1 inside."""

    virtual: int
    target: int
    protocol: str = "http"
    #: a bool option that turns this port on (None: always on; the first port always is)
    when: str | None = None


@dataclass(frozen=True)
class PublishSpec:
    """A container port published on the host when an int option gives the host port.

    ``address_option`` names a string option with the host address to bind (else 127.0.0.1).
    Nothing is published while the port option is unset.
    """

    option: str
    target: int
    address_option: str | None = None
    protocol: str = "tcp"


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
    #: an Onionbalance frontend: its tor has no HiddenServiceDir of its own (the service
    #: publishes the master descriptor through tor's control socket)
    balance_frontend: bool = False
    #: the service is tor's own helper and runs as tor's user (``service_user: tor``; the
    #: Onionbalance frontend, which holds the master key and talks to tor); every other
    #: service runs as a user that cannot read the onion key
    service_is_tor: bool = False
    builtin: bool = True
    #: groups of options of which exactly one must be given (e.g. keys as text or as a file)
    one_of: tuple[tuple[str, ...], ...] = ()
    #: container ports published on the host when the user asks (by an option)
    publish: tuple[PublishSpec, ...] = ()
    #: the shared layer the image builds on: "tor" (the tor layer, as ``tor_image`` in the
    #: Dockerfile) or "python" (tor + Debian's python3, as ``python_image``)
    layer: str = "tor"
    #: how the service proves it works through its onion (``probes:``; see myonion.probes)
    probes: tuple[ProbeSpec, ...] = ()

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)

    def onion_ports(self, values: dict[str, Any]) -> tuple[PortSpec, ...]:
        """The onion ports of a service with these (validated) options."""
        return tuple(p for p in self.ports if p.when is None or values.get(p.when))

    def published(self, values: dict[str, Any]) -> dict[str, tuple[str, int]]:
        """Container port ("1883/tcp") → (host address, host port) for the ports asked for."""
        ports: dict[str, tuple[str, int]] = {}
        for p in self.publish:
            if values.get(p.option) is not None:
                address = values.get(p.address_option) if p.address_option else None
                ports[f"{p.target}/{p.protocol}"] = (str(address or "127.0.0.1"),
                                                     int(values[p.option]))
        return ports

    def public_options(self, values: dict[str, Any]) -> dict[str, Any]:
        """Option values fit to show: those of ``secret`` options replaced by a placeholder."""
        secret = {o.name for o in self.options if o.secret}
        return {k: (HIDDEN if k in secret and v not in (None, "") else v)
                for k, v in values.items()}

    def validate(self, given: dict[str, Any]) -> dict[str, Any]:
        """Check and coerce user options; returns every option with its value (or default)."""
        known = {o.name for o in self.options}
        unknown = sorted(set(given) - known - {c.name for c in COMMON_OPTIONS})
        if unknown:
            raise OptionError(
                f"Template '{self.id}' has no option '{unknown[0]}'.",
                hint=f"Its options are: {', '.join(sorted(known)) or 'none'} "
                f"(see `myonion templates show {self.id}`).",
            )
        present = {k for k, v in given.items() if v not in (None, "")}
        for group in self.one_of:
            self._check_one_of(group, present)
        for p in self.publish:
            if p.address_option in present and p.option not in present:
                raise OptionError(
                    f"Option '{p.address_option}' only applies when '{p.option}' is given.",
                    hint=f"Add -o {p.option}=PORT to publish port {p.target} on this machine, "
                    f"or leave out '{p.address_option}'.")
        values: dict[str, Any] = {}
        for spec in (*self.options, *COMMON_OPTIONS):
            if spec.name in present:
                values[spec.name] = spec.coerce(given[spec.name])
            elif spec.required:
                raise OptionError(
                    f"Template '{self.id}' needs option '{spec.name}'.",
                    hint=f"Give it with -o {spec.name}=VALUE ({spec.help}).",
                )
            elif spec not in COMMON_OPTIONS:  # those are in the values only when given
                values[spec.name] = spec.default
        dos = [c.name for c in COMMON_OPTIONS if values.get(c.name) not in (None, False)]
        if self.balance_frontend and dos:
            # its tor publishes no service of its own: the master descriptor lists the
            # backends' introduction points, which only the backends' tors can defend
            raise OptionError(
                f"Option '{dos[0]}' does not apply to an Onionbalance frontend: clients reach "
                "the backends' introduction points, so the DoS defences belong on the backends.",
                hint=f"Give -o {dos[0]}=… to `myonion balance share`, which sets it on every "
                "backend.")
        rate, burst = values.get("intro_dos_rate"), values.get("intro_dos_burst")
        if burst is not None and (rate is None or burst < rate):
            raise OptionError("Option 'intro_dos_burst' must be at least 'intro_dos_rate' "
                              "(and needs it).", hint="For example -o intro_dos_rate=25 "
                              "-o intro_dos_burst=200.")
        return values

    def _check_one_of(self, group: tuple[str, ...], present: set[str]) -> None:
        names = " or ".join(f"'{n}'" for n in group)
        chosen = [n for n in group if n in present]
        if not chosen:
            raise OptionError(
                f"Template '{self.id}' needs one of the options {names}.",
                hint="Give exactly one of them: "
                + " or ".join(f"-o {n}={self._placeholder(n)}" for n in group)
                + f" (see `myonion templates show {self.id}`).")
        if len(chosen) > 1:
            raise OptionError(
                f"Options {' and '.join(repr(n) for n in chosen)} of template '{self.id}' "
                "cannot be given together.", hint=f"Give only one of {names}.")

    def _placeholder(self, name: str) -> str:
        kind = self.option(name)
        return {"file": "PATH", "dir": "FOLDER", "text": "TEXT"}.get(kind.type if kind else "",
                                                                     "VALUE")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "builtin": self.builtin,
            "ports": [{"virtual": p.virtual, "target": p.target,
                       **({"when": p.when} if p.when else {})} for p in self.ports],
            "one_of": [list(group) for group in self.one_of],
            "probes": [{"kind": p.kind, "port": p.port, "what": p.what,
                        **({"when": p.when} if p.when else {})} for p in self.probes],
            "publish": [{"option": p.option, "target": p.target,
                         "address_option": p.address_option} for p in self.publish],
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
