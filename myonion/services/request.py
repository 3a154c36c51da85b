"""A request for a service, checked once where it enters and trusted everywhere after.

Every surface (the CLI's ``share``, the app's share dialog, a deployment file, ``balance share``,
``reconfigure``) turns what the user gave into one :class:`ServiceRequest` with
:func:`build_request`; nothing downstream checks it again. A request is checked in two parts:

- what it says (:func:`build_request`): the template's options, the name, the network, who may
  connect and for how long, the resource limits, a balanced backend's master;
- whether this machine can give it right now (:func:`admit`): the folders it reads (a whole
  home folder only with the user's yes, one its service user can be given) and its host ports.

``share`` does both at once; a deployment file is checked when it is read (with file, line and
field) and admitted when ``up`` uses it, so a file changed nothing until all of it is right.
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from myonion import access, config, folders, gateway_secrets, keys, onion
from myonion import arch as arches
from myonion.errors import OptionError
from myonion.services import hostdirs
from myonion.templates import MAX_PIDS, MIN_PIDS, TemplateSpec

#: resource limits of a service's container unless it asks for others (sized for a Pi)
DEFAULT_MEMORY = "256m"
DEFAULT_PIDS = 128
_MEMORY_RE = re.compile(r"([1-9][0-9]{0,12})([kmg]?)")
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
#: below these tor and a small service do not start
MIN_MEMORY = 32 * 1024**2
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

#: a service's resource limits: "memory" ("128m") and "pids" (64); the rest take the defaults
Limits = dict[str, str | int]
#: a host port a container publishes: container port ("1883/tcp") → (host address, port)
HostPorts = dict[str, tuple[str, int]]


class Mode(StrEnum):
    """How long a service's onion key lives: in memory only (a new address every start), or in
    a volume of its own (the same address until it is removed with ``--purge``)."""

    EPHEMERAL = "ephemeral"
    PERSISTENT = "persistent"


class Access(StrEnum):
    """Who may connect: anyone who knows the address, or only clients with a key (v3 client
    authorization)."""

    PUBLIC = "public"
    PRIVATE = "private"


@dataclass(frozen=True)
class ServiceRequest:
    """What a user asked for, checked (see :func:`build_request`); never changed after."""

    template: TemplateSpec
    #: every option of the template with its checked value (or default)
    options: Mapping[str, Any]
    network: str
    mode: Mode = Mode.EPHEMERAL
    name: str | None = None
    #: the clients that get a key (none: public)
    clients: tuple[str, ...] = ()
    #: seconds the service lives (None: until stopped)
    ttl: float | None = None
    #: an existing onion key to serve (an import, a vanity key, a balanced frontend's master)
    key: keys.OnionKey | None = field(default=None, repr=False, compare=False)
    limits: Mapping[str, str | int] = field(default_factory=dict)
    deployment: str | None = None
    #: a backend of an Onionbalance frontend: the master's address
    balance_master: str | None = None
    #: the user said yes to sharing a whole home folder
    whole_home: bool = False
    #: the architecture to build and run it for (None: the facade's, see :meth:`for_arch`)
    arch: str | None = None

    @property
    def access(self) -> Access:
        return Access.PRIVATE if self.clients else Access.PUBLIC

    @property
    def persistent(self) -> bool:
        return self.mode is Mode.PERSISTENT

    def published(self) -> HostPorts:
        """The host ports this service's container publishes."""
        return self.template.published(dict(self.options))

    def for_arch(self, default: str) -> ServiceRequest:
        """This request with its architecture settled: its own, else ``default``."""
        return self if self.arch else replace(self, arch=default)

    def named(self, name: str) -> ServiceRequest:
        """This request for the service called ``name`` (a name is checked where it enters)."""
        return replace(self, name=check_name(name))

    def with_key(self, key: keys.OnionKey | None) -> ServiceRequest:
        """This request serving ``key`` (which makes it persistent); itself for None."""
        return self if key is None else replace(self, key=key, mode=Mode.PERSISTENT)

    def with_device_secrets(self, previous: Mapping[str, Any] | None = None,
                            generate: bool = True) -> ServiceRequest:
        """This request with a secret for every device its options give by id alone (see
        :mod:`myonion.gateway_secrets`): the one the device had in ``previous`` (the options
        of the service this request replaces), else a new one unless ``generate`` is False
        (when only comparing). Itself when no option lists devices."""
        options = gateway_secrets.complete(self.template, dict(self.options),
                                           dict(previous or {}), generate=generate)
        return self if options == dict(self.options) else replace(self, options=options)

    def as_backend(self, master: str) -> ServiceRequest:
        """This request as a backend of the Onionbalance frontend at ``master``: with a key
        of its own (made unless it has one), so persistent."""
        master = master.strip().lower()
        return replace(self, balance_master=master, mode=Mode.PERSISTENT,
                       key=balance_backend_key(master, self.key))


