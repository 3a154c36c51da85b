"""A deployment file's content once checked: its services (:class:`ServiceSpec`, each with
the :class:`ServiceRequest` it was checked into) and the mistakes found in it (:class:`Problem`,
:class:`DeploymentError`: file, line and field of each)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from myonion.deploy.balance import FRONTEND_TEMPLATE, backend_name
from myonion.errors import MyOnionError, OptionError
from myonion.services.request import ServiceRequest, build_request
from myonion.templates import TemplateSpec

REFERENCE_RE = re.compile(r"\$\{([^}]*)\}")
REFERENCE_NAME_RE = re.compile(r"([a-z0-9][a-z0-9-]{0,39})\.address")
#: stands in for an address named by ``${NAME.address}`` while the file is checked
PLACEHOLDER_ADDRESS = "a" * 55 + "d.onion"


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
    #: the request checked when the file was read (options naming an address hold a
    #: stand-in for it); None for a frontend, whose options are made by ``up``
    checked: ServiceRequest | None = field(default=None, compare=False, repr=False)

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

    def request(self, addresses: dict[str, str | None], template: TemplateSpec,
                deployment: str) -> ServiceRequest:
        """What this service asks for, the addresses it names filled in from ``addresses``:
        the request checked when the file was read, or, if it names addresses (or is a
        frontend), one checked now that they are known."""
        if self.checked is not None and not self.needs:
            return self.checked
        return build_request(template, self.options(addresses), name=self.name,
                             network=self.network, persistent=self.persistent,
                             clients=self.clients, ttl=self.ttl, limits=self.limits,
                             deployment=deployment)


@dataclass(frozen=True)
class Deployment:
    """A checked deployment file."""

    name: str
    path: Path  # absolute
    services: tuple[ServiceSpec, ...]
    #: the user allowed the file to name folders and files outside its own folder
    allow_outside: bool = False

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
            result += [dataclasses.replace(
                spec, name=n, backends=0, remote=(), balance_of=spec.name,
                checked=spec.checked.named(n) if spec.checked else None) for n in names]
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


def sentence(error: MyOnionError) -> str:
    """An error's message for ``file:line: field: ...``: the option's name (the field names
    it already) left out, and its hint after it when it says what to give."""
    message = re.sub(r"^Option '[^']*'(: | )", "", error.message)
    hint = error.hint if error.hint and error.hint != type(error).hint else None
    if isinstance(error, OptionError) and error.hint and not hint:
        hint = error.hint
    return f"{message} {hint}" if hint else message


def check_backend_names(add: Callable[[str, str], None], services: list[ServiceSpec]) -> None:
    """A balanced service's backends (NAME-b1 …) must not be named like another service."""
    names = {s.name for s in services}
    for spec in services:
        for i in range(1, spec.backends + 1):
            if backend_name(spec.name, i) in names:
                add(f"services.{spec.name}.balance", f"its backend "
                            f"'{backend_name(spec.name, i)}' has the name of another service "
                            "of this file: rename one of them")


def check_references(add: Callable[[str, str], None], services: list[ServiceSpec]) -> None:
    """Each ``${NAME.address}`` names a persistent service of this file, and none in a cycle."""
    by_name = {s.name: s for s in services}
    for spec in services:
        for needed in spec.needs:
            where = f"services.{spec.name}.options"
            other = by_name.get(needed)
            if needed == spec.name:
                add(where, "a service cannot name its own address")
            elif other is None:
                add(where, f"names the address of '{needed}', which is no service of "
                            "this file")
            elif not other.persistent:
                add(where, f"names the address of '{needed}', which is not persistent "
                            f"(its address would change): add 'persistent: true' to {needed}")
    # a cycle: no order in which every service comes after the ones it names
    pending = {s.name: set(s.needs) & set(by_name) - {s.name} for s in services}
    while pending:
        ready = [n for n, needs in pending.items() if not needs & set(pending)]
        if not ready:
            for name in sorted(pending):
                add(f"services.{name}.options", "names addresses in a cycle ("
                            + " → ".join(sorted(pending)) + ")")
            return
        for n in ready:
            del pending[n]
