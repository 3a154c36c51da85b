"""One onion address served by several backends, through Onionbalance (v3).

A balanced service NAME is a frontend NAME (template ``onionbalance``: tor + onionbalance, holding
the master key) and backends NAME-b1 … NAME-bN (any web template, each with its own tor and key,
``HiddenServiceOnionbalanceInstance 1`` and the master's address in its ``ob_config``). myonion
makes every key itself, so all addresses are known before anything starts: the backends first,
then the frontend with their addresses.

The frontend fetches the backends' descriptors from the HSDirs and publishes a master descriptor
with their introduction points. A client that finds a backend's introduction point dead tries the
next one, so the master address keeps serving while any backend runs. Onionbalance only drops a
backend once it can no longer fetch its descriptor (the HSDirs keep a stopped backend's
descriptor until it expires), so "listed" in :func:`status` means "onionbalance has a fresh
descriptor of it", not "it is up".
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from myonion import keys
from myonion.errors import MyOnionError, NameInUse, OptionError, ServiceNotFound
from myonion.services.context import container_name
from myonion.services.manager import Manager
from myonion.services.readiness import DEFAULT_TIMEOUT
from myonion.services.request import build_request, check_name
from myonion.services.views import ServiceView
from myonion.templates import TemplateSpec

FRONTEND_TEMPLATE = "onionbalance"
#: name, state and stage of a backend that runs elsewhere (only its address is known here)
REMOTE = "remote"
MAX_BACKENDS = 8
#: the frontend's status socket (onionbalance's JSON summary), in its control directory
STATUS_SOCKET = "balance.sock"
#: seconds after which onionbalance counts a backend's descriptor as old (test network / public
#: network: INSTANCE_DESCRIPTOR_TOO_OLD), plus one fetch round (FETCH_DESCRIPTOR_FREQUENCY + 5 s)
FRESH_SECONDS = {"local": 20 + 25, "tor": 3600 + 605}


@dataclass
class BackendState:
    """One backend of a balanced service: its own state, and what the frontend knows of it."""

    name: str
    address: str | None
    state: str
    stage: str
    #: onionbalance has a fresh descriptor of it, so its intro points go into the master's
    #: descriptor (None: the frontend's status is not available)
    listed: bool | None = None
    descriptor_age: float | None = None
    intro_points: int | None = None
    #: when onionbalance last saw its set of introduction points change (UTC), if it did
    intro_set_changed: str | None = None


@dataclass
class BalanceView:
    """A balanced service: the frontend (the master address) and its backends."""

    name: str
    address: str | None
    frontend: ServiceView
    backends: list[BackendState] = field(default_factory=list)
    #: when onionbalance last tried to publish the master's two descriptors (UTC), if known
    published: dict[str, str | None] = field(default_factory=dict)
    #: why the frontend's own view of the backends is missing, if it is
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backend_name(name: str, index: int) -> str:
    return f"{name}-b{index}"


def serves_web_page(template: TemplateSpec) -> bool:
    """True if the template's first onion port is a web page on port 80: what a frontend
    checks the master address with, so what a balanced template must serve."""
    first = template.ports[0] if template.ports else None
    return first is not None and (first.virtual, first.protocol) == (80, "http")


def check_template(template: TemplateSpec) -> None:
    """The rules of a balanced service's template (its backends'): not a frontend itself,
    and a web page on port 80, which the frontend checks the master address with. Raises
    OptionError."""
    if template.balance_frontend:
        raise OptionError("A frontend cannot be balanced itself.",
                          hint="Give the template of the backends, e.g. site.")
    if not serves_web_page(template):
        raise OptionError(f"Template '{template.id}' does not serve a web page on port 80, "
                          "which the frontend checks the master address with.",
                          hint="Balance a web template such as site.")


def share(manager: Manager, template_id: str, options: dict[str, Any] | None = None,
          name: str | None = None, backends: int = 2, network: str | None = None,
          timeout: float = DEFAULT_TIMEOUT) -> BalanceView:
    """Make ``backends`` persistent services of ``template_id`` (NAME-b1 …) and an Onionbalance
    frontend NAME publishing one master address for them; wait until the master address serves.

    Everything made is removed again if a step fails.
    """
    template = manager.template(template_id)
    check_template(template)
    if not 1 <= backends <= MAX_BACKENDS:
        raise OptionError(f"{backends} backends is out of range.",
                          hint=f"Give 1 to {MAX_BACKENDS}.")
    name = check_name(name or f"{template_id}-lb")
    names = [name] + [backend_name(name, i) for i in range(1, backends + 1)]
    ctx = manager.context
    for each in names:
        check_name(each)
        if ctx.store.exists(each) or ctx.runtime.get(container_name(each)):
            raise NameInUse(f"A service named '{each}' exists already.",
                            hint="Choose another --name.")
    # one request, checked once, for every backend
    wanted = build_request(template, options, network=network)
    master = keys.generate_onion_key()
    made: list[str] = []
    try:
        for each in names[1:]:
            made.append(each)
            manager.share(wanted.named(each).as_backend(master.address), timeout=timeout)
        addresses = [manager.address(each) for each in names[1:]]
        made.append(name)
        manager.share(FRONTEND_TEMPLATE, {"instances": " ".join(addresses)}, name=name,
                      network=network, key=master, timeout=timeout)
    except BaseException:
        for each in reversed(made):
            with contextlib.suppress(MyOnionError):
                manager.remove(each, purge=True)  # made just now, by this failed share
        raise
    return status(manager, name)


def is_frontend(manager: Manager, view: ServiceView) -> bool:
    """True if ``view`` is the frontend of a balanced service."""
    try:
        return manager.template(view.template).balance_frontend
    except MyOnionError:
        return False


def _frontend(manager: Manager, name: str) -> ServiceView:
    view = manager.status(name, live=False)
    if not manager.template(view.template).balance_frontend:
        raise MyOnionError(f"Service '{name}' is not a balanced service (it is a "
                           f"'{view.template}').",
                           hint="`myonion balance share` makes one.")
    return view


def backends(manager: Manager, name: str) -> list[str]:
    """The names of the backends of balanced service ``name`` (those naming its address)."""
    front = manager.context.store.get(name)
    if front is None:
        raise ServiceNotFound(f"There is no service named '{name}'.")
    return sorted(r.name for r in manager.context.store.all()
                  if r.balance_master and r.balance_master == front.address)


def read_status_socket(path: Path, timeout: float = 5.0) -> dict[str, Any]:
    """Onionbalance's JSON summary from its status socket; OSError/ValueError if unavailable."""
    chunks = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = json.loads(b"".join(chunks).decode())
    if not isinstance(data, dict):
        raise ValueError("the status is not a JSON object")
    return data