def differences(wanted: ServiceRequest, current: ServiceRequest) -> list[str]:
    """How the service ``current`` describes differs from ``wanted`` (empty: it is as asked):
    two values compared, nothing checked again."""
    if current.template.id != wanted.template.id:
        return [f"template {current.template.id} → {wanted.template.id}"]
    found: list[str] = []
    changed = sorted(k for k in set(wanted.options) | set(current.options)
                     if wanted.options.get(k) != current.options.get(k))
    if changed:
        found.append("options " + ", ".join(changed))
    if current.mode != wanted.mode:
        found.append(f"{current.mode} → {wanted.mode}")
    if current.network != wanted.network:
        found.append(f"network {current.network} → {wanted.network}")
    if sorted(current.clients) != sorted(wanted.clients):
        found.append("clients")
    if dict(current.limits) != dict(wanted.limits):
        found.append("limits")
    if current.deployment != wanted.deployment:
        found.append("deployment")
    return found


# --- the checks, one function each ----------------------------------------------------------
def check_name(name: str) -> str:
    """Return ``name`` if it is a valid service name, else raise OptionError."""
    if not NAME_RE.match(name):
        raise OptionError(
            f"'{name}' is not a valid service name.",
            hint="Use 1-40 lower-case letters, digits and '-', starting with a letter or digit.",
        )
    return name


def check_limits(limits: Mapping[str, Any] | None) -> Limits:
    """Resource limits checked and normalised: ``memory`` (e.g. "128m", "1g", at least 32m)
    and ``pids`` (16-32768); keys left out take the defaults. Raises OptionError."""
    result: Limits = {}
    for key, value in (limits or {}).items():
        if key == "memory":
            text = str(value).strip().lower().removesuffix("b")
            match = _MEMORY_RE.fullmatch(text)
            if match is None or isinstance(value, bool):
                raise OptionError(f"A memory limit of '{value}' is not a size.",
                                  hint="Write e.g. 128m, 512m or 1g.")
            if int(match.group(1)) * _MEMORY_UNITS[match.group(2)] < MIN_MEMORY:
                raise OptionError(f"A memory limit of {value} is too small for tor and a "
                                  "service.", hint="Give at least 32m.")
            result[key] = text
        elif key == "pids":
            if isinstance(value, bool) or not isinstance(value, int | str) or not str(
                    value).strip().isdigit():
                raise OptionError(f"A pids limit of '{value}' is not a whole number.")
            if not MIN_PIDS <= int(value) <= MAX_PIDS:
                raise OptionError(f"A pids limit of {value} is out of range.",
                                  hint=f"Give {MIN_PIDS} to {MAX_PIDS}.")
            result[key] = int(value)
        else:
            raise OptionError(f"There is no limit '{key}'.", hint="Limits: memory, pids.")
    return result


