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

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from myonion import access, config, keys, onion, safeyaml
from myonion.deploy import schema
from myonion.deploy.balance import MAX_BACKENDS, backend_name, check_template
from myonion.deploy.model import (
    PLACEHOLDER_ADDRESS,
    REFERENCE_NAME_RE,
    REFERENCE_RE,
    Deployment,
    DeploymentError,
    Problem,
    ServiceSpec,
    check_backend_names,
    check_references,
    sentence,
)
from myonion.deploy.names import default_name
from myonion.errors import MyOnionError, OptionError
from myonion.services.request import NAME_RE, ServiceRequest, build_request, check_limits
from myonion.templates import OptionSpec, TemplateRegistry, TemplateSpec

FILE_VERSION = 1
DEFAULT_FILE = "myonion.yaml"
#: what an option the file leaves out (its path missing) is
_MISSING = object()


class _Checker:
    """Collects the problems of one file while its services are checked."""

    def __init__(self, file: str, lines: dict[str, int], base: Path,
                 allow_outside: bool = False) -> None:
        self.file, self.lines, self.base = file, lines, base
        self.allow_outside = allow_outside
        #: the deployment's name (None while it is not known to be valid)
        self.deployment: str | None = None
        self.problems: list[Problem] = []
        #: the fields whose shape the schema refused
        self.shape: set[str] = set()

    def line(self, path: str) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return 0

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.line(path), path, message))

    def refused(self, path: str) -> bool:
        """The file's shape is wrong at ``path`` or inside it (see :mod:`.schema`)."""
        return any(f == path or f.startswith((f"{path}.", f"{path}[")) for f in self.shape)

    def service(self, name: Any, raw: Any, registry: TemplateRegistry) -> ServiceSpec | None:
        """What the schema cannot check of one service; its :class:`ServiceSpec` if it is
        right (its request checked), else None."""
        path = f"services.{name}"
        before = len(self.problems)
        if not isinstance(raw, dict):
            return None
        data: dict[str, Any] = raw
        template = self._template(data.get("template"), f"{path}.template", registry)
        persistent = data.get("persistent", False)
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
        if len(self.problems) > before or template is None or self.refused(path):
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
        value = data["balance"]
        if not isinstance(value, dict):
            return nothing
        service = path.rpartition(".")[0]
        self._balanced_service(data, template, service)
        if "master" in value:
            master = value["master"]
            for other in ("backends", "remote"):
                if other in value:
                    self.add(f"{path}.{other}", "cannot be combined with master (a backend of "
                             "a frontend elsewhere): give one or the other")
            if not isinstance(master, str) or not onion.is_valid(master.strip().lower()):
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
        if not isinstance(value, list):
            return ()
        found: list[str] = []
        for i, item in enumerate(value):
            address = str(item).strip().lower()
            if not onion.is_valid(address):
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
            self._checked(f"{service}.template", partial(check_template, template))

    def _checked(self, path: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except MyOnionError as e:
            message = sentence(e)
            self.add(path, message.removeprefix("Template ") if path.endswith(".template")
                     else message)
            return None

    def _template(self, value: Any, path: str, registry: TemplateRegistry) -> TemplateSpec | None:
        if value is None:
            return None  # the schema's "needs a template"
        spec: TemplateSpec | None = self._checked(path, lambda: registry.get(str(value)))
        return spec

    def _clients(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, list):
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
        if not isinstance(value, dict):
            return {}
        result: dict[str, Any] = {}
        for key, item in value.items():
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
            return {}, [], None
        given: dict[str, Any] = {}
        needs: list[str] = []
        before = len(self.problems)
        for key, item in value.items():
            spec = template.option(str(key))
            if spec is None:
                self.add(f"{path}.{key}", f"template '{template.id}' has no option '{key}' "
                         f"(its options: {', '.join(o.name for o in template.options) or 'none'})")
                continue
            checked_item = self._option(spec, item, f"{path}.{key}", needs)
            if checked_item is not _MISSING:
                given[str(key)] = checked_item
        checked: ServiceRequest | None = None
        if len(self.problems) == before:
            filled = {k: REFERENCE_RE.sub(PLACEHOLDER_ADDRESS, v) if isinstance(v, str) else v
                      for k, v in given.items()}
            checked = self._checked(path if value else service_path,
                                    lambda: build_request(template, filled, **fields))
        return given, needs, checked


    def _option(self, spec: OptionSpec, item: Any, where: str, needs: list[str]) -> Any:
        """One option as given (a path made absolute, beside the file), checked on its own
        (``${NAME.address}`` with a stand-in); the names it refers to go to ``needs``.
        ``_MISSING`` for a path that does not exist."""
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
                return _MISSING
            if not self.allow_outside and not _inside_folder(absolute, self.base):
                self.add(where, f"{item} is outside this file's folder ({self.base}): a "
                         "deployment file names only files and folders beside it or below "
                         "it (links followed). If you wrote the file and mean it, run the "
                         "command again with --allow-outside.")
                return _MISSING
            item = str(_resolved(absolute))  # what was checked is what is used
        if isinstance(item, str):
            for ref in REFERENCE_RE.findall(item):
                match = REFERENCE_NAME_RE.fullmatch(ref)
                if match is None:
                    self.add(where, f"'${{{ref}}}' is no reference myonion knows: write "
                             "${NAME.address} for the address of service NAME")
                else:
                    needs.append(match.group(1))
        if item not in (None, ""):
            placeholder = (REFERENCE_RE.sub(PLACEHOLDER_ADDRESS, item)
                           if isinstance(item, str) else item)
            if placeholder != item:
                note = (" (checked with a stand-in address, 'aaa…ad.onion', for each "
                        "${NAME.address})")
                self._checked(where, partial(_noted, partial(spec.coerce, placeholder), note))
            else:
                self._checked(where, partial(spec.coerce, placeholder))
        return item


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
    data, lines, problems = schema.parse(text, file)
    checker = _Checker(file, lines, absolute.parent, allow_outside)
    checker.problems.extend(problems)
    if problems and data is None:
        raise DeploymentError(checker.problems)
    if data is None:
        checker.add("", "is empty: it needs 'version: 1' and 'services:'")
        raise DeploymentError(checker.problems)
    for field, message in schema.refusals(data, registry.ids()):
        checker.shape.add(field)
        checker.add(field, message)
    if not isinstance(data, dict):
        raise DeploymentError(checker.problems)
    name = data.get("name", default_name(absolute))
    if not checker.refused("name"):
        checker.deployment = name
    services: list[ServiceSpec] = []
    raw_services = data.get("services")
    for service_name, raw in (raw_services if isinstance(raw_services, dict) else {}).items():
        spec = checker.service(service_name, raw, registry)
        if spec is not None:
            services.append(spec)
    check_backend_names(checker.add, services)
    check_references(checker.add, services)
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