def _age(stamp: str | None, now: datetime.datetime) -> float | None:
    if not stamp:
        return None
    try:
        when = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return max(0.0, (now - when.replace(tzinfo=datetime.UTC)).total_seconds())


def status(manager: Manager, name: str) -> BalanceView:
    """The frontend, each backend's state and whether onionbalance lists it (from the
    frontend's status socket while it runs)."""
    front = _frontend(manager, name)
    view = BalanceView(name=name, address=front.address, frontend=front)
    for each in backends(manager, name):
        own = manager.status(each, live=False)
        view.backends.append(BackendState(each, own.address, own.state, own.stage))
    # backends on other machines (a deployment file's balance.remote): known by address only
    record = manager.context.store.get(name)
    listed = str(record.options.get("instances", "")) if record else ""
    here = {b.address for b in view.backends}
    for address in listed.replace(",", " ").split():
        if address not in here:
            view.backends.append(BackendState(REMOTE, address, REMOTE, REMOTE))
    if front.state != "running":
        view.note = "the frontend is not running, so nobody publishes the master address"
        return view
    try:
        summary = read_status_socket(manager.context.control_dir(name) / STATUS_SOCKET)
        service = summary["services"][0]
        instances = {i["onionAddress"]: i for i in service["instances"]}
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        view.note = f"the frontend's status is not available yet ({e})"
        return view
    view.published = {"first": service.get("publishAttemptFirstDescriptor"),
                      "second": service.get("publishAttemptSecondDescriptor")}
    now = datetime.datetime.now(datetime.UTC)
    fresh = FRESH_SECONDS.get(front.network, FRESH_SECONDS["tor"])
    for backend in view.backends:
        instance = instances.get(backend.address or "")
        if instance is None:
            backend.listed = False
            continue
        age = _age(instance.get("descriptorReceived") or instance.get("received"), now)
        backend.descriptor_age = None if age is None else round(age, 1)
        backend.intro_points = instance.get("introPointsNum")
        backend.intro_set_changed = instance.get("introSetModified")
        backend.listed = age is not None and age <= fresh
    return view


def remove(manager: Manager, name: str, purge: bool = False) -> list[str]:
    """Remove a balanced service: the frontend and every backend. Their keys (the master key
    among them), client keys and data are kept unless ``purge``, as for any persistent
    service: starting them again brings the master address back."""
    _frontend(manager, name)
    names = [name, *backends(manager, name)]
    for each in names:
        manager.remove(each, purge=purge)
    return names