def check_clients(clients: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The client names, each checked, none twice; raises OptionError."""
    names = [keys.check_client_name(c) for c in clients or ()]
    if len(set(names)) != len(names):
        raise OptionError("The same client name was given twice.",
                          hint="Give each --client a different name.")
    return tuple(names)


def check_host_ports(ports: HostPorts) -> None:
    """Refuse host ports that are taken or addresses this machine does not have, before
    anything is built (Docker would only say so when the container starts)."""
    for target, (address, port) in ports.items():
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        kind = socket.SOCK_DGRAM if target.endswith("/udp") else socket.SOCK_STREAM
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError as e:
                if e.errno == errno.EACCES:  # a low port: Docker may bind it, we may not
                    continue
                what = ("is in use already" if e.errno == errno.EADDRINUSE
                        else f"cannot be used ({e.strerror})")
                raise OptionError(f"Port {port} on {address} {what}.",
                                  hint="Choose another port, or an address of this machine "
                                  "(127.0.0.1, its LAN address, or 0.0.0.0).") from None


def check_folders(template: TemplateSpec, values: Mapping[str, Any], whole_home: bool) -> None:
    """The host folders a service will read: a whole home folder only with the user's yes
    (:class:`folders.WholeHomeFolder`), and one its service user can be given (raises
    OptionError before anything is built)."""
    for mount in template.mounts:
        if values.get(mount.option):
            folders.confirm_folder(mount.option, values[mount.option], whole_home)
    hostdirs.service_user(template, values)


def balance_backend_key(master: str, key: keys.OnionKey | None) -> keys.OnionKey:
    """The key of a new Onionbalance backend of ``master`` (the one given, else a new one);
    raises OptionError for an address that is no onion or is the backend's own."""
    if not onion.is_valid(master):
        raise OptionError(f"'{master}' is not a v3 onion address, so it cannot be the "
                          "Onionbalance master.", hint="Give the frontend's address "
                          "(56 characters and .onion).")
    key = key or keys.generate_onion_key()
    if key.address == master.strip().lower():
        raise OptionError("A backend cannot have the master's address itself.",
                          hint="Give each backend its own key.")
    return key


# --- the builder ----------------------------------------------------------------------------
def build_request(
    template: TemplateSpec,
    options: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    network: str | None = None,
    persistent: bool = False,
    clients: list[str] | tuple[str, ...] | None = None,
    ttl: float | None = None,
    key: keys.OnionKey | None = None,
    limits: Mapping[str, Any] | None = None,
    deployment: str | None = None,
    balance_master: str | None = None,
    whole_home: bool = False,
    arch: str | None = None,
) -> ServiceRequest:
    """Check everything a request says and return it; raises OptionError (the first mistake,
    in the order the fields are listed here). A backend of ``balance_master`` gets a key of
    its own (made unless ``key`` is given) and, like a request with a ``key``, is persistent.
    Does not look at this machine's folders and ports: see :func:`admit`."""
    values = template.validate(dict(options or {}))
    net = config.resolve_network(network)
    if name is not None:
        check_name(name)
    names = check_clients(clients)
    if ttl is not None:
        access.check_ttl(ttl)
    if balance_master is not None:
        balance_master = balance_master.strip().lower()
        key = balance_backend_key(balance_master, key)
    return ServiceRequest(
        template=template, options=values, network=net, name=name, clients=names, ttl=ttl,
        mode=Mode.PERSISTENT if persistent or key is not None else Mode.EPHEMERAL, key=key,
        limits=check_limits(limits), deployment=deployment, balance_master=balance_master,
        whole_home=whole_home, arch=arches.check(arch) if arch else None)


def admit(request: ServiceRequest, held: Set[tuple[str, int]] = frozenset()) -> None:
    """What this machine must allow before the request is carried out: the folders it reads
    and its host ports (``held``: those the service's own container holds now, which it
    keeps). Raises OptionError."""
    check_folders(request.template, request.options, request.whole_home)
    check_host_ports({k: v for k, v in request.published().items() if v not in held})
