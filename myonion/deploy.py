"""Deployments: the services of one file (``myonion.yaml``) brought up, listed and taken down
together, and exported as a Compose file or a systemd unit.

The file is described in docs/deployments.md. :func:`load` checks all of it before anything
happens and names the file, line and field of every mistake (:class:`DeploymentError`), so a bad
file changes nothing. Services carry the deployment's name (their record's ``deployment`` and the
``org.myonion.deployment`` label), which is how ``ps`` and ``down`` find them.

``up`` is idempotent: a service whose template, options, mode, clients, network, limits, image
and rendered configuration are what the file asks for is left alone; a changed one gets a new
container through :meth:`Manager.reconfigure` (volumes kept, so a persistent one keeps its
address). Option values may name another service's address as ``${NAME.address}`` (that service
must be persistent); such services come up after the ones they name.

Nothing here imports docker or Qt; everything goes through the :class:`Manager`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from myonion import access, config, hardening, images, keys, safeyaml, stack, tor
from myonion.access import ClientStore
from myonion.balance import FRONTEND_TEMPLATE, MAX_BACKENDS, backend_name, serves_web_page
from myonion.errors import MyOnionError, OptionError
from myonion.manager import (
    Manager,
    ServiceView,
    check_host_ports,
    check_limits,
    container_name,
    service_user,
)
from myonion.runtime.base import (
    LABEL,
    ContainerSpec,
)
from myonion.state import NAME_RE, ServiceRecord
from myonion.templates import TemplateRegistry, TemplateSpec

log = logging.getLogger(__name__)

FILE_VERSION = 1
DEFAULT_FILE = "myonion.yaml"
TOP_KEYS = ("version", "name", "services")
SERVICE_KEYS = ("template", "options", "persistent", "clients", "ttl", "network", "limits",
                "balance")
BALANCE_KEYS = ("backends", "remote", "master")
REFERENCE_RE = re.compile(r"\$\{([^}]*)\}")
REFERENCE_NAME_RE = re.compile(r"([a-z0-9][a-z0-9-]{0,39})\.address")
#: stands in for an address named by ``${NAME.address}`` while the file is checked
PLACEHOLDER_ADDRESS = "a" * 55 + "d.onion"
#: where an exported Compose file's services get their rendered configuration (beside it)
EXPORT_DIR = "myonion"
LABEL_EXPORT = f"{LABEL}.export"
CTL_TARGET = "/run/myonion/ctl"


# --- the file -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One mistake in a deployment file: where it is and what is wrong."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else \
            f"{where}: {self.message}"


class DeploymentError(OptionError):
    """A deployment file with mistakes; ``problems`` holds each, in file order."""

    hint = "Fix the lines named above and run the command again; nothing was changed."

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class ServiceSpec:
    """One service of a deployment, as the file asks for it (checked)."""

    name: str
    template: str
    #: the options as given (paths made absolute; ``${NAME.address}`` references kept)
    given: dict[str, Any]
    persistent: bool = False
    clients: tuple[str, ...] = ()
    ttl: float | None = None
    network: str = "local"
    limits: dict[str, Any] = field(default_factory=dict)
    line: int = 0
    #: the services whose addresses the options name
    needs: tuple[str, ...] = ()
    #: ``balance: {backends: N}``: N backends and an Onionbalance frontend (0: not balanced)
    backends: int = 0
    #: a backend of a balanced service: the service's (its frontend's) name
    balance_of: str | None = None
    #: ``balance: {remote: [...]}``: backends elsewhere (their addresses) the frontend lists
    remote: tuple[str, ...] = ()
    #: ``balance: {master: ADDRESS}``: this service is a backend of a frontend elsewhere
    master: str | None = None
    #: the Onionbalance frontend of a balanced service (it has the service's name)
    frontend: bool = False

    def options(self, addresses: dict[str, str | None]) -> dict[str, Any]:
        """The given options with each ``${NAME.address}`` replaced from ``addresses``."""

        def fill(match: re.Match[str]) -> str:
            name = REFERENCE_NAME_RE.fullmatch(match.group(1))
            assert name is not None  # checked by load()
            address = addresses.get(name.group(1))
            if not address:
                raise MyOnionError(f"Service '{self.name}' needs the address of "
                                   f"'{name.group(1)}', which has none yet.")
            return address

        return {k: REFERENCE_RE.sub(fill, v) if isinstance(v, str) else v
                for k, v in self.given.items()}


@dataclass(frozen=True)
class Deployment:
    """A checked deployment file."""

    name: str
    path: Path  # absolute
    services: tuple[ServiceSpec, ...]

    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def expanded(self) -> list[ServiceSpec]:
        """The services that run: a balanced service NAME is its backends NAME-b1 … NAME-bN
        (the file's template and options, each a backend of NAME) and its frontend NAME
        (template onionbalance, listing the backends' addresses); the rest as they are."""
        result: list[ServiceSpec] = []
        for spec in self.services:
            if not spec.backends and not spec.remote:
                result.append(spec)
                continue
            names = [backend_name(spec.name, i) for i in range(1, spec.backends + 1)]
            result += [dataclasses.replace(spec, name=n, backends=0, remote=(),
                                           balance_of=spec.name) for n in names]
            instances = [f"${{{n}.address}}" for n in names] + list(spec.remote)
            result.append(ServiceSpec(
                name=spec.name, template=FRONTEND_TEMPLATE,
                given={"instances": " ".join(instances)},
                persistent=True, network=spec.network, line=spec.line, needs=tuple(names),
                frontend=True))
        return result

    def ordered(self) -> list[ServiceSpec]:
        """The services that run (:meth:`expanded`), each after the ones whose addresses it
        names (else in file order)."""
        done: list[ServiceSpec] = []
        pending = self.expanded()
        while pending:
            ready = next(s for s in pending
                         if all(n in {d.name for d in done} for n in s.needs))
            done.append(ready)
            pending.remove(ready)
        return done


def _parse(text: str, file: str) -> tuple[Any, dict[str, int], list[Problem]]:
    """YAML → plain data, the line of every field ("services.blog.options.dir" → 7), and the
    problems found on the way (duplicate keys, which PyYAML would silently merge). Read with
    :class:`safeyaml.BoundedLoader`: anchors, aliases, deep nesting and too many values are
    refused before anything is built."""
    try:
        loader = safeyaml.BoundedLoader(text)
    except yaml.YAMLError as e:  # a character YAML does not allow (control characters)
        return None, {}, [Problem(file, 0, "", f"this is not valid YAML: {e}")]
    try:
        node = loader.get_single_node()
    except safeyaml.Refused as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 0
        return None, {}, [Problem(file, line, "", str(e.problem))]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        message = f"this is not valid YAML: {e.problem}"
        if e.context and e.context_mark and e.context_mark.line + 1 != line:
            # found far from its cause (an unclosed quote at the end of the file): name both
            message += f" ({e.context} from line {e.context_mark.line + 1})"
        return None, {}, [Problem(file, line, "", message)]
    except yaml.YAMLError as e:
        return None, {}, [Problem(file, 0, "", f"this is not valid YAML: {e}")]
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    problems: list[Problem] = []

    def walk(node: yaml.Node, path: str) -> Any:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if isinstance(key, list | dict):  # "? [a, b]": YAML allows it, we do not
                    problems.append(Problem(file, key_node.start_mark.line + 1, path,
                                            "has a key that is a list or a mapping"))
                    continue
                sub = f"{path}.{key}" if path else str(key)
                if key in result:
                    problems.append(Problem(file, key_node.start_mark.line + 1, sub,
                                            "is given twice"))
                lines[sub] = key_node.start_mark.line + 1
                result[key] = walk(value_node, sub)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [walk(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    if node is None:
        return None, {}, []
    try:
        return walk(node, ""), lines, problems
    except yaml.YAMLError as e:
        return None, lines, [Problem(file, 0, "", f"this is not valid YAML: {e}")]


def default_name(path: Path) -> str:
    """The deployment name when the file gives none: its folder's name, made a valid name."""
    text = re.sub(r"[^a-z0-9-]+", "-", path.resolve().parent.name.lower()).strip("-")
    return text[:40] or "deployment"


class _Checker:
    """Collects the problems of one file while its services are checked."""

    def __init__(self, file: str, lines: dict[str, int], base: Path) -> None:
        self.file, self.lines, self.base = file, lines, base
        self.problems: list[Problem] = []

    def line(self, path: str) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return 0

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.line(path), path, message))

    def mapping(self, value: Any, path: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, "must be a mapping (key: value lines)")
            return None
        for key in value:
            if key not in keys:
                self.add(f"{path}.{key}" if path else str(key),
                         f"is not a field here (fields: {', '.join(keys)})")
        return value

    def service(self, name: Any, raw: Any, registry: TemplateRegistry) -> ServiceSpec | None:
        path = f"services.{name}"
        before = len(self.problems)
        if not isinstance(name, str) or not NAME_RE.match(name):
            self.add(path, f"'{name}' is not a valid service name: use 1-40 lower-case letters, "
                     "digits and '-', starting with a letter or digit")
        data = self.mapping(raw, path, SERVICE_KEYS)
        if data is None:
            return None
        template = self._template(data.get("template"), f"{path}.template", registry)
        persistent = data.get("persistent", False)
        if not isinstance(persistent, bool):
            self.add(f"{path}.persistent", f"must be true or false, not '{persistent}'")
        clients = self._clients(data.get("clients"), f"{path}.clients")
        ttl = self._checked(f"{path}.ttl", lambda: None if data.get("ttl") is None
                            else access.parse_duration(str(data["ttl"])))
        network = self._checked(f"{path}.network",
                                lambda: config.resolve_network(data.get("network")))
        limits = self._limits(data.get("limits"), f"{path}.limits")
        given, needs = ({}, ()) if template is None else self._options(
            template, data.get("options"), f"{path}.options", path)
        backends: int = 0
        remote: tuple[str, ...] = ()
        master: str | None = None
        if "balance" in data:
            backends, remote, master = self._balance(name, data, template, f"{path}.balance")
            persistent = True  # the master address is kept (the frontend's key)
        if len(self.problems) > before or template is None:
            return None
        return ServiceSpec(name=str(name), template=template.id, given=given,
                           persistent=bool(persistent), clients=tuple(clients), ttl=ttl,
                           network=network, limits=limits, line=self.line(path),
                           needs=tuple(needs), backends=backends, remote=remote,
                           master=master)

    def _balance(self, name: Any, data: dict[str, Any], template: TemplateSpec | None,
                 path: str) -> tuple[int, tuple[str, ...], str | None]:
        """``balance:`` — (backends here, backends elsewhere, the master address of a
        frontend elsewhere), after checking they fit the rest of the service."""
        nothing: tuple[int, tuple[str, ...], str | None] = (0, (), None)
        value = self.mapping(data["balance"], path, BALANCE_KEYS)
        if value is None:
            return nothing
        service = path.rpartition(".")[0]
        self._balanced_service(data, template, service)
        if "master" in value:
            master = value["master"]
            for other in ("backends", "remote"):
                if other in value:
                    self.add(f"{path}.{other}", "cannot be combined with master (a backend of "
                             "a frontend elsewhere): give one or the other")
            if not isinstance(master, str) or not tor.is_valid_onion(master.strip().lower()):
                self.add(f"{path}.master", f"'{master}' is not a v3 onion address: give the "
                         "master address (the frontend's, 56 characters and .onion)")
                return nothing
            return 0, (), master.strip().lower()
        remote = self._remote(value.get("remote"), f"{path}.remote")
        count = value.get("backends", 0 if remote else None)
        if isinstance(count, bool) or not isinstance(count, int) or \
                not (0 if remote else 1) <= count <= MAX_BACKENDS:
            self.add(f"{path}.backends", f"must be a number of backends from 1 to "
                     f"{MAX_BACKENDS}, not '{count}'" if "backends" in value else
                     f"is missing: give the number of backends (1 to {MAX_BACKENDS})")
            return nothing
        if count + len(remote) > MAX_BACKENDS:
            self.add(path, f"has {count + len(remote)} backends (here and remote): "
                     f"Onionbalance takes at most {MAX_BACKENDS}")
            return nothing
        last = backend_name(str(name), count)
        if count and isinstance(name, str) and NAME_RE.match(name) and \
                not NAME_RE.match(last):
            self.add(service, f"is too long a name for balanced backends (the last would be "
                     f"'{last}', over 40 characters): shorten it")
        return count, remote, None

    def _remote(self, value: Any, path: str) -> tuple[str, ...]:
        """The addresses of backends on other machines."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.add(path, "must be a list of the onion addresses of backends elsewhere")
            return ()
        found: list[str] = []
        for i, item in enumerate(value):
            address = str(item).strip().lower()
            if not tor.is_valid_onion(address):
                self.add(f"{path}[{i}]", f"'{item}' is not a v3 onion address (56 characters "
                         "and .onion)")
            elif address in found:
                self.add(f"{path}[{i}]", f"{address} is named twice")
            else:
                found.append(address)
        return tuple(found)

    def _balanced_service(self, data: dict[str, Any], template: TemplateSpec | None,
                          service: str) -> None:
        """What every balanced service (frontend and backends, or a backend) must be."""
        if data.get("persistent") is False:
            self.add(f"{service}.persistent", "cannot be false for a balanced service: its "
                     "address (the frontend's key) is kept; leave persistent out")
        for field_name in ("clients", "ttl"):
            if data.get(field_name) is not None:
                self.add(f"{service}.{field_name}", f"cannot be combined with balance "
                         f"(Onionbalance publishes one public address): remove {field_name} "
                         "or balance")
        if template is not None:
            if template.balance_frontend:
                self.add(f"{service}.template", "is a frontend itself: give the template "
                         "of the backends, e.g. site")
            elif not serves_web_page(template):
                self.add(f"{service}.template", f"'{template.id}' does not serve a web page "
                         "on port 80, which the frontend checks the master address with: "
                         "balance a web template such as site")

    def _checked(self, path: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except MyOnionError as e:
            self.add(path, _sentence(e))
            return None

    def _template(self, value: Any, path: str, registry: TemplateRegistry) -> TemplateSpec | None:
        if value is None:
            self.add(path.rpartition(".")[0], f"needs a template (one of: "
                     f"{', '.join(registry.ids())})")
            return None
        spec: TemplateSpec | None = self._checked(path, lambda: registry.get(str(value)))
        return spec

    def _clients(self, value: Any, path: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, "must be a list of client names, e.g. [alice, bob]")
            return []
        names: list[str] = []
        for i, item in enumerate(value):
            name = self._checked(f"{path}[{i}]", partial(keys.check_client_name, str(item)))
            if name is not None and name in names:
                self.add(f"{path}[{i}]", f"client '{name}' is named twice")
            elif name is not None:
                names.append(name)
        return names

    def _limits(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        data = self.mapping(value, path, ("memory", "pids"))
        result: dict[str, Any] = {}
        for key, item in (data or {}).items():
            if key in ("memory", "pids"):
                checked = self._checked(f"{path}.{key}", partial(check_limits, {key: item}))
                result.update(checked or {})
        return result

    def _options(self, template: TemplateSpec, value: Any, path: str,
                 service_path: str) -> tuple[dict[str, Any], list[str]]:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.add(path, "must be a mapping of the template's options")
            return {}, []
        given: dict[str, Any] = {}
        needs: list[str] = []
        before = len(self.problems)
        for key, item in value.items():
            where = f"{path}.{key}"
            spec = template.option(str(key))
            if spec is None:
                self.add(where, f"template '{template.id}' has no option '{key}' (its options: "
                         f"{', '.join(o.name for o in template.options) or 'none'})")
                continue
            if spec.type in ("dir", "file") and isinstance(item, str) and item:
                try:
                    path_value = Path(item).expanduser()
                except (RuntimeError, ValueError):  # ~nobody-here, a NUL after ~
                    path_value = Path(item)
                absolute = path_value if path_value.is_absolute() else self.base / path_value
                try:
                    found = absolute.exists()
                except (OSError, ValueError):  # a name too long, a NUL in it
                    found = False
                if not found:
                    kind = "folder" if spec.type == "dir" else "file"
                    self.add(where, f"{item} does not exist"
                             + (f" (that is {absolute})" if str(absolute) != item else "")
                             + f". Give an existing {kind}; a relative path is relative to "
                             "this file's folder.")
                    continue
                item = str(absolute)
            if isinstance(item, str):
                for ref in REFERENCE_RE.findall(item):
                    match = REFERENCE_NAME_RE.fullmatch(ref)
                    if match is None:
                        self.add(where, f"'${{{ref}}}' is no reference myonion knows: write "
                                 "${NAME.address} for the address of service NAME")
                    else:
                        needs.append(match.group(1))
            given[str(key)] = item
            if item not in (None, ""):
                placeholder = (REFERENCE_RE.sub(PLACEHOLDER_ADDRESS, item)
                               if isinstance(item, str) else item)
                if placeholder != item:
                    note = (" (checked with a stand-in address, 'aaa…ad.onion', for each "
                            "${NAME.address})")
                    self._checked(where, partial(_noted, partial(spec.coerce, placeholder),
                                                 note))
                else:
                    self._checked(where, partial(spec.coerce, placeholder))
        if len(self.problems) == before:
            filled = {k: REFERENCE_RE.sub(PLACEHOLDER_ADDRESS, v) if isinstance(v, str) else v
                      for k, v in given.items()}
            self._checked(path if value else service_path, lambda: template.validate(filled))
        return given, needs


def _noted(fn: Callable[[], Any], note: str) -> Any:
    """``fn()``, with ``note`` added to the message of an OptionError it raises."""
    try:
        return fn()
    except OptionError as e:
        e.message = e.message.rstrip(".") + note + "."
        raise


def _sentence(error: MyOnionError) -> str:
    """An error's message for ``file:line: field: ...``: the option's name (the field names
    it already) left out, and its hint after it when it says what to give."""
    message = re.sub(r"^Option '[^']*'(: | )", "", error.message)
    hint = error.hint if error.hint and error.hint != type(error).hint else None
    if isinstance(error, OptionError) and error.hint and not hint:
        hint = error.hint
    return f"{message} {hint}" if hint else message


def load(path: str | Path, registry: TemplateRegistry | None = None) -> Deployment:
    """Read and check a deployment file; raises :class:`DeploymentError` naming every
    mistake's file, line and field. Relative paths in options are relative to the file."""
    registry = registry or TemplateRegistry()
    file = str(path)
    absolute = Path(path).expanduser().resolve()
    try:
        text = safeyaml.read(absolute, file)
    except OSError as e:
        raise DeploymentError([Problem(file, 0, "", f"cannot be read ({e.strerror})")]) from None
    except safeyaml.RefusedFile as e:
        raise DeploymentError([Problem(file, e.line, "", e.reason)]) from None
    data, lines, problems = _parse(text, file)
    checker = _Checker(file, lines, absolute.parent)
    checker.problems.extend(problems)
    if problems and data is None:
        raise DeploymentError(checker.problems)
    top = checker.mapping(data, "", TOP_KEYS) if data is not None else None
    if top is None:
        if data is None:
            checker.add("", "is empty: it needs 'version: 1' and 'services:'")
        raise DeploymentError(checker.problems)
    if top.get("version") != FILE_VERSION:
        checker.add("version", f"must be {FILE_VERSION}"
                    + (", and is missing" if "version" not in top else
                       f", not '{top['version']}'"))
    name = top.get("name", default_name(absolute))
    if not isinstance(name, str) or not NAME_RE.match(name):
        checker.add("name", f"'{name}' is not a valid deployment name: use 1-40 lower-case "
                    "letters, digits and '-'")
    services: list[ServiceSpec] = []
    raw_services = top.get("services")
    if not isinstance(raw_services, dict) or not raw_services:
        checker.add("services", "needs at least one service (services: NAME: template: …)")
    else:
        for service_name, raw in raw_services.items():
            spec = checker.service(service_name, raw, registry)
            if spec is not None:
                services.append(spec)
    _check_backend_names(checker, services)
    _check_references(checker, services)
    if checker.problems:
        raise DeploymentError(checker.problems)
    return Deployment(name=str(name), path=absolute, services=tuple(services))


def _check_backend_names(checker: _Checker, services: list[ServiceSpec]) -> None:
    """A balanced service's backends (NAME-b1 …) must not be named like another service."""
    names = {s.name for s in services}
    for spec in services:
        for i in range(1, spec.backends + 1):
            if backend_name(spec.name, i) in names:
                checker.add(f"services.{spec.name}.balance", f"its backend "
                            f"'{backend_name(spec.name, i)}' has the name of another service "
                            "of this file: rename one of them")


def _check_references(checker: _Checker, services: list[ServiceSpec]) -> None:
    by_name = {s.name: s for s in services}
    for spec in services:
        for needed in spec.needs:
            where = f"services.{spec.name}.options"
            other = by_name.get(needed)
            if needed == spec.name:
                checker.add(where, "a service cannot name its own address")
            elif other is None:
                checker.add(where, f"names the address of '{needed}', which is no service of "
                            "this file")
            elif not other.persistent:
                checker.add(where, f"names the address of '{needed}', which is not persistent "
                            f"(its address would change): add 'persistent: true' to {needed}")
    # a cycle: no order in which every service comes after the ones it names
    pending = {s.name: set(s.needs) & set(by_name) - {s.name} for s in services}
    while pending:
        ready = [n for n, needs in pending.items() if not needs & set(pending)]
        if not ready:
            for name in sorted(pending):
                checker.add(f"services.{name}.options", "names addresses in a cycle ("
                            + " → ".join(sorted(pending)) + ")")
            return
        for n in ready:
            del pending[n]


def deployment_name(path: str | Path) -> str:
    """Just the deployment's name, from a file that need not be valid otherwise (for ``down``
    and ``ps`` of a file whose folders or templates have gone)."""
    absolute = Path(path).expanduser().resolve()
    try:
        data = safeyaml.load(absolute, str(path))
    except safeyaml.RefusedFile as e:
        raise DeploymentError([Problem(str(path), e.line, "", e.reason)]) from None
    except (OSError, yaml.YAMLError) as e:
        raise DeploymentError([Problem(str(path), 0, "", f"cannot be read ({e})")]) from None
    name = data.get("name") if isinstance(data, dict) else None
    if name is None:
        return default_name(absolute)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise DeploymentError([Problem(str(path), 0, "name", f"'{name}' is not a valid name")])
    return name


# --- up, ps, down ---------------------------------------------------------------------------
@dataclass
class Step:
    """What ``up`` did (or would do) with one service."""

    service: str
    action: str  # create | recreate | start | unchanged
    reason: str = ""
    view: ServiceView | None = None
    #: a recreate that removes the service and makes it anew (a new key): a backend of
    #: another master address, or a frontend that was another kind of service
    replace: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "action": self.action, "reason": self.reason,
                "status": self.view.to_dict() if self.view else None}


def _claim(manager: Manager, name: str) -> Path:
    """Which file a deployment name was last brought up from (beside the service records)."""
    return manager.store.root.parent / "deployments" / f"{name}.json"


def _claimed_elsewhere(manager: Manager, name: str, path: Path) -> Path | None:
    """Another deployment file that still exists, has the same name and was brought up; None
    if there is none (a file that was moved or deleted gives its name up)."""
    try:
        other = Path(json.loads(_claim(manager, name).read_text())["file"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if other == path or not other.is_file():
        return None
    try:
        return other if deployment_name(other) == name else None
    except MyOnionError:
        return None


def _write_claim(manager: Manager, deployment: Deployment) -> None:
    claim = _claim(manager, deployment.name)
    claim.parent.mkdir(mode=0o700, exist_ok=True)
    claim.write_text(json.dumps({"file": str(deployment.path)}) + "\n")


def _refuse_if_claimed(manager: Manager, name: str, path: Path) -> None:
    other = _claimed_elsewhere(manager, name, path)
    if other is not None:
        raise DeploymentError([Problem(str(path), 0, "name", (
            f"a deployment named '{name}' is up from {other} already: give this file another "
            f"'name:', or take that one down first (`myonion down -f {other} --purge`)"))])


def check_conflicts(manager: Manager, deployment: Deployment) -> None:
    """Refuse (before anything changes) a deployment name that another file uses, names
    used by services outside the deployment and host ports that new services cannot have;
    raises :class:`DeploymentError`."""
    _refuse_if_claimed(manager, deployment.name, deployment.path)
    problems: list[Problem] = []
    file = str(deployment.path)
    for spec in deployment.expanded():
        record = manager.store.get(spec.name)
        where = f"services.{spec.name}"
        if record is not None and record.deployment != deployment.name:
            owner = (f"deployment '{record.deployment}'" if record.deployment
                     else "no deployment (it was shared by hand)")
            problems.append(Problem(file, spec.line, where, f"a service named '{spec.name}' "
                                    f"exists already and belongs to {owner}: rename it here, "
                                    f"or remove that one with `myonion rm {spec.name}`"))
            continue
        if record is None and manager.runtime.get(container_name(spec.name)) is not None:
            problems.append(Problem(file, spec.line, where, f"a container named "
                                    f"{container_name(spec.name)} exists already"))
            continue
        template = manager.template(spec.template)
        filled = {k: REFERENCE_RE.sub(PLACEHOLDER_ADDRESS, v) if isinstance(v, str) else v
                  for k, v in spec.given.items()}
        wanted = template.published(template.validate(filled))
        info = manager.runtime.get(container_name(spec.name))
        held = set(info.ports.values()) if info is not None else set()
        try:
            check_host_ports({k: v for k, v in wanted.items() if v not in held})
        except OptionError as e:
            problems.append(Problem(file, spec.line, f"{where}.options", _sentence(e)))
    if problems:
        raise DeploymentError(problems)


def differences(manager: Manager, spec: ServiceSpec, options: dict[str, Any],
                deployment: Deployment) -> list[str]:
    """How an existing service differs from what the file asks for (empty: it is as asked)."""
    record = manager.store.get(spec.name)
    if record is None:
        return ["it does not exist"]
    template = manager.template(spec.template)
    values = template.validate(options)
    found: list[str] = []
    if record.template != spec.template:
        return [f"template {record.template} → {spec.template}"]
    changed = sorted(k for k in set(values) | set(record.options)
                     if values.get(k) != record.options.get(k))
    if changed:
        found.append("options " + ", ".join(changed))
    mode = "persistent" if spec.persistent else "ephemeral"
    if record.mode != mode:
        found.append(f"{record.mode} → {mode}")
    if record.network != spec.network:
        found.append(f"network {record.network} → {spec.network}")
    clients = sorted(c.name for c in manager.clients(spec.name)) if record.private else []
    if clients != sorted(spec.clients):
        found.append("clients")
    if record.limits != spec.limits:
        found.append("limits")
    if record.deployment != deployment.name:
        found.append("deployment")
    if manager.record_arch(record) != manager.arch:
        found.append(f"architecture {manager.record_arch(record)} → {manager.arch}")
    elif record.image != images.template_tag(manager.runtime, template, arch=manager.arch):
        found.append("the template's image")
    if not changed and _conf_changed(manager, template, record):
        found.append("the files its options name")
    return found


def _conf_changed(manager: Manager, template: TemplateSpec, record: ServiceRecord) -> bool:
    """Whether the configuration rendered now differs from the one the container has (e.g.
    a ``file`` option's file was edited). Files this user cannot read count as unchanged."""
    conf = manager.store.service_dir(record.name) / "conf"
    try:
        wanted = manager.rendered_files(record, template)
    except MyOnionError:
        return True
    for filename, text in wanted.items():
        try:
            if (conf / filename).read_text() != text:
                return True
        except PermissionError:
            continue
        except OSError:
            return True
    return False


def _master_address(manager: Manager, name: str) -> str | None:
    """The master address of balanced service ``name``: its frontend's, if it has one."""
    record = manager.store.get(name)
    if record is None or record.template != FRONTEND_TEMPLATE:
        return None
    return record.address


def _decide(manager: Manager, deployment: Deployment, spec: ServiceSpec,
            options: dict[str, Any], master: str | None = None) -> Step:
    """What ``up`` does with one service whose options are ``options`` (changes nothing);
    ``master``: the master address a backend must name (None: one not made yet)."""
    record = manager.store.get(spec.name)
    if record is None:
        return Step(spec.name, "create")
    if spec.balance_of and (master is None or record.balance_master != master):
        return Step(spec.name, "recreate", f"it is not a backend of {spec.balance_of}'s "
                    "master address (made anew, with a new key)", replace=True)
    if spec.master and record.balance_master != spec.master:
        return Step(spec.name, "recreate", f"it is not a backend of {spec.master} (made "
                    "anew, with a new key)", replace=True)
    if spec.frontend and record.template != FRONTEND_TEMPLATE:
        return Step(spec.name, "recreate", "it becomes a balanced service (made anew: the "
                    "master address is a new one)", replace=True)
    view = manager.status(spec.name, live=False)
    found = differences(manager, spec, options, deployment)
    if found or view.state == "missing":
        reason = ("changed: " + "; ".join(found)) if found else "its container was removed"
        return Step(spec.name, "recreate", reason)
    if view.state == "running":
        return Step(spec.name, "unchanged", view=view)
    return Step(spec.name, "start", f"it was {view.state}")


def plan(manager: Manager, deployment: Deployment) -> list[Step]:
    """What ``up`` would do, in its order, changing nothing (``up --dry-run``). A service
    naming the address of one that does not exist yet cannot be compared: it is listed as
    re-created once that one has its address."""
    check_conflicts(manager, deployment)
    addresses: dict[str, str | None] = {}
    steps: list[Step] = []
    for spec in deployment.ordered():
        missing = [n for n in spec.needs if not addresses.get(n)]
        if missing and manager.store.get(spec.name) is not None:
            step = Step(spec.name, "recreate", f"if the address of {', '.join(missing)} "
                        "changes (not known before it is created)")
        elif missing:
            step = Step(spec.name, "create")
        else:
            master = _master_address(manager, spec.balance_of) if spec.balance_of else None
            step = _decide(manager, deployment, spec, spec.options(addresses), master)
        record = manager.store.get(spec.name)
        addresses[spec.name] = (record.address if record and record.mode == "persistent"
                                and step.action != "create" and spec.persistent else None)
        if spec.master:
            addresses[spec.name] = spec.master
        steps.append(step)
    return steps


def up(manager: Manager, deployment: Deployment, timeout: float = 120.0,
       on_step: Callable[[Step], None] | None = None, wait: bool = True) -> list[Step]:
    """Create the missing services, re-create the changed ones and start stopped ones;
    leave the rest alone. Conflicts are refused before anything changes. ``wait``: wait
    until each service serves (as ``share`` does) before the next. A service that fails
    stops ``up`` with its error; the ones before it stay up."""
    check_conflicts(manager, deployment)
    manager.runtime.ping()
    _write_claim(manager, deployment)
    addresses: dict[str, str | None] = {}
    steps: list[Step] = []
    #: balanced service → its master key when made here (None: its frontend has one)
    masters: dict[str, tuple[str, keys.OnionKey | None]] = {}
    for spec in deployment.ordered():
        options = spec.options(addresses)
        common: dict[str, Any] = dict(
            options=options, network=spec.network, persistent=spec.persistent,
            clients=list(spec.clients), ttl=spec.ttl, limits=spec.limits,
            deployment=deployment.name, timeout=timeout, wait=wait)
        group = spec.balance_of or (spec.name if spec.frontend else None)
        if group and group not in masters:
            address = _master_address(manager, group)
            key = None if address else keys.generate_onion_key()
            masters[group] = (address or key.address, key)  # type: ignore[union-attr]
        step = _decide(manager, deployment, spec, options,
                       masters[group][0] if group else None)
        if on_step and step.action != "unchanged":
            on_step(step)
        if step.replace:
            # the file makes it a service of another kind (its plan says "made anew, with a
            # new key"): the old one goes with its key
            manager.remove(spec.name, purge=True)
        if step.action == "create" or step.replace:
            if spec.balance_of:
                common["balance_master"] = masters[spec.balance_of][0]
            elif spec.master:
                common["balance_master"] = spec.master
            elif spec.frontend:
                common["key"] = masters[spec.name][1]
            step.view = manager.share(spec.template, name=spec.name, **common)
        elif step.action == "recreate":
            step.view = manager.reconfigure(spec.name, spec.template, **common)
        elif step.action == "start":
            step.view = manager.start(spec.name, timeout=timeout, wait=wait)
        addresses[spec.name] = step.view.address if step.view else None
        if spec.master:  # what clients use: the master address
            addresses[spec.name] = spec.master
        steps.append(step)
    return steps


@dataclass
class Row:
    """One line of ``ps``: a service of the file or one still tagged with the deployment."""

    service: str
    view: ServiceView | None  # None: not created
    in_file: bool = True
    #: a backend of this balanced service (whose frontend has the service's name)
    backend_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"service": self.service, "in_file": self.in_file,
                                "created": self.view is not None,
                                "backend_of": self.backend_of}
        if self.view is not None:
            data.update(self.view.to_dict())
        return data


def ps(manager: Manager, path: str | Path) -> list[Row]:
    """The deployment's services with their state and addresses (the file's, then those still
    tagged with the deployment that the file no longer names)."""
    name = deployment_name(path)
    parts = _file_services(path)
    in_file = list(parts)
    owned = {r.name for r in manager.store.all() if r.deployment == name}
    rows = []
    for service in in_file + sorted(owned - set(in_file)):
        record = manager.store.get(service) if NAME_RE.match(service) else None
        view = manager.status(service) if record and record.deployment == name else None
        rows.append(Row(service, view, service in in_file, parts.get(service)))
    return rows


def service_names(path: str | Path) -> list[str]:
    """The service names a deployment file lists (read leniently, as for ``down``); a
    balanced service NAME is followed by its backends NAME-b1 …"""
    return list(_file_services(path))


def _file_services(path: str | Path) -> dict[str, str | None]:
    """Service name → the balanced service it is a backend of (None: a service of its own)."""
    try:
        data = safeyaml.load(path)
    except (OSError, yaml.YAMLError, safeyaml.RefusedFile):
        return {}
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return {}
    found: dict[str, str | None] = {}
    for name, raw in services.items():
        found[str(name)] = None
        balance = raw.get("balance") if isinstance(raw, dict) else None
        count = balance.get("backends") if isinstance(balance, dict) else None
        if isinstance(count, int) and not isinstance(count, bool):
            for i in range(1, min(count, MAX_BACKENDS) + 1):
                found.setdefault(backend_name(str(name), i), str(name))
    return found


def down(manager: Manager, path: str | Path, purge: bool = False,
         on_service: Callable[[str], None] | None = None) -> list[str]:
    """Take down every service of the deployment (by its tag, so services removed from the
    file too): containers removed, keys, data and client keys kept for the next ``up``;
    ``purge`` removes those as well. Returns the services handled."""
    name = deployment_name(path)
    _refuse_if_claimed(manager, name, Path(path).expanduser().resolve())
    order = service_names(path)
    owned = [r.name for r in manager.store.all() if r.deployment == name]
    owned.sort(key=lambda n: (order.index(n) if n in order else len(order), n), reverse=True)
    for service in owned:
        if on_service:
            on_service(service)
        if purge:
            manager.remove(service, purge=True)
        else:
            manager.take_down(service)
    if purge:
        _claim(manager, name).unlink(missing_ok=True)
    return owned


# --- Compose export -------------------------------------------------------------------------
def compose_service(spec: ContainerSpec, root: Path) -> dict[str, Any]:
    """The Compose service for the container ``spec`` describes, as the Docker runtime would
    create it (runtime/docker.py): the same image, user, mounts, tmpfs, hardening (read-only
    root, every capability dropped but the template's, no-new-privileges), limits, restart
    policy, healthcheck, networks and published ports. Bind mounts below ``root`` (the
    Compose file's folder) become relative; the control directory, which only the manager
    reads, becomes a tmpfs. Labels that would make ``myonion ls`` adopt the container are left
    out."""
    service = stack.service_basics(spec)
    service["security_opt"] = ["no-new-privileges:true"]
    if spec.mem_limit:
        service["mem_limit"] = spec.mem_limit
    if spec.pids_limit:
        service["pids_limit"] = spec.pids_limit
    if spec.restart:
        service["restart"] = spec.restart
    if spec.environment:
        service["environment"] = dict(spec.environment)
    # the control directory is tor's
    uid, _, gid = spec.side_user("tor").partition(":")
    tmpfs = [f"{path}:{options}" for path, options in spec.tmpfs.items()]
    volumes: list[dict[str, Any]] = []
    for mount in spec.mounts:
        if not mount.volume and mount.target == CTL_TARGET:
            tmpfs.append(f"{CTL_TARGET}:rw,nosuid,nodev,size=1m,uid={uid},gid={gid or uid},"
                         "mode=0700")
            continue
        volumes.append(stack.mount_entry(mount, root))
    if tmpfs:
        service["tmpfs"] = tmpfs
    if volumes:
        service["volumes"] = volumes
    if spec.ports:
        service["ports"] = [f"{address}:{port}:{target}"
                            for target, (address, port) in sorted(spec.ports.items())]
    networks = ([spec.network] if spec.network else []) + list(spec.extra_networks)
    if networks:
        service["networks"] = networks
    service.update(stack.service_health_and_labels(spec, "compose"))
    service["logging"] = {"driver": "json-file", "options": {"max-size": "1m", "max-file": "2"}}
    return service


def compose_document(services: dict[str, ContainerSpec], root: Path,
                     external_volumes: set[str] | None = None) -> dict[str, Any]:
    """A whole Compose file (the version-less Compose specification) for ``services``: named
    volumes declared (``external_volumes`` as external), every network external (they are
    the test network's, made by ``myonion testnet up``)."""
    doc: dict[str, Any] = {"services": {n: compose_service(s, root) for n, s in services.items()}}
    doc.update(stack.volumes_and_networks(services, external_volumes, "compose"))
    return doc


@dataclass
class ComposeExport:
    """What ``export compose`` wrote."""

    path: Path
    config_dir: Path
    images: dict[str, str]
    #: client → file with its private key (what Tor Browser asks for), per service
    client_keys: dict[str, dict[str, Path]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def export_compose(manager: Manager, deployment: Deployment, output: str | Path,
                   swarm: bool = False) -> ComposeExport:
    """Write a Compose file for the deployment's services at ``output`` and their rendered
    configuration in a folder beside it (``myonion/<service>/conf``, mounted read-only at
    /etc/myonion as the manager does). Images are built when missing. The services run
    independently of this myonion (own volumes, so own onion keys and addresses).

    ``swarm``: a stack file for ``docker stack deploy`` instead (:mod:`myonion.stack`); on the
    ``local`` network the manager's test network must be a swarm one."""
    for spec in deployment.services:
        if spec.backends or spec.remote or spec.master:
            raise DeploymentError([Problem(
                str(deployment.path), spec.line, f"services.{spec.name}.balance",
                "is not exported: a Compose or stack file cannot hold the master key that "
                "myonion makes for the frontend. Bring balanced services up with `myonion up` "
                "(on each machine of a swarm, see docs/deployments.md)")])
        if spec.needs:
            raise DeploymentError([Problem(
                str(deployment.path), spec.line, f"services.{spec.name}.options",
                "names another service's address (${NAME.address}), which a Compose file "
                "cannot know before its services first run: write the address itself")])
        if swarm and spec.network == "local" and not getattr(manager.testnet, "swarm", False):
            raise DeploymentError([Problem(
                str(deployment.path), spec.line, f"services.{spec.name}.network",
                f"is the local test network, whose network {manager.testnet.network} is a "
                "bridge that swarm services cannot join: start a swarm test network "
                "(`myonion testnet up --name NAME --swarm`) and export for it "
                "(`myonion export compose --swarm --testnet NAME`)")])
    out = Path(output).expanduser().resolve()
    root = out.parent
    root.mkdir(parents=True, exist_ok=True)
    config_dir = root / EXPORT_DIR
    config_dir.mkdir(exist_ok=True)
    os.chmod(config_dir, 0o700)  # secret options end up in these files
    manager.runtime.ping()
    result = ComposeExport(out, config_dir, {})
    specs: dict[str, ContainerSpec] = {}
    external: set[str] = set()
    secret_files: dict[str, list[str]] = {}
    for spec in deployment.ordered():
        template = manager.template(spec.template)
        values = template.validate(spec.options({}))
        image = images.template_image(manager.runtime, template, manager.reporter,
                                      arch=manager.arch)
        result.images[spec.name] = image
        record = ServiceRecord(name=spec.name, template=template.id, options=values,
                               network=spec.network,
                               mode="persistent" if spec.persistent else "ephemeral",
                               image=image, private=bool(spec.clients), limits=spec.limits,
                               deployment=deployment.name, arch=manager.arch)
        directory = config_dir / spec.name
        secret_files[spec.name] = _write_conf(manager, directory, template, record,
                                              hand_to_container=not swarm)
        result.client_keys[spec.name] = _export_clients(directory, list(spec.clients))
        specs[spec.name] = manager.container_spec(record, directory)
        if spec.network == "local":
            external.add(manager.testnet.include_volume)
        if spec.ttl:
            result.notes.append(f"{spec.name}: its ttl is not exported (Compose services run "
                                "until stopped)")
    if swarm:
        document = _stack(deployment, specs, root, config_dir, external, secret_files)
        header = (f"# Exported by `myonion export compose --swarm` from "
                  f"{os.path.relpath(deployment.path, root)}.\n"
                  f"# Run: docker stack deploy -c {out.name} {deployment.name}   (the "
                  f"configuration is in ./{EXPORT_DIR}/)\n")
    else:
        document = compose_document(specs, root, external)
        header = (f"# Exported by `myonion export compose` from "
                  f"{os.path.relpath(deployment.path, root)}.\n"
                  f"# Run: docker-compose -f {out.name} up -d   (the configuration is in "
                  f"./{EXPORT_DIR}/)\n")
    out.write_text(header + yaml.safe_dump(document, sort_keys=False, width=100))
    return result


def _stack(deployment: Deployment, specs: dict[str, ContainerSpec], root: Path,
           config_dir: Path, external: set[str],
           secret_files: dict[str, list[str]]) -> dict[str, Any]:
    """The swarm stack document, or the services a swarm cannot run named as problems."""
    problems: list[Problem] = []
    lines = {s.name: s.line for s in deployment.services}
    for name, spec in specs.items():
        if spec.extra_networks:  # the test network's access bridge, for a published port
            problems.append(Problem(str(deployment.path), lines[name], f"services.{name}",
                                    "publishes a port, which a swarm service on the internal "
                                    "test network cannot: leave the port out here"))
        try:
            stack.stack_service(name, spec, root, [])
        except stack.StackRefused as e:
            problems.append(Problem(str(deployment.path), lines[name], f"services.{name}",
                                    f"{e}: leave the port out, or give 0.0.0.0 as its address"))
    if problems:
        raise DeploymentError(problems)
    configs = {name: stack.conf_configs(config_dir / name / "conf", root,
                                        set(secret_files.get(name, [])))
               for name in specs}
    return stack.stack_document(specs, root, configs, external)


def _write_conf(manager: Manager, directory: Path, template: TemplateSpec,
                record: ServiceRecord, hand_to_container: bool = True) -> list[str]:
    """The service's runtime files for an exported Compose/stack file: as the manager writes
    them, files that hold a secret option 0600 and the container's user's, the others 0644.
    Returns the names of the files that hold a secret. Without ``hand_to_container`` (a
    swarm stack, where they become swarm secrets that the swarm gives the container's user)
    they stay this user's, so the `docker stack deploy` of this user can read them."""
    conf = directory / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    wanted = manager.rendered_files(record, template)
    for stale in conf.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    secret_files = hardening.write_rendered(conf, template, record.options, wanted)
    os.chmod(directory, 0o755)
    os.chmod(conf, 0o755)
    if hand_to_container:
        manager._hand_to_container(conf, secret_files, record.image,
                                   service_user(template, record.options))
    return secret_files


def _export_clients(directory: Path, names: list[str]) -> dict[str, Path]:
    """Client keys for an exported service, kept across exports (same names, same keys):
    the public halves in conf/authorized_clients, each private key (base32) in
    clients/<name>.key (0600)."""
    store = ClientStore(directory)
    for client in store.names():
        if client not in names:
            store.remove(client)
            (store.dir / f"{client}.key").unlink(missing_ok=True)
    files: dict[str, Path] = {}
    for client in names:
        if not store.exists(client):
            store.add(keys.generate_client_key(client))
        path = store.dir / f"{client}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(store.get(client).private_b32() + "\n")
        files[client] = path
    if not names and store.auth_dir.is_dir():
        shutil.rmtree(store.auth_dir)
    return files


# --- systemd --------------------------------------------------------------------------------
UNIT_DIR = Path("/etc/systemd/system")
#: what the unit passes on from the environment ``service install`` runs in
UNIT_ENVIRONMENT = ("MYONION_HOME", "MYONION_NETWORK", "MYONION_BASE_IMAGE", "MYONION_TOR_SOCKS",
                    "MYONION_ARCH")


def unit_name(deployment: Deployment) -> str:
    return f"myonion-{deployment.name}.service"


def _systemd_quote(word: str) -> str:
    """One argument of a systemd command line (quoted when needed; % escaped)."""
    word = word.replace("%", "%%")
    if word and not re.search(r"[\s\"'\\;$]", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def myonion_executable() -> str:
    """The absolute path of the running ``myonion`` command (beside this Python, else PATH)."""
    beside = Path(sys.executable).parent / "myonion"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("myonion")
    if found:
        return str(Path(found).resolve())
    raise MyOnionError("The myonion command was not found, so no unit can start it.",
                       hint="Install myonion (pip install .) so `myonion` is on the PATH.")


def systemd_unit(deployment: Deployment, executable: str,
                 environment: dict[str, str] | None = None) -> str:
    """A oneshot unit that brings the deployment up at boot (after Docker) and takes it down
    (keys and data kept) when stopped."""
    file = _systemd_quote(str(deployment.path))
    exe = _systemd_quote(executable)
    env = environment if environment is not None else {
        k: v for k, v in os.environ.items()
        if v and (k in UNIT_ENVIRONMENT or k.startswith("MYONION_BASE_IMAGE_"))}
    lines = [
        "[Unit]",
        f"Description=myonion deployment {deployment.name} (onion services)",
        "Requires=docker.service",
        "After=docker.service network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())),
        f"ExecStart={exe} up -f {file}",
        f"ExecStop={exe} down -f {file}",
        # the first start may build images
        "TimeoutStartSec=30min",
        "TimeoutStopSec=5min",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def install_unit(deployment: Deployment, text: str, unit_dir: Path = UNIT_DIR) -> Path:
    """Write the unit file (mode 0644) into ``unit_dir`` and return its path."""
    path = unit_dir / unit_name(deployment)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, 0o644)
    except OSError as e:
        raise MyOnionError(f"The unit {path} could not be written ({e.strerror}).",
                           hint="Run it as root (sudo), or print it with --dry-run.") from e
    return path
