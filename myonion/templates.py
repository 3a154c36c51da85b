"""Templates: a folder with ``template.yaml``, ``Dockerfile.j2``, ``torrc.j2`` and files.

The registry globs ``*/template.yaml`` in the built-in directory and the user's templates
directory, so adding a template is adding a folder. Options given by the user are validated and
coerced against the manifest here, before anything is built.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from myonion import paths
from myonion.errors import OptionError, TemplateError

OPTION_TYPES = ("string", "text", "int", "bool", "choice", "dir", "file")
ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
OPTION_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: a runtime file or volume name: one plain name (no "/" or "..": it cannot leave its folder)
FILE_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
ABS_PATH_RE = re.compile(r"/[A-Za-z0-9._/-]{0,200}")
CAP_RE = re.compile(r"[A-Z_]{2,40}")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
#: what status and listings show instead of a secret option's value
HIDDEN = "(hidden)"
#: the largest file a ``file`` option with a ``format`` is read from, in bytes
MAX_CHECKED_FILE = 1024 * 1024
#: the OpenSSH public key types the ``openssh_public_keys`` format accepts
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                 "sk-ecdsa-sha2-nistp256@openssh.com")
SSH_KEY_HINT = ("Give one key a line as in a .pub file, e.g. 'ssh-ed25519 AAAA… me@laptop' "
                "(types: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-…); blank lines and "
                "# comments are fine; key options such as command= or from= are not allowed.")
SSH_KEY_BLOB = re.compile(r"AAAA[A-Za-z0-9+/]{16,8192}={0,3}")
PRINTABLE = re.compile(r"[ -~\t]*")
#: a whole number as the CLI or a file may give it (ASCII digits only, no "1_000")
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,30}")
#: how much of a refused value an error message quotes (of a path: all but absurd ones)
SHOWN = 60
PATH_SHOWN = 1000


def shown(value: Any, limit: int = SHOWN) -> str:
    """A value as an error message quotes it: control characters escaped, cut to ``limit``."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def whole_number(raw: Any) -> int | None:
    """``raw`` as an int if it is one (an int, an integral float, or decimal digits), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str) and WHOLE_NUMBER.fullmatch(raw.strip()):
        return int(raw.strip())
    return None


def check_openssh_public_keys(where: str, text: str) -> None:
    """Raise OptionError unless ``text`` is OpenSSH public keys, one a line (an
    ``authorized_keys`` without key options), with comments and blank lines; names the bad line.
    """
    keys = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip(" \t")
        bad = f"{where}, line {number}"
        if not PRINTABLE.fullmatch(line):
            raise OptionError(f"{bad} holds a control character or non-ASCII text.",
                              hint=SSH_KEY_HINT)
        if not line or line.startswith("#"):
            continue
        if "PRIVATE KEY" in line:
            raise OptionError(f"{bad} is a private key: never give it away.",
                              hint="Give the public key instead (the file ending in .pub).")
        kind, _, rest = line.replace("\t", " ").partition(" ")
        blob, _, comment = rest.strip().partition(" ")
        if kind not in SSH_KEY_TYPES:
            raise OptionError(f"{bad} is not an OpenSSH public key: it must start with a key "
                              "type such as ssh-ed25519 (key options are not allowed).",
                              hint=SSH_KEY_HINT)
        if not SSH_KEY_BLOB.fullmatch(blob) or _ssh_blob_type(blob) != kind:
            raise OptionError(f"{bad}: the key data after '{kind}' is not a valid {kind} key "
                              "(was it cut off or changed when copied?).", hint=SSH_KEY_HINT)
        if len(comment) > 300:
            raise OptionError(f"{bad}: the comment after the key is longer than 300 characters.",
                              hint=SSH_KEY_HINT)
        keys += 1
    if not keys:
        raise OptionError(f"{where} holds no public key.", hint=SSH_KEY_HINT)


def _ssh_blob_type(blob: str) -> str | None:
    """The key type named inside an OpenSSH public key's base64 data, or None unless the data
    is a whole sequence of length-prefixed fields (so a key cut off when copied is caught)."""
    try:
        data = base64.b64decode(blob, validate=True)
    except binascii.Error:
        return None
    fields: list[bytes] = []
    while data:
        if len(data) < 4:
            return None
        (size,) = struct.unpack(">I", data[:4])
        if size > len(data) - 4:
            return None
        fields.append(data[4:4 + size])
        data = data[4 + size:]
    if len(fields) < 2:
        return None
    try:
        return fields[0].decode("ascii")
    except UnicodeDecodeError:
        return None


def check_ip_address(where: str, text: str) -> None:
    """Raise OptionError unless ``text`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise OptionError(f"{where} must be an IP address, not '{shown(text)}'.",
                          hint="For example 127.0.0.1 (this machine only), an address of this "
                          "machine on the LAN such as 192.168.1.20, or 0.0.0.0 (every "
                          "interface).") from None


#: named checks of an option's value (of a ``file`` option: of the file's content);
#: each gets a description of where the value came from and the text
FORMATS: dict[str, Callable[[str, str], None]] = {
    "openssh_public_keys": check_openssh_public_keys,
    "ip_address": check_ip_address,
}


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
        if self.type == "file" and not path.is_file():
            raise OptionError(f"Option '{self.name}': {text} is not a regular file.")
        return str(path)


#: tor's largest value of HiddenServiceEnableIntroDoS{Rate,Burst}PerSec
INTRO_DOS_MAX = 0x7FFFFFFF
#: tor's largest HiddenServiceMaxStreams (0, tor's "unlimited", is not offered)
MAX_STREAMS_MAX = 65535
#: the pids limits a container may have (a service's ``limits`` or a manifest's ``pids_limit``)
MIN_PIDS, MAX_PIDS = 16, 32768
#: streams one circuit may hold open at once, for a template whose manifest names no
#: ``max_streams``: more than a browser opens to one site (6) with room for several tabs
DEFAULT_MAX_STREAMS = 32
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
    OptionSpec("max_streams", "int", min=1, max=MAX_STREAMS_MAX,
               help="the most connections one visitor's circuit may hold open at once "
               "(HiddenServiceMaxStreams); a circuit that opens more is closed "
               "(default: the template's max_streams, see `myonion templates show`)"),
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
    builtin: bool = True
    #: groups of options of which exactly one must be given (e.g. keys as text or as a file)
    one_of: tuple[tuple[str, ...], ...] = ()
    #: container ports published on the host when the user asks (by an option)
    publish: tuple[PublishSpec, ...] = ()
    #: the shared layer the image builds on: "tor" (the tor layer, as ``tor_image`` in the
    #: Dockerfile) or "python" (tor + Debian's python3, as ``python_image``)
    layer: str = "tor"
    #: tor's HiddenServiceMaxStreams unless the service's ``max_streams`` option says otherwise
    max_streams: int = DEFAULT_MAX_STREAMS
    #: the container's pids limit unless the service gives its own (None: myonion's default)
    pids_limit: int | None = None

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
            "max_streams": self.max_streams,
            "description": self.description,
            "builtin": self.builtin,
            "ports": [{"virtual": p.virtual, "target": p.target,
                       **({"when": p.when} if p.when else {})} for p in self.ports],
            "one_of": [list(group) for group in self.one_of],
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


def _fail(path: Path, what: str) -> TemplateError:
    return TemplateError(f"The template manifest {path} is invalid: {what}.", hint=None)


def _list(path: Path, raw: dict[str, Any], key: str, what: str = "a list") -> list[Any]:
    """``raw[key]`` if it is a list (missing or null: empty), else the manifest is invalid."""
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, f"'{key}' must be {what}")
    return value


def _option(path: Path, raw: Any) -> OptionSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or (
            not OPTION_NAME_RE.match(raw["name"])):
        raise _fail(path, "every option needs a 'name' (lower-case letters, digits and _)")
    kind = raw.get("type", "string")
    name = raw["name"]
    if not isinstance(kind, str) or kind not in OPTION_TYPES:
        raise _fail(path, f"option '{name}' has unknown type '{shown(kind)}'")
    choices = _list(path, raw, "choices")
    if kind == "choice" and not choices:
        raise _fail(path, f"choice option '{name}' needs 'choices'")
    if any(isinstance(c, dict | list) for c in choices):
        raise _fail(path, f"the choices of option '{name}' must be plain values")
    for bound in ("min", "max"):
        if raw.get(bound) is not None and whole_number(raw[bound]) is None:
            raise _fail(path, f"'{bound}' of option '{name}' must be a whole number")
    for key in ("pattern", "format", "help"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _fail(path, f"'{key}' of option '{name}' must be text")
    if raw.get("pattern") is not None:
        try:
            re.compile(raw["pattern"])
        except re.error as e:
            raise _fail(path, f"the pattern of option '{name}' is no regular expression "
                        f"({e})") from None
    if raw.get("format") is not None and raw["format"] not in FORMATS:
        raise _fail(path, f"option '{name}' has unknown format '{raw['format']}'")
    spec = _option_spec(raw, kind, choices)
    if spec.default is not None and kind not in ("dir", "file"):
        try:
            spec.coerce(spec.default)
        except OptionError as e:
            raise _fail(path, f"the default of option '{name}' is not valid: {e.message}") from None
    return spec


def _option_spec(raw: dict[str, Any], kind: str, choices: list[Any]) -> OptionSpec:
    return OptionSpec(
        name=str(raw["name"]),
        type=kind,
        required=bool(raw.get("required", False)),
        default=raw.get("default"),
        help=str(raw.get("help", "")),
        choices=tuple(str(c) for c in choices),
        min=None if raw.get("min") is None else whole_number(raw["min"]),
        max=None if raw.get("max") is None else whole_number(raw["max"]),
        pattern=raw.get("pattern"),
        example=raw.get("example"),
        secret=bool(raw.get("secret", False)),
        format=raw.get("format"),
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
    ports, mounts, volumes, publish, one_of = _structure(manifest, raw)
    if not ports:
        raise _fail(manifest, "it declares no onion port")
    options = tuple(_option(manifest, o) for o in _list(manifest, raw, "options"))
    if len({o.name for o in options}) != len(options):
        raise _fail(manifest, "two options have the same name")
    if any(o.name == c.name for o in options for c in COMMON_OPTIONS):
        raise _fail(manifest, "an option is named like one every template has ("
                    + ", ".join(c.name for c in COMMON_OPTIONS) + ")")
    tmpfs = raw.get("tmpfs", ["/tmp"])
    runtime_files = _list(manifest, raw, "runtime_files")
    cap_add = _list(manifest, raw, "cap_add")
    healthcheck = raw.get("healthcheck") or {}
    if not isinstance(tmpfs, list) or not all(isinstance(t, str) and ABS_PATH_RE.fullmatch(t)
                                              for t in tmpfs):
        raise _fail(manifest, "'tmpfs' must be a list of absolute paths")
    if not all(isinstance(n, str) and FILE_NAME_RE.fullmatch(n) for n in runtime_files):
        raise _fail(manifest, "'runtime_files' must be file names beside the manifest")
    if not all(isinstance(c, str) and CAP_RE.fullmatch(c) for c in cap_add):
        raise _fail(manifest, "'cap_add' must be capability names such as NET_BIND_SERVICE")
    layer = raw.get("layer", "tor")
    if layer not in LAYERS:
        raise _fail(manifest, f"'layer' must be one of {', '.join(LAYERS)}")
    max_streams = whole_number(raw.get("max_streams", DEFAULT_MAX_STREAMS))
    if max_streams is None or not 1 <= max_streams <= MAX_STREAMS_MAX:
        raise _fail(manifest, f"'max_streams' must be a whole number from 1 to {MAX_STREAMS_MAX}")
    pids_limit = None if raw.get("pids_limit") is None else whole_number(raw["pids_limit"])
    if raw.get("pids_limit") is not None and (
            pids_limit is None or not MIN_PIDS <= pids_limit <= MAX_PIDS):
        raise _fail(manifest, f"'pids_limit' must be a whole number from {MIN_PIDS} to {MAX_PIDS}")
    if not isinstance(healthcheck, dict) or (healthcheck and not isinstance(
            healthcheck.get("test"), list)):
        raise _fail(manifest, "'healthcheck' must be a mapping with a 'test' list")
    _check_rules(manifest, options, ports, publish, one_of)
    for m in mounts:
        if not any(o.name == m.option and o.type in ("dir", "file") for o in options):
            raise _fail(manifest, f"mount '{m.target}' names no dir/file option '{m.option}'")
    for name in runtime_files:
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
        tmpfs=tuple(tmpfs),
        runtime_files=tuple(runtime_files),
        healthcheck=dict(healthcheck),
        cap_add=tuple(cap_add),
        tor_client=bool(raw.get("tor_client", False)),
        balance_frontend=bool(raw.get("balance_frontend", False)),
        builtin=builtin,
        one_of=one_of,
        publish=publish,
        layer=layer,
        max_streams=max_streams,
        pids_limit=pids_limit,
    )


Structure = tuple[tuple[PortSpec, ...], tuple[MountSpec, ...], tuple[VolumeSpec, ...],
                  tuple[PublishSpec, ...], tuple[tuple[str, ...], ...]]


def _structure(manifest: Path, raw: dict[str, Any]) -> Structure:
    """The manifest's ports, mounts, volumes, publish and one_of, each checked for its shape."""
    def mappings(key: str) -> list[dict[str, Any]]:
        items = _list(manifest, raw, key)
        if not all(isinstance(item, dict) for item in items):
            raise _fail(manifest, f"every entry of '{key}' must be a mapping")
        return items

    def text(item: dict[str, Any], key: str, default: str | None = None) -> str:
        value = item.get(key, default)
        if not isinstance(value, str) or not value:
            raise _fail(manifest, f"'{key}' must be text in every entry")
        return value

    def port(item: dict[str, Any], key: str) -> int:
        value = whole_number(item.get(key))
        if value is None or not 1 <= value <= 65535:
            raise _fail(manifest, f"'{key}' must be a port number (1-65535) in every entry")
        return value

    def optional(item: dict[str, Any], key: str) -> str | None:
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise _fail(manifest, f"'{key}' must be an option name")
        return value

    if not isinstance(raw.get("ports"), list):
        raise _fail(manifest, "'ports' must be a list")
    ports = tuple(PortSpec(port(p, "virtual"), port(p, "target"), text(p, "protocol", "http"),
                           optional(p, "when")) for p in mappings("ports"))
    if any(p.protocol not in ("http", "tcp") for p in ports):
        raise _fail(manifest, "an onion port's protocol must be http or tcp")
    mounts = tuple(MountSpec(text(m, "option"), text(m, "target")) for m in mappings("mounts"))
    volumes = tuple(VolumeSpec(text(v, "name"), text(v, "target")) for v in mappings("volumes"))
    targets = [m.target for m in mounts] + [v.target for v in volumes]
    if not all(ABS_PATH_RE.fullmatch(t) for t in targets):
        raise _fail(manifest, "mount and volume targets must be absolute paths")
    if not all(FILE_NAME_RE.fullmatch(v.name) for v in volumes):
        raise _fail(manifest, "volume names must be letters, digits, '.', '_' and '-'")
    publish = tuple(PublishSpec(text(p, "option"), port(p, "target"), optional(p, "address_option"),
                                text(p, "protocol", "tcp")) for p in mappings("publish"))
    groups = _list(manifest, raw, "one_of")
    if not all(isinstance(g, list) and all(isinstance(n, str) for n in g) for g in groups):
        raise _fail(manifest, "'one_of' must be a list of lists of option names")
    return ports, mounts, volumes, publish, tuple(tuple(g) for g in groups)


def _check_rules(manifest: Path, options: tuple[OptionSpec, ...], ports: tuple[PortSpec, ...],
                 publish: tuple[PublishSpec, ...], one_of: tuple[tuple[str, ...], ...]) -> None:
    """The manifest's cross-option rules name options of the right types."""
    types = {o.name: o.type for o in options}
    for o in options:
        if o.format is not None and o.format not in FORMATS:
            raise _fail(manifest, f"option '{o.name}' has unknown format '{o.format}'")
    if ports[0].when is not None:
        raise _fail(manifest, "the first onion port cannot depend on an option (readiness "
                    "and check use it)")
    for p in ports:
        if p.when is not None and types.get(p.when) != "bool":
            raise _fail(manifest, f"onion port {p.virtual} depends on '{p.when}', which is no "
                        "bool option")
    for pub in publish:
        if types.get(pub.option) != "int":
            raise _fail(manifest, f"publish names '{pub.option}', which is no int option")
        if pub.address_option is not None and types.get(pub.address_option) != "string":
            raise _fail(manifest, f"publish names address option '{pub.address_option}', "
                        "which is no string option")
        if pub.protocol not in ("tcp", "udp"):
            raise _fail(manifest, f"publish protocol '{pub.protocol}' is not tcp or udp")
    for group in one_of:
        if len(group) < 2:
            raise _fail(manifest, "each one_of group needs two options or more")
        for name in group:
            if name not in types:
                raise _fail(manifest, f"one_of names no option '{name}'")
            if any(o.required for o in options if o.name == name):
                raise _fail(manifest, f"option '{name}' is in a one_of group, so it cannot "
                            "be required")


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
