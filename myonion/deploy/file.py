"""The deployment file (``myonion.yaml``, described in docs/deployments.md and, for
editors, docs/myonion.schema.json): read and checked before anything happens.

:func:`load` names the file, line and field of every mistake (:class:`DeploymentError`), so a
bad file changes nothing, and checks each service into the :class:`ServiceRequest` that ``up``
and the exports use as it is. Services carry the deployment's name (their record's
``deployment`` and the ``org.myonion.deployment`` label), which is how ``ps`` and ``down`` find
them. Option values may name another service's address as ``${NAME.address}`` (that service
must be persistent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from myonion import access, config, keys, safeyaml, tor
from myonion.deploy.balance import MAX_BACKENDS, backend_name, serves_web_page
from myonion.deploy.model import (
    PLACEHOLDER_ADDRESS,
    REFERENCE_NAME_RE,
    REFERENCE_RE,
    Deployment,
    DeploymentError,
    Problem,
    ServiceSpec,
    sentence,
)
from myonion.errors import MyOnionError, OptionError
from myonion.services.request import NAME_RE, ServiceRequest, build_request, check_limits
from myonion.templates import TemplateRegistry, TemplateSpec

FILE_VERSION = 1
DEFAULT_FILE = "myonion.yaml"
TOP_KEYS = ("version", "name", "services")
SERVICE_KEYS = ("template", "options", "persistent", "clients", "ttl", "network", "limits",
                "balance")
BALANCE_KEYS = ("backends", "remote", "master")


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

    def __init__(self, file: str, lines: dict[str, int], base: Path,
                 allow_outside: bool = False) -> None:
        self.file, self.lines, self.base = file, lines, base
        self.allow_outside = allow_outside
        #: the deployment's name (None while it is not known to be valid)
        self.deployment: str | None = None
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
        fields: dict[str, Any] = dict(
            name=name if isinstance(name, str) and NAME_RE.match(name) else None,
            network=network, persistent=persistent is True or "balance" in data,
            clients=clients, ttl=ttl, limits=limits, deployment=self.deployment)
        given, needs, checked = ({}, [], None) if template is None else self._options(
            template, data.get("options"), f"{path}.options", path, fields)
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
                           master=master, checked=checked)

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
            self.add(path, sentence(e))
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

    def _options(self, template: TemplateSpec, value: Any, path: str, service_path: str,
                 fields: dict[str, Any]) -> tuple[dict[str, Any], list[str],
                                                  ServiceRequest | None]:
        """The options as given, the services whose addresses they name, and the service's
        request, checked (options naming an address with a stand-in for it)."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.add(path, "must be a mapping of the template's options")
            return {}, [], None
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
                if not self.allow_outside and not _inside_folder(absolute, self.base):
                    self.add(where, f"{item} is outside this file's folder ({self.base}): a "
                             "deployment file names only files and folders beside it or below "
                             "it (links followed). If you wrote the file and mean it, run the "
                             "command again with --allow-outside.")
                    continue
                item = str(_resolved(absolute))  # what was checked is what is used
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
        checked: ServiceRequest | None = None
        if len(self.problems) == before:
            filled = {k: REFERENCE_RE.sub(PLACEHOLDER_ADDRESS, v) if isinstance(v, str) else v
                      for k, v in given.items()}
            checked = self._checked(path if value else service_path,
                                    lambda: build_request(template, filled, **fields))
        return given, needs, checked


def _noted(fn: Callable[[], Any], note: str) -> Any:
    """``fn()``, with ``note`` added to the message of an OptionError it raises."""
    try:
        return fn()
    except OptionError as e:
        e.message = e.message.rstrip(".") + note + "."
        raise


def load(path: str | Path, registry: TemplateRegistry | None = None,
         allow_outside: bool = False) -> Deployment:
    """Read and check a deployment file; raises :class:`DeploymentError` naming every
    mistake's file, line and field. Relative paths in options are relative to the file, and
    must stay inside its folder unless ``allow_outside`` (the user's explicit yes: a file from
    elsewhere cannot make myonion read or share what lies outside the folder it came in)."""
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
    checker = _Checker(file, lines, absolute.parent, allow_outside)
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
    else:
        checker.deployment = name
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
    return Deployment(name=str(name), path=absolute, services=tuple(services),
                      allow_outside=allow_outside)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return path


def _inside_folder(path: Path, folder: Path) -> bool:
    """True if ``path``, with every link resolved, is ``folder`` or below it."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):
        return False


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




def service_names(path: str | Path) -> list[str]:
    """The service names a deployment file lists (read leniently, as for ``down``); a
    balanced service NAME is followed by its backends NAME-b1 …"""
    return list(file_services(path))


def file_services(path: str | Path) -> dict[str, str | None]:
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


