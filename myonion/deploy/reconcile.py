"""A deployment brought up, listed and taken down: :func:`plan` (what ``up`` would do),
:func:`up`, :func:`ps` and :func:`down`.

``up`` is idempotent: a service whose request (template, options, mode, clients, network,
limits) is what the file asks for, whose image is current and whose rendered configuration is
unchanged is left alone; a changed one gets a new container through
:meth:`Manager.reconfigure` (volumes kept, so a persistent one keeps its address). The file's
requests were checked when it was read; here they are compared with each service's record as
two values. Services naming another's address (``${NAME.address}``), device secrets
(``${NAME.tokens}`` …) or client keys (``${NAME.client.CLIENT}``) come up after it.

Everything goes through the :class:`Manager` and the services' context; nothing here imports
docker or Qt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myonion import keys
from myonion.build import images
from myonion.deploy.balance import FRONTEND_TEMPLATE
from myonion.deploy.known import Known
from myonion.deploy.model import Deployment, DeploymentError, Problem, ServiceSpec, sentence
from myonion.deploy.names import deployment_name, file_services
from myonion.errors import MyOnionError, OptionError
from myonion.services import clients as client_keys
from myonion.services.containers import rendered_files
from myonion.services.context import ServiceContext, container_name
from myonion.services.manager import Manager
from myonion.services.request import (
    NAME_RE,
    Mode,
    ServiceRequest,
    check_host_ports,
    differences,
)
from myonion.services.store import ServiceRecord
from myonion.services.views import ServiceView


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
    return manager.context.deployments_dir() / f"{name}.json"


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
    ctx = manager.context
    problems: list[Problem] = []
    file = str(deployment.path)
    for spec in deployment.expanded():
        record = ctx.store.get(spec.name)
        where = f"services.{spec.name}"
        if record is not None and record.deployment != deployment.name:
            owner = (f"deployment '{record.deployment}'" if record.deployment
                     else "no deployment (it was shared by hand)")
            problems.append(Problem(file, spec.line, where, f"a service named '{spec.name}' "
                                    f"exists already and belongs to {owner}: rename it here, "
                                    f"or remove that one with `myonion rm {spec.name}`"))
            continue
        info = ctx.runtime.get(container_name(spec.name))
        if record is None and info is not None:
            problems.append(Problem(file, spec.line, where, f"a container named "
                                    f"{container_name(spec.name)} exists already"))
            continue
        if spec.checked is None:
            continue  # a frontend: it publishes no host port
        held = set(info.ports.values()) if info is not None else set()
        try:
            check_host_ports({k: v for k, v in spec.checked.published().items()
                              if v not in held})
        except OptionError as e:
            problems.append(Problem(file, spec.line, f"{where}.options", sentence(e)))
    if problems:
        raise DeploymentError(problems)


def changes(ctx: ServiceContext, wanted: ServiceRequest, record: ServiceRecord) -> list[str]:
    """How an existing service differs from what the file asks for (empty: it is as asked):
    the file's request and the record's compared, then its image and rendered files."""
    if record.template != wanted.template.id:
        return [f"template {record.template} → {wanted.template.id}"]
    # the secrets it made are kept: a device given by its id alone still has its secret
    wanted = wanted.with_device_secrets(record.options, generate=False)
    names = tuple(client_keys.store(ctx, record.name).names()) if record.private else ()
    found = differences(wanted, record.request(wanted.template, names))
    arch = wanted.arch or ctx.arch
    if record.built_for() != arch:
        found.append(f"architecture {record.built_for()} → {arch}")
    elif record.image != images.template_tag(ctx.runtime, wanted.template, arch=arch):
        found.append("the template's image")
    if not any(f.startswith("options ") for f in found) and \
            _conf_changed(ctx, wanted, record):
        found.append("the files its options name")
    return found


def _conf_changed(ctx: ServiceContext, wanted: ServiceRequest, record: ServiceRecord) -> bool:
    """Whether the configuration rendered now differs from the one the container has (e.g.
    a ``file`` option's file was edited). Files this user cannot read count as unchanged."""
    conf = ctx.conf_dir(record.name)
    try:
        files = rendered_files(ctx, record, wanted.template)
    except MyOnionError:
        return True
    for filename, text in files.items():
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
    record = manager.context.store.get(name)
    if record is None or record.template != FRONTEND_TEMPLATE:
        return None
    return record.address


def _wanted(manager: Manager, deployment: Deployment, spec: ServiceSpec,
            known: Known) -> ServiceRequest:
    """The request of ``spec`` with what it names (see :meth:`ServiceSpec.request`)."""
    template = spec.checked.template if spec.checked else manager.template(spec.template)
    return spec.request(known.addresses, template, deployment.name, known.secrets,
                        known.clients)


def _decide(manager: Manager, spec: ServiceSpec, wanted: ServiceRequest,
            master: str | None = None) -> Step:
    """What ``up`` does with one service that asks for ``wanted`` (changes nothing);
    ``master``: the master address a backend must name (None: one not made yet)."""
    record = manager.context.store.get(spec.name)
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
    found = changes(manager.context, wanted, record)
    if found or view.state == "missing":
        reason = ("changed: " + "; ".join(found)) if found else "its container was removed"
        return Step(spec.name, "recreate", reason)
    if view.state == "running":
        return Step(spec.name, "unchanged", view=view)
    return Step(spec.name, "start", f"it was {view.state}")


def plan(manager: Manager, deployment: Deployment) -> list[Step]:
    """What ``up`` would do, in its order, changing nothing (``up --dry-run``). A service
    naming the address (or device secrets) of one that does not exist yet cannot be
    compared: it is listed as re-created once that one has them."""
    check_conflicts(manager, deployment)
    store = manager.context.store
    known = Known()
    steps: list[Step] = []
    for spec in deployment.ordered():
        missing = known.missing(spec)
        record = store.get(spec.name)
        if missing and record is not None:
            step = Step(spec.name, "recreate", f"if the address or device secrets of "
                        f"{', '.join(missing)} change (not known before it is made)")
        elif missing:
            step = Step(spec.name, "create")
        else:
            master = _master_address(manager, spec.balance_of) if spec.balance_of else None
            wanted = _wanted(manager, deployment, spec, known)
            step = _decide(manager, spec, wanted, master)
            if record is not None and step.action != "create":
                known.learn(manager, spec.name, wanted.template, wanted.with_device_secrets(
                    record.options, generate=False).options)
        known.addresses[spec.name] = (
            record.address if record and record.mode is Mode.PERSISTENT
            and step.action != "create" and spec.persistent else None)
        if spec.master:
            known.addresses[spec.name] = spec.master
        steps.append(step)
    return steps


def _master(manager: Manager, group: str) -> tuple[str, keys.OnionKey | None]:
    """The master address of balanced service ``group``, and its key when made now (None:
    its frontend has one)."""
    address = _master_address(manager, group)
    if address:
        return address, None
    key = keys.generate_onion_key()
    return key.address, key


def _apply(manager: Manager, spec: ServiceSpec, step: Step, wanted: ServiceRequest,
           masters: dict[str, tuple[str, keys.OnionKey | None]], wait: bool,
           timeout: float) -> ServiceView | None:
    """Carry out ``step`` (create, recreate or start) for ``spec``."""
    if step.replace:
        # the file makes it a service of another kind (its plan says "made anew, with a
        # new key"): the old one goes with its key
        manager.remove(spec.name, purge=True)
    if step.action == "create" or step.replace:
        if spec.balance_of:
            wanted = wanted.as_backend(masters[spec.balance_of][0])
        elif spec.master:
            wanted = wanted.as_backend(spec.master)
        elif spec.frontend:
            wanted = wanted.with_key(masters[spec.name][1])
        return manager.share(wanted, wait=wait, timeout=timeout)
    if step.action == "recreate":
        return manager.reconfigure(spec.name, wanted, wait=wait, timeout=timeout)
    if step.action == "start":
        return manager.start(spec.name, timeout=timeout, wait=wait)
    return step.view


def up(manager: Manager, deployment: Deployment, timeout: float = 120.0,
       on_step: Callable[[Step], None] | None = None, wait: bool = True) -> list[Step]:
    """Create the missing services, re-create the changed ones and start stopped ones;
    leave the rest alone. Conflicts are refused before anything changes. ``wait``: wait
    until each service serves (as ``share`` does) before the next. A service that fails
    stops ``up`` with its error; the ones before it stay up."""
    check_conflicts(manager, deployment)
    manager.context.runtime.ping()
    _write_claim(manager, deployment)
    known = Known()
    steps: list[Step] = []
    #: balanced service → its master address, and its key when made here
    masters: dict[str, tuple[str, keys.OnionKey | None]] = {}
    for spec in deployment.ordered():
        wanted = _wanted(manager, deployment, spec, known)
        group = spec.balance_of or (spec.name if spec.frontend else None)
        if group and group not in masters:
            masters[group] = _master(manager, group)
        step = _decide(manager, spec, wanted, masters[group][0] if group else None)
        if on_step and step.action != "unchanged":
            on_step(step)
        step.view = _apply(manager, spec, step, wanted, masters, wait, timeout)
        known.addresses[spec.name] = step.view.address if step.view else None
        if spec.master:  # what clients use: the master address
            known.addresses[spec.name] = spec.master
        record = manager.context.store.get(spec.name)
        if record is not None:  # the device secrets it has now (generated ones included)
            known.learn(manager, spec.name, manager.template(record.template), record.options)
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
    parts = file_services(path)
    in_file = list(parts)
    store = manager.context.store
    owned = {r.name for r in store.all() if r.deployment == name}
    rows = []
    for service in in_file + sorted(owned - set(in_file)):
        record = store.get(service) if NAME_RE.match(service) else None
        view = manager.status(service) if record and record.deployment == name else None
        rows.append(Row(service, view, service in in_file, parts.get(service)))
    return rows


def down(manager: Manager, path: str | Path, purge: bool = False,
         on_service: Callable[[str], None] | None = None) -> list[str]:
    """Take down every service of the deployment (by its tag, so services removed from the
    file too): containers removed, keys, data and client keys kept for the next ``up``;
    ``purge`` removes those as well. Returns the services handled."""
    name = deployment_name(path)
    _refuse_if_claimed(manager, name, Path(path).expanduser().resolve())
    order = list(file_services(path))
    owned = [r.name for r in manager.context.store.all() if r.deployment == name]
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


