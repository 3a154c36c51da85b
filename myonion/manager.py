"""The facade every surface (CLI, GUI) calls: share, start, stop, rm, ls, status, check, logs.

Docker is the runtime truth (which containers exist and run); the state store holds what the user
asked for. Long operations report progress through the Reporter given at construction.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from myonion import (
    access,
    config,
    fetch,
    folders,
    hardening,
    images,
    keys,
    paths,
    probes,
    render,
    tor,
)
from myonion import arch as arches
from myonion.access import ClientInfo, ClientStore
from myonion.errors import (
    MyOnionError,
    NameInUse,
    OptionError,
    ServiceFailing,
    ServiceNotFound,
    TorError,
)
from myonion.events import Event, Reporter, Stage, log_reporter
from myonion.runtime.base import (
    LABEL_DEPLOYMENT,
    LABEL_HOME,
    LABEL_MODE,
    LABEL_NETWORK,
    LABEL_ROLE,
    LABEL_SERVICE,
    LABEL_TEMPLATE,
    ContainerInfo,
    ContainerSpec,
    Mount,
    Runtime,
)
from myonion.state import ServiceRecord, StateError, StateStore, check_name
from myonion.templates import TemplateRegistry, TemplateSpec

P = ParamSpec("P")
T = TypeVar("T")


def serialised(method: Callable[Concatenate[Manager, str, P], T]
               ) -> Callable[Concatenate[Manager, str, P], T]:
    """Run an operation on one service (its name comes first) under that service's lock, so
    two myonion commands on it (or the app and a command) run one after the other."""

    @wraps(method)
    def locked(self: Manager, name: str, /, *args: P.args, **kwargs: P.kwargs) -> T:
        def waiting() -> None:
            self._report(Stage.STARTING, "Waiting for another myonion command on this service",
                         name)

        with self.store.service_locked(check_name(name), on_wait=waiting):
            return method(self, name, *args, **kwargs)

    return locked

log = logging.getLogger(__name__)

CONTAINER_PREFIX = "myonion-"
DEFAULT_TIMEOUT = 120.0
LOG_TAIL = 20
TOR_DIR = "/var/lib/tor"
#: what a service's tor and entry script leave in its control directory
CONTROL_LEFTOVERS = ("control.sock", "control.authcookie", "hostname", "hold")
#: resource limits of a service's container unless it asks for others (sized for a Pi)
DEFAULT_MEMORY = "256m"
DEFAULT_PIDS = 128
_MEMORY_RE = re.compile(r"([1-9][0-9]{0,12})([kmg]?)")
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
#: below these tor and a small service do not start
MIN_MEMORY = 32 * 1024**2
MIN_PIDS, MAX_PIDS = 16, 32768
HS_DIR = f"{TOR_DIR}/hs"
SECRET_KEY_FILE = f"{HS_DIR}/hs_ed25519_secret_key"


@dataclass
class ServiceView:
    """A service as surfaces show it: the record joined with what Docker says now."""

    name: str
    template: str
    network: str
    mode: str
    state: str  # running | stopped | failed | missing | restarting | created
    stage: str
    address: str | None
    reason: str | None = None
    percent: int | None = None
    container: str | None = None
    health: str | None = None
    created: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: v3 client authorization is on; ``clients`` is how many keys are authorized
    private: bool = False
    clients: int = 0
    #: Unix time the service ends at (time to live) and the seconds left then
    expires_at: float | None = None
    remaining: float | None = None
    #: container port ("1883/tcp") → "host address:port", for what the template published
    published: dict[str, str] = field(default_factory=dict)
    #: the architecture its image is built for (amd64, arm64, armhf)
    arch: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Kept:
    """What removing a persistent service kept: its address (its key), client keys, volumes."""

    name: str
    address: str | None
    clients: int
    volumes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckResult:
    """The outcome of probing a service through a separate tor client (every probe its
    template declares): ``reachable`` only if each one passed; ``onion_up`` when tor reached
    the onion, so a failure is the service's (``error`` says why)."""

    name: str
    address: str
    reachable: bool
    seconds: float
    status: int | None = None
    bytes: int = 0
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    onion_up: bool = False
    #: the container's health as Docker's healthcheck sees it (healthy, unhealthy, starting)
    health: str | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_host_ports(ports: dict[str, tuple[str, int]]) -> None:
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


def check_limits(limits: dict[str, Any] | None) -> dict[str, Any]:
    """Resource limits checked and normalised: ``memory`` (e.g. "128m", "1g", at least 32m)
    and ``pids`` (16-32768); keys left out take the defaults. Raises OptionError."""
    result: dict[str, Any] = {}
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


def check_folders(template: TemplateSpec, values: dict[str, Any], whole_home: bool) -> None:
    """The host folders a service will read: a whole home folder only with the user's yes
    (:class:`folders.WholeHomeFolder`), and one its service user can be given (raises
    OptionError before anything is built)."""
    for mount in template.mounts:
        if values.get(mount.option):
            folders.confirm_folder(mount.option, values[mount.option], whole_home)
    service_user(template, values)


def balance_backend_key(master: str, key: keys.OnionKey | None) -> keys.OnionKey:
    """The key of a new Onionbalance backend of ``master`` (the one given, else a new one);
    raises OptionError for an address that is no onion or is the backend's own."""
    if not tor.is_valid_onion(master):
        raise OptionError(f"'{master}' is not a v3 onion address, so it cannot be the "
                          "Onionbalance master.", hint="Give the frontend's address "
                          "(56 characters and .onion).")
    key = key or keys.generate_onion_key()
    if key.address == master.strip().lower():
        raise OptionError("A backend cannot have the master's address itself.",
                          hint="Give each backend its own key.")
    return key


def container_name(service: str) -> str:
    return CONTAINER_PREFIX + service


def home_label() -> str:
    """Identifies this data directory on containers, so each setup lists only its services."""
    return hashlib.sha256(str(paths.data_dir()).encode()).hexdigest()[:16]


def tor_user() -> str:
    """tor runs as uid 10001; its group is a non-root host user's own, so that user reads the
    control socket, cookie and address (root: tor's own group)."""
    gid = os.getegid()
    return f"{render.TOR_UID}:{gid if gid != 0 else render.TOR_UID}"


#: what a container starts as: root with only these capabilities, which myonion-entry needs to
#: start tor and the service as their two users (setpriv empties every capability set of each,
#: the bounding set too: SETPCAP) and to stop them; every other capability is dropped
ENTRY_CAPS = ("SETUID", "SETGID", "SETPCAP", "KILL")


def service_user(template: TemplateSpec, values: dict[str, Any]) -> str:
    """The "uid:gid" a service runs as: never tor's user, so it cannot read the onion key.

    A service that reads a folder of the host (the site's ``dir``) runs as that folder's
    owner, so a folder only its owner may read is served as it is (nothing copied, no mode
    changed): when the owner is root or tor's uid and the folder is open to everyone, the
    ordinary service user is enough. Onionbalance's frontend is tor's own helper (it holds the
    master key and talks to tor), so it runs as tor's user. Raises OptionError for a folder
    that only tor's uid could read."""
    if template.service_is_tor:
        return tor_user()
    default = f"{render.SERVICE_UID}:{render.SERVICE_UID}"
    for mount in template.mounts:
        path = values.get(mount.option)
        if not path:
            continue
        st = os.stat(path)
        open_to_all = folders.open_to_everyone(path)
        if st.st_uid == render.TOR_UID:
            if open_to_all:
                return default
            raise OptionError(
                f"{path} belongs to uid {render.TOR_UID}, which is tor's inside the container, "
                "and others may not read it.",
                hint=f"Let others read it (chmod -R o+rX {path}) or share a copy owned by you.")
        if st.st_uid == 0 and open_to_all:
            return default
        return f"{st.st_uid}:{render.SERVICE_UID}"
    return default


class Manager:
    """Creates and manages myonion services."""

    def __init__(
        self,
        runtime: Runtime | None = None,
        store: StateStore | None = None,
        registry: TemplateRegistry | None = None,
        reporter: Reporter = log_reporter,
        testnet: Any | None = None,
        arch: str | None = None,
    ) -> None:
        """``arch``: the architecture of the services this manager makes (default:
        ``$MYONION_ARCH``, else this machine's); a service keeps the one it was made with."""
        if runtime is None:
            from myonion.runtime import default_runtime

            runtime = default_runtime()
        self.runtime = runtime
        self.store = store or StateStore()
        self.registry = registry or TemplateRegistry()
        self.reporter = reporter
        self._testnet = testnet
        self._arch = arch

    @property
    def arch(self) -> str:
        """The architecture new services are made for (see :meth:`__init__`)."""
        return arches.resolve(self._arch)

    @arch.setter
    def arch(self, value: str | None) -> None:
        self._arch = arches.check(value) if value else None

    @staticmethod
    def record_arch(record: ServiceRecord) -> str:
        """The architecture of a service's image (records made before myonion built for other
        architectures hold none: they are this machine's)."""
        return record.arch or arches.host()

    # templates ----------------------------------------------------------------------------
    def templates(self) -> list[TemplateSpec]:
        return self.registry.all()

    def template(self, template_id: str) -> TemplateSpec:
        return self.registry.get(template_id)

    @property
    def testnet(self) -> Any:
        if self._testnet is None:
            from myonion.testnet import Testnet

            self._testnet = Testnet(self.runtime, self.reporter)
        return self._testnet

    # share --------------------------------------------------------------------------------
    def share(
        self,
        template_id: str,
        options: dict[str, Any] | None = None,
        name: str | None = None,
        network: str | None = None,
        persistent: bool = False,
        wait: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        clients: list[str] | None = None,
        ttl: float | None = None,
        key: keys.OnionKey | None = None,
        deployment: str | None = None,
        limits: dict[str, Any] | None = None,
        balance_master: str | None = None,
        whole_home: bool = False,
        arch: str | None = None,
    ) -> ServiceView:
        """Validate, build, run and (unless ``wait`` is False) wait until the onion serves.

        ``clients`` makes it private from the first second (a key each, see :meth:`client_line`);
        ``ttl`` (seconds) stops it after that long, and removes it if ephemeral; ``key`` serves
        an existing onion key (an imported or vanity key), which makes it persistent.
        ``balance_master`` (an onion address) makes it a backend of that Onionbalance frontend
        (persistent; a key is made unless given; see :mod:`myonion.balance`).
        ``whole_home``: the user said yes to sharing a whole home folder. ``arch``: the
        architecture to build and run it for (default :attr:`arch`; another than this
        machine's runs through emulation, see :mod:`myonion.arch`).
        """
        template = self.registry.get(template_id)
        arch = arches.check(arch) if arch else self.arch
        values = template.validate(options or {})
        check_folders(template, values, whole_home)
        check_host_ports(template.published(values))
        net = config.resolve_network(network)
        if name is not None:
            check_name(name)
        client_names = self._check_access(clients, ttl)
        if balance_master is not None:
            balance_master = balance_master.strip().lower()
            key = balance_backend_key(balance_master, key)
        persistent = persistent or key is not None
        limits = check_limits(limits)
        self.runtime.ping()
        with self.store.locked():
            name = name or self._free_name(template.id)
            if self.store.exists(name) or self.runtime.get(container_name(name)):
                raise NameInUse(f"A service named '{name}' exists already.")
            # reserve the name before the (long) build so a concurrent share cannot take it
            record = ServiceRecord(name=name, template=template.id, options=values, network=net,
                                   mode="persistent" if persistent else "ephemeral",
                                   stage=Stage.BUILDING, private=bool(client_names),
                                   expires_at=time.time() + ttl if ttl else None,
                                   deployment=deployment, limits=limits,
                                   balance_master=balance_master, arch=arch)
            self.store.put(record)
        with self.store.service_locked(name):
            return self._build_and_start(record, template, client_names, key, wait, timeout)

    def _build_and_start(self, record: ServiceRecord, template: TemplateSpec,
                         client_names: list[str], key: keys.OnionKey | None, wait: bool,
                         timeout: float) -> ServiceView:
        """The second half of :meth:`share` (under the service's lock): build the image, make
        the container and start it; a service that fails on the way is removed again."""
        name, net = record.name, record.network
        try:
            if net == "local":
                self._ensure_testnet()
            self._report(Stage.BUILDING, f"Preparing the image of template '{template.id}'",
                         name)
            record.image = images.template_image(self.runtime, template, self._reporter(name),
                                                 arch=self.record_arch(record))
            store = self._clients(name)
            for client in client_names:
                store.add(keys.generate_client_key(client))
            self._create_container(record, template)
            if key is not None:
                self._install_key(record, key)
                record.address = key.address
            self.store.put(record)
        except BaseException:
            self._forget(name)
            raise
        try:
            self._start_container(record, wait=wait, timeout=timeout)
        except BaseException:
            # a service that never became ready is not left half-made behind
            self._forget(name)
            raise
        return self.status(name)

    @staticmethod
    def _check_access(clients: list[str] | None, ttl: float | None) -> list[str]:
        """The client names, checked, and the time to live's range; raises OptionError."""
        client_names = [keys.check_client_name(c) for c in clients or []]
        if len(set(client_names)) != len(client_names):
            raise OptionError("The same client name was given twice.",
                              hint="Give each --client a different name.")
        if ttl is not None and not access.MIN_TTL <= ttl <= access.MAX_TTL:
            raise OptionError(f"A time to live of {ttl:g} s is out of range.",
                              hint="Give between 10s and 366d.")
        return client_names

    def _free_name(self, base: str) -> str:
        name, n = base, 1
        while self.store.exists(name) or self.runtime.get(container_name(name)):
            n += 1
            name = f"{base}-{n}"
        return name

    def _ensure_testnet(self) -> None:
        if not self.testnet.is_up():
            self._report(Stage.STARTING, "Starting the local Tor test network", None)
            self.testnet.up()

    def _report(self, stage: Stage, message: str, service: str | None,
                percent: int | None = None) -> None:
        self.reporter(Event(stage, message, percent=percent, service=service))

    def _reporter(self, service: str) -> Reporter:
        def report(event: Event) -> None:
            self.reporter(Event(event.stage, event.message, event.percent, service,
                                event.detail, event.data))
        return report

    def _control_dir(self, name: str) -> Path:
        return self.store.service_dir(name) / "ctl"

    @staticmethod
    def rendered_files(record: ServiceRecord, template: TemplateSpec) -> dict[str, str]:
        """The runtime files (torrc and the template's) of ``record``, as its container gets
        them; an Onionbalance backend's torrc has its instance line."""
        uid = int(service_user(template, record.options).partition(":")[0])
        service = {"name": record.name, "network": record.network, "mode": record.mode,
                   "uid": uid}
        tor_settings = {"balance_instance": True} if record.balance_master else None
        return render.render_runtime_files(template, service, record.options, tor_settings)

    def _create_container(self, record: ServiceRecord, template: TemplateSpec) -> None:
        directory = self.store.service_dir(record.name)
        conf = directory / "conf"
        conf.mkdir(exist_ok=True)
        secret_files = hardening.write_rendered(conf, template, record.options,
                                                self.rendered_files(record, template))
        self._write_expiry(record)
        if record.private:
            self._clients(record.name).write_auth()
        os.chmod(conf, 0o755)
        self._prepare_control_dir(record.name, record.image)
        self._hand_to_container(conf, secret_files, record.image,
                                service_user(template, record.options))
        existing = set(self.runtime.list_volumes({LABEL_SERVICE: record.name,
                                                  LABEL_HOME: home_label()}))
        # created here with labels (not implicitly by Docker), so `rm` finds them by label
        for volume in self._service_volumes(record, template):
            self.runtime.create_volume(volume.source, {LABEL_SERVICE: record.name,
                                                       LABEL_HOME: home_label()})
        self._migrate_data_volumes(record, template, existing)
        self.runtime.create(self._container_spec(record, template, directory))

    def _migrate_data_volumes(self, record: ServiceRecord, template: TemplateSpec,
                              existing: set[str]) -> None:
        """Hand data volumes made by an older myonion, when tor and the service were one
        user (tor's, 10001), to the service's user, so the service keeps its data (readings,
        a queue, SSH host keys) and tor's user keeps only the onion key. Runs only for volumes
        that existed before and only changes those still owned by tor's uid."""
        prefix = container_name(record.name)
        old = [v for v in template.volumes if f"{prefix}-{v.name}" in existing]
        user = service_user(template, record.options)
        if not old or template.service_is_tor:
            return
        script = (f'for d in /v/*; do [ "$(stat -c %u "$d")" = {render.TOR_UID} ] && '
                  f'chown -R {user} "$d"; done; true')
        code, output = self.runtime.run_task(
            record.image, ["sh", "-c", script],
            [Mount(f"{prefix}-{v.name}", f"/v/{v.name}", volume=True) for v in old],
            user="0:0", cap_add=["CHOWN", "DAC_READ_SEARCH", "FOWNER"])
        if code != 0:
            raise MyOnionError(f"The data of service '{record.name}' could not be handed to "
                               "its service's user.", detail=output.strip()[-500:] or None)

    @staticmethod
    def _service_volumes(record: ServiceRecord, template: TemplateSpec) -> list[Mount]:
        """The named volumes that belong to this service alone (data, and a persistent key)."""
        prefix = container_name(record.name)
        volumes = [Mount(f"{prefix}-{v.name}", v.target, volume=True) for v in template.volumes]
        if record.mode == "persistent":
            volumes.append(Mount(f"{prefix}-tor", "/var/lib/tor", volume=True))
        return volumes

    def _container_spec(self, record: ServiceRecord, template: TemplateSpec,
                        directory: Path) -> ContainerSpec:
        uid = render.TOR_UID
        mounts = [
            Mount(str(directory / "conf"), "/etc/myonion", read_only=True),
            Mount(str(directory / "ctl"), "/run/myonion/ctl"),
        ]
        for m in template.mounts:
            if record.options.get(m.option):
                mounts.append(Mount(str(record.options[m.option]), m.target, read_only=True))
        mounts += self._service_volumes(record, template)
        tmpfs = {path: "rw,nosuid,nodev,size=64m" for path in template.tmpfs}
        if record.mode != "persistent":
            # ephemeral: the onion key lives in memory only and is gone when the container stops
            tmpfs["/var/lib/tor"] = f"rw,nosuid,nodev,size=32m,uid={uid},gid={uid},mode=0700"
        if template.tor_client:
            # where the service asks tor's side for fresh circuits (myonion-newnym's FIFO)
            tmpfs["/run/myonion/newnym"] = f"rw,nosuid,nodev,noexec,size=16k,uid={uid}," \
                f"gid={uid},mode=0711"
        user = service_user(template, record.options)
        environment = {"MYONION_TOR_USER": tor_user(), "MYONION_SERVICE_USER": user}
        if template.service_is_tor:
            environment["MYONION_SERVICE_IS_TOR"] = "1"
        network = None
        # only what the template publishes when asked (e.g. the MQTT LAN port), nothing else
        ports = template.published(record.options)
        extra_networks: list[str] = []
        if record.network == "local":
            # the test network's settings come in through a read-only include; the torrc and the
            # image stay the same as on the public network
            network = self.testnet.network
            mounts.append(Mount(self.testnet.include_volume, "/etc/tor/torrc.d",
                                read_only=True, volume=True))
            if ports:
                # the test network is internal and cannot publish; its access bridge (no IP
                # masquerade, so still no way out) can, as for the test network's SOCKS port
                extra_networks.append(self.testnet.access_network)
        return ContainerSpec(
            name=container_name(record.name),
            image=record.image,
            labels={
                LABEL_SERVICE: record.name,
                LABEL_TEMPLATE: record.template,
                LABEL_MODE: record.mode,
                LABEL_NETWORK: record.network,
                LABEL_ROLE: "service",
                LABEL_HOME: home_label(),
                **({LABEL_DEPLOYMENT: record.deployment} if record.deployment else {}),
            },
            # root with ENTRY_CAPS only: myonion-entry starts tor and the service as two users
            user="0:0",
            environment=environment,
            mounts=mounts,
            tmpfs=tmpfs,
            network=network,
            extra_networks=extra_networks,
            ports=ports,
            cap_add=[*ENTRY_CAPS, *template.cap_add],
            # a service with a time to live ends with status 0 and must stay ended
            restart="unless-stopped" if record.mode == "persistent" and not record.expires_at
            else "on-failure",
            healthcheck=template.healthcheck or None,
            # what the service's programs may use; under emulation qemu-user's share on top
            mem_limit=arches.memory_limit(str(record.limits.get("memory", DEFAULT_MEMORY)),
                                          self.record_arch(record)),
            pids_limit=int(record.limits.get("pids", DEFAULT_PIDS)),
            hostname=record.name,
        )

    def _prepare_control_dir(self, name: str, image: str) -> None:
        """The directory tor puts its control socket, cookie and hostname in: the container
        user's (see :func:`tor_user`), 0750, which tor insists on for a control socket.

        Run by root on the host, os.chown does it. An ordinary host user (one in the
        ``docker`` group, as the desktop app's user) cannot chown, so a one-off root container
        with CAP_CHOWN and CAP_FOWNER does; the directory's group is then that user's group
        (tor runs with it), so the user reads the hostname and cookie and uses the socket, but
        anything in the directory is changed through :meth:`_in_control_dir`.
        """
        ctl = self._control_dir(name)
        ctl.mkdir(exist_ok=True)
        uid, _, gid = tor_user().partition(":")
        if os.geteuid() == 0:
            os.chown(ctl, int(uid), int(gid))
            os.chmod(ctl, 0o750)
            return
        code, output = self.runtime.run_task(
            image, ["sh", "-c", f"chown {uid}:{gid} /ctl && chmod 0750 /ctl"],
            [Mount(str(ctl), "/ctl")], user="0:0", cap_add=["CHOWN", "FOWNER"])
        if code != 0:
            raise MyOnionError(f"The control directory of service '{name}' could not be "
                               "handed to its container's user.",
                               detail=output.strip()[-500:] or None)

    def _in_control_dir(self, name: str, remove: tuple[str, ...] = (),
                        create: tuple[str, ...] = ()) -> None:
        """Remove and create (empty) files in a service's control directory: directly as
        root, else through a one-off container running as the directory's owner."""
        ctl = self._control_dir(name)
        if os.geteuid() == 0 or not ctl.exists() or ctl.stat().st_uid == os.geteuid():
            for filename in remove:
                (ctl / filename).unlink(missing_ok=True)
            for filename in create:
                (ctl / filename).touch()
            return
        script = " && ".join([f"rm -f {' '.join(f'/ctl/{f}' for f in remove) or '/ctl/.none'}",
                              *(f": > /ctl/{f}" for f in create)])
        code, output = self.runtime.run_task(
            images.tor_image(self.runtime), ["sh", "-c", script], [Mount(str(ctl), "/ctl")],
            user=tor_user())
        if code != 0:
            raise MyOnionError(f"The control directory of service '{name}' could not be "
                               "tidied up.", detail=output.strip()[-500:] or None)

    def _hand_to_container(self, conf: Path, filenames: list[str], image: str,
                           user: str) -> None:
        """Give the (0600) runtime files that hold secrets to the service's ``user``, so it
        alone can read them in the container (and only root on the host); tor needs none of
        them."""
        if not filenames:
            return
        uid, _, gid = user.partition(":")
        if os.geteuid() == 0:
            for filename in filenames:
                os.chown(conf / filename, int(uid), int(gid))
            return
        code, output = self.runtime.run_task(
            image, ["chown", f"{uid}:{gid}", *(f"/conf/{f}" for f in filenames)],
            [Mount(str(conf), "/conf")], user="0:0", cap_add=["CHOWN"])
        if code != 0:
            raise MyOnionError("The service's secret configuration files could not be handed "
                               "to its container's user.", detail=output.strip()[-500:] or None)

    def _clear_control_dir(self, name: str, hold: bool = False) -> Path:
        """Remove what an earlier run left in the control directory; ``hold``: and leave the
        file that makes the entry script start tor with its network disabled."""
        ctl = self._control_dir(name)
        self._in_control_dir(name, remove=CONTROL_LEFTOVERS, create=("hold",) if hold else ())
        return ctl

    # start / stop / rm --------------------------------------------------------------------
    def _start_container(self, record: ServiceRecord, wait: bool, timeout: float) -> None:
        name = record.name
        # waiting: tor starts with DisableNetwork until we have subscribed to its events
        self._clear_control_dir(name, hold=wait)
        self._set_stage(name, Stage.STARTING)
        self._report(Stage.STARTING, "Starting the container", name)
        started = time.monotonic()
        self.runtime.start(container_name(name))
        if wait:
            self._wait_ready(record, started, timeout)

    def _wait_ready(self, record: ServiceRecord, started: float, timeout: float) -> None:
        name = record.name
        ctl = self._control_dir(name)

        def alive() -> bool:
            info = self.runtime.get(container_name(name))
            return info is not None and info.status in ("running", "created")

        self._set_stage(name, Stage.BOOTSTRAPPING)
        try:
            readiness = tor.wait_published(
                ctl, lambda: self._read_address(name), release_network=True,
                timeout=timeout, alive=alive, reporter=self._reporter(name), service=name)
        except TorError as e:
            self._fail(name, e)
            raise
        address = self._read_address(name)
        timings = {"bootstrapped": round(readiness.bootstrapped or 0, 3),
                   "published": round(readiness.uploaded or 0, 3)}
        info = self.runtime.get(container_name(name))
        self.store.update(name, address=address, stage=Stage.PUBLISHED, reason=None,
                          timings=timings, started_at=info.started_at if info else None)
        if record.network == "local" and record.private and self._check_key(name) is None:
            # private with every client removed: nobody can reach it, not even the check
            self._report(Stage.PUBLISHED, "Published; private with no client keys, so "
                         "reachability cannot be checked", name)
        elif record.network == "local":
            remaining = max(10.0, timeout - (time.monotonic() - started))
            result = self.check(name, timeout=remaining)
            if not result.reachable and result.onion_up:
                error: TorError = ServiceFailing(
                    f"Service '{name}' is published, but it does not work: {result.error}.",
                    hint="Fix what the reason says and share it again; the service's own log "
                    f"is in `myonion logs {name}`.")
                self._fail(name, error)
                raise error
            if not result.reachable:
                error = TorError(f"Service '{name}' was published but could not be reached "
                                 f"through the test network: {result.error}")
                self._fail(name, error)
                raise error
            timings["reachable"] = round(time.monotonic() - started, 3)
            self.store.update(name, timings=timings)

    def _fail(self, name: str, error: MyOnionError) -> None:
        error.detail = error.detail or "\n".join(self._log_tail(name))
        error.hint = error.hint or f"See the whole log with `myonion logs {name}`."
        self.store.update(name, stage=Stage.FAILED, reason=error.message)
        self._report(Stage.FAILED, error.message, name)

    def _log_tail(self, name: str) -> list[str]:
        try:
            return list(self.runtime.logs(container_name(name), tail=LOG_TAIL))
        except MyOnionError:
            return []

    def _set_stage(self, name: str, stage: Stage) -> None:
        self.store.update(name, stage=stage, reason=None)

    def _read_address(self, name: str) -> str | None:
        try:
            text = (self._control_dir(name) / "hostname").read_text().strip()
        except OSError:
            return None
        return text if tor.is_valid_onion(text) else None

    def _record(self, name: str) -> ServiceRecord:
        check_name(name)
        record = self.store.get(name)
        if record is None:
            raise ServiceNotFound(f"There is no service named '{name}'.")
        return record

    @serialised
    def start(self, name: str, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> ServiceView:
        """Start a stopped service (ephemeral ones get a new address) and wait until it serves.

        A service taken down (:meth:`take_down`) gets its container made again first.
        """
        record = self._record(name)
        info = self.runtime.get(container_name(name))
        if info is None and record.stage != Stage.DOWN:
            raise MyOnionError(f"The container of service '{name}' is gone.",
                               hint=f"Remove it with `myonion rm {name}` and share it again.")
        if info is not None and info.running:
            return self.status(name)
        if record.network == "local":
            self._ensure_testnet()
        if info is None:
            self._create_container(record, self.registry.get(record.template))
        self._start_container(record, wait=wait, timeout=timeout)
        return self.status(name)

    @serialised
    def stop(self, name: str) -> ServiceView:
        """Stop a service; an ephemeral one forgets its address (its key was only in memory)."""
        record = self._record(name)
        self._report(Stage.STOPPED, "Stopping", name)
        if self.runtime.get(container_name(name)) is not None:
            self.runtime.stop(container_name(name))
        self._clear_control_dir(name)
        changes: dict[str, Any] = {"stage": Stage.STOPPED, "reason": None}
        if record.mode == "ephemeral":
            changes["address"] = None
        self.store.update(name, **changes)
        return self.status(name)

    @serialised
    def remove(self, name: str, purge: bool = False) -> Kept | None:
        """Remove a service. An ephemeral one goes entirely (its key lived only in memory).
        A persistent one loses its container only, unless ``purge``: its onion key, client
        keys and data stay (returned as :class:`Kept`), ``ls`` lists it, :meth:`start` brings
        it back at the same address and ``remove(name, purge=True)`` deletes them. ``purge``
        also removes a service whose record cannot be read; without it such a service is
        refused (what to keep is unknown), so nothing is lost by accident."""
        check_name(name)
        try:
            record = self.store.get(name)
        except StateError:
            if not purge:
                raise StateError(
                    f"The record of service '{name}' cannot be read, so what to keep of it "
                    "is unknown; nothing was removed.",
                    hint=f"`myonion repair {name}` makes the record again; `myonion rm --purge "
                    f"{name}` removes it with its keys and data.") from None
            record = None
        if record is None:
            info = self.runtime.get(container_name(name))
            ours = info is not None and info.labels.get(LABEL_HOME) == home_label()
            if not ours and not self.store.exists(name):
                raise ServiceNotFound(f"There is no service named '{name}'.")
            if not purge:
                raise StateError(
                    f"Service '{name}' has a container but no record, so what to keep of it "
                    "is unknown; nothing was removed.",
                    hint=f"`myonion repair {name}` makes the record again from the container; "
                    f"`myonion rm --purge {name}` removes it with its keys and data.")
        if purge or record is None or record.mode != "persistent":
            self._report(Stage.STOPPED, "Removing", name)
            self._forget(name)
            return None
        self._take_down(record, "Removing (its key, client keys and data are kept)")
        return Kept(name=name, address=record.address,
                    clients=len(self._clients(name).names()),
                    volumes=sorted(self.runtime.list_volumes({LABEL_SERVICE: name,
                                                              LABEL_HOME: home_label()})))

    @serialised
    def take_down(self, name: str) -> ServiceView:
        """Remove the service's container but keep the rest: its record, its volumes (a
        persistent onion key, data) and its client keys (what ``myonion down`` does without
        ``--purge``). :meth:`start` makes the container again, and a persistent service comes
        back at the same address; ``remove(name, purge=True)`` forgets everything."""
        self._take_down(self._record(name), "Taking down (keys and data kept)")
        return self.status(name)

    def _take_down(self, record: ServiceRecord, message: str) -> None:
        name = record.name
        self._report(Stage.STOPPED, message, name)
        self.runtime.remove(container_name(name))
        self._clear_control_dir(name)
        changes: dict[str, Any] = {"stage": Stage.DOWN, "reason": None, "expires_at": None,
                                   "started_at": None}
        if record.mode == "ephemeral":
            changes["address"] = None
        record = self.store.update(name, **changes) or record
        self._write_expiry(record)

    def _forget(self, name: str) -> None:
        try:
            record = self.store.get(name)
        except StateError:
            record = self.store.backup(name)
        if record is not None and record.private and record.network == "local":
            with contextlib.suppress(MyOnionError):
                self.testnet.deauthorize(self._testnet_key(name))
        self.runtime.remove(container_name(name))
        for volume in self.runtime.list_volumes({LABEL_SERVICE: name, LABEL_HOME: home_label()}):
            self.runtime.remove_volume(volume)
        ctl = self._control_dir(name)
        if ctl.is_dir() and os.geteuid() != 0 and ctl.stat().st_uid != os.geteuid():
            # what tor made there is its own: emptied by its user, so the directory can go
            self.runtime.run_task(images.tor_image(self.runtime),
                                  ["find", "/ctl", "-mindepth", "1", "-delete"],
                                  [Mount(str(ctl), "/ctl")], user=tor_user())
        with self.store.locked():
            self.store.remove(name)

    # access: client authorization -----------------------------------------------------------
    def _clients(self, name: str) -> ClientStore:
        return ClientStore(self.store.service_dir(name))

    @staticmethod
    def _testnet_key(name: str) -> str:
        return f"{home_label()}-{name}"

    def _check_key(self, name: str) -> keys.ClientKey | None:
        """A client key the manager can check a private service with (the first one kept)."""
        store = self._clients(name)
        for client in store.names():
            key = store.get(client)
            if key.private is not None:
                return key
        return None

    def clients(self, name: str) -> list[ClientInfo]:
        """The authorized clients of a service (never their private keys)."""
        self._record(name)
        store = self._clients(name)
        return [store.info(c) for c in store.names()]

    @serialised
    def client_add(self, name: str, client: str, public_key: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT) -> keys.ClientKey:
        """Authorize a new client (a fresh x25519 pair, or the public key the user brings).

        The first client makes a public service private. A running service takes the change
        at once, without a restart, so its address stays.
        """
        record = self._record(name)
        keys.check_client_name(client)
        store = self._clients(name)
        if store.exists(client):
            raise NameInUse(f"Service '{name}' has a client named '{client}' already.",
                            hint=f"Remove it first with `myonion clients rm {name} {client}`, "
                            "or pick another name.")
        key = (keys.client_key_from_public(client, public_key) if public_key
               else keys.generate_client_key(client))
        store.add(key)
        if not record.private:
            self.store.update(name, private=True)
        self._apply_clients(name)
        self._report(Stage.PUBLISHED, f"Client '{client}' may now connect to '{name}'", name)
        return key

    @serialised
    def client_remove(self, name: str, client: str) -> None:
        """Revoke a client: new connections with its key fail; the address stays."""
        store = self._client_store_with(name, client)
        store.remove(client)
        self._apply_clients(name)
        self._report(Stage.PUBLISHED, f"Client '{client}' can no longer connect to '{name}'"
                     + ("" if store.names() else "; nobody can until a client is added"), name)

    def client_key(self, name: str, client: str) -> keys.ClientKey:
        """A client's key pair, as kept (for its ``.auth_private`` line or a QR code)."""
        return self._client_store_with(name, client).get(client)

    def _client_store_with(self, name: str, client: str) -> ClientStore:
        """The client store of service ``name``, which must have a client named ``client``."""
        self._record(name)
        store = self._clients(name)
        if not store.exists(client):
            raise MyOnionError(f"Service '{name}' has no client named '{client}'.",
                               hint=f"See its clients with `myonion clients ls {name}`.")
        return store

    def client_line(self, name: str, client: str) -> str:
        """The line a client puts into its ClientOnionAuthDir (``<addr>:descriptor:x25519:KEY``)."""
        key = self.client_key(name, client)
        if key.private is None:
            raise MyOnionError(f"The private key of client '{client}' was never here: it "
                               "was added with its public key only.",
                               hint="The client has its private key itself.")
        return key.auth_private_line(self.address(name))

    def _apply_clients(self, name: str) -> None:
        """Hand a running container the new client list and have tor reload it (SIGHUP)."""
        record = self._record(name)
        self._clients(name).write_auth()
        info = self.runtime.get(container_name(name))
        if info is None or not info.running:
            return
        code, output = self.runtime.exec(container_name(name),
                                         ["/usr/local/bin/myonion-entry", "--reload-clients"])
        if code != 0:
            raise MyOnionError(f"Service '{name}' did not take the new client list.",
                               hint=f"Restart it: `myonion stop {name}` and `myonion start "
                               f"{name}`.", detail=output)
        if record.network == "local":
            key, address = self._check_key(name), self._read_address(name)
            with contextlib.suppress(MyOnionError):
                if key is not None and address:
                    self.testnet.authorize(self._testnet_key(name),
                                           key.auth_private_line(address))
                else:
                    self.testnet.deauthorize(self._testnet_key(name))

    # access: the onion key --------------------------------------------------------------------
    def _tor_volume(self, name: str) -> str:
        return f"{container_name(name)}-tor"

    def read_key(self, name: str) -> keys.OnionKey:
        """The service's onion key: from the running container, or a persistent one's volume."""
        record = self._record(name)
        command = ["base64", "-w0", SECRET_KEY_FILE]
        info = self.runtime.get(container_name(name))
        if info is not None and info.running:
            # as tor's user: nobody else in the container can read the key
            code, output = self.runtime.exec(container_name(name), command, user=tor_user())
        elif record.mode == "persistent":
            code, output = self.runtime.run_task(
                record.image, command, [Mount(self._tor_volume(name), TOR_DIR, volume=True)],
                user=tor_user())
        else:
            raise MyOnionError(f"Service '{name}' is ephemeral and stopped: its key existed "
                               "only in memory and is gone.",
                               hint=f"Start it (`myonion start {name}`, a new address), or "
                               "keep the next one with `myonion promote`.")
        if code != 0:
            raise MyOnionError(f"The key of service '{name}' could not be read (has it been "
                               "started once?).", detail=output.strip()[-500:] or None)
        try:
            return keys.parse_secret_key_file(base64.b64decode(output.strip()))
        except (binascii.Error, ValueError) as e:
            raise MyOnionError(f"The key of service '{name}' could not be read.") from e

    def export_key(self, name: str, passphrase: str) -> bytes:
        """The service's onion key encrypted with ``passphrase`` (see docs/key-export.md)."""
        key = self.read_key(name)
        return keys.export_key(key, passphrase, service=name)

    def _install_key(self, record: ServiceRecord, key: keys.OnionKey) -> None:
        """Write ``key`` into the (persistent) service's tor volume, replacing any key there."""
        uid = render.TOR_UID
        files = {
            f"{HS_DIR}/": (b"", 0o700),
            SECRET_KEY_FILE: (key.secret_file(), 0o600),
            f"{HS_DIR}/hs_ed25519_public_key": (key.public_file(), 0o600),
        }
        if record.balance_master:
            # tor reads the master's address of an Onionbalance backend from its HS directory
            files[f"{HS_DIR}/ob_config"] = (
                f"MasterOnionAddress {record.balance_master}\n".encode(), 0o600)
        code, output = self.runtime.run_task(
            record.image, ["rm", "-f", f"{HS_DIR}/hostname"],
            [Mount(self._tor_volume(record.name), TOR_DIR, volume=True)], files=files,
            user=f"{uid}:{uid}")
        if code != 0:
            raise MyOnionError(f"The key could not be written for service '{record.name}'.",
                               detail=output.strip()[-500:] or None)

    def _recreate(self, name: str, key: keys.OnionKey | None = None, persistent: bool = False,
                  rebuild: bool = False, timeout: float = DEFAULT_TIMEOUT) -> ServiceView:
        """Make the service's container again (volumes kept): to turn it persistent, put a key
        in, or run a freshly built image. A service that ran is started again."""
        record = self._record(name)
        template = self.registry.get(record.template)
        info = self.runtime.get(container_name(name))
        was_running = info is not None and info.running
        if rebuild:
            record.image = images.template_image(self.runtime, template, self._reporter(name),
                                                 force=True, arch=self.record_arch(record))
        if persistent or key is not None:
            record.mode = "persistent"
        if info is not None:
            self._report(Stage.STOPPED, "Replacing the container", name)
            self.runtime.remove(container_name(name))
        self._install_container(record, template, key)
        if was_running:
            self._start_container(record, wait=True, timeout=timeout)
        return self.status(name)

    def _install_container(self, record: ServiceRecord, template: TemplateSpec,
                           key: keys.OnionKey | None) -> None:
        """Create the container of ``record`` (its old one is gone; volumes are kept), with
        ``key`` put into its tor volume when given, and store the record as stopped."""
        self._clear_control_dir(record.name)
        self._create_container(record, template)
        if key is not None:
            self._install_key(record, key)
            record.address = key.address
        record.stage = Stage.STOPPED
        self.store.put(record)

    @serialised
    def promote(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> ServiceView:
        """Make a running ephemeral service persistent, keeping its current address."""
        record = self._record(name)
        if record.mode == "persistent":
            raise MyOnionError(f"Service '{name}' is persistent already.")
        if not self.status(name, live=False).state == "running":
            raise MyOnionError(f"Service '{name}' is not running, so it has no key to keep.",
                               hint=f"Start it with `myonion start {name}` (it gets a new "
                               "address), then promote it.")
        key = self.read_key(name)
        view = self._recreate(name, key=key, timeout=timeout)
        if view.address != key.address:
            raise TorError(f"Service '{name}' came back at {view.address}, not at "
                           f"{key.address}.")
        return view

    @serialised
    def import_key(self, name: str, key: keys.OnionKey,
                   timeout: float = DEFAULT_TIMEOUT) -> ServiceView:
        """Serve ``key`` (a restored export or a vanity key) from now on; makes it persistent.

        A running service is restarted with the key; a stopped one keeps it for its next start.
        """
        self._record(name)
        for other in self.store.all():
            if other.name != name and other.address == key.address:
                raise NameInUse(f"Service '{other.name}' serves {key.address} already.",
                                hint="Two services cannot publish the same address.")
        view = self._recreate(name, key=key, timeout=timeout)
        if view.state == "running" and view.address != key.address:
            raise TorError(f"Service '{name}' came up at {view.address}, not at the imported "
                           f"{key.address}.")
        return view

    @serialised
    def rebuild(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> ServiceView:
        """Build the service's image afresh and run a new container from it; a persistent
        service keeps its address, data and clients."""
        return self._recreate(name, rebuild=True, timeout=timeout)

    @serialised
    def reconfigure(
        self,
        name: str,
        template_id: str,
        options: dict[str, Any] | None = None,
        network: str | None = None,
        persistent: bool = False,
        clients: list[str] | None = None,
        ttl: float | None = None,
        limits: dict[str, Any] | None = None,
        deployment: str | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        whole_home: bool = False,
        arch: str | None = None,
    ) -> ServiceView:
        """Give an existing service a new configuration (what :meth:`share` takes) and start
        it in a new container, as ``myonion up`` does for a changed deployment service.

        Everything is checked before anything changes. Its volumes stay: a persistent service
        keeps its address and data, and a running ephemeral one made persistent keeps the
        address it has; only volumes the new configuration has no use for are removed (the
        data of another template, the key of a service made ephemeral). Its clients are made
        to match ``clients``: kept ones keep their keys, new ones get a key each, and with
        none the service is public.
        """
        record = self._record(name)
        template = self.registry.get(template_id)
        arch = arches.check(arch) if arch else self.arch
        values = template.validate(options or {})
        check_folders(template, values, whole_home)
        net = config.resolve_network(network)
        client_names = self._check_access(clients, ttl)
        limits = check_limits(limits)
        info = self.runtime.get(container_name(name))
        held = set(info.ports.values()) if info is not None else set()
        check_host_ports({k: v for k, v in template.published(values).items() if v not in held})
        self.runtime.ping()
        key = None
        if persistent and record.mode == "ephemeral" and info is not None and info.running:
            key = self.read_key(name)  # the address it has now is kept
        new = ServiceRecord(**{**asdict(record), "template": template.id, "options": values,
                               "network": net, "private": bool(client_names),
                               "mode": "persistent" if persistent else "ephemeral",
                               "expires_at": time.time() + ttl if ttl else None,
                               "limits": limits, "deployment": deployment, "arch": arch,
                               "stage": Stage.BUILDING, "reason": None})
        if net == "local":
            self._ensure_testnet()
        new.image = images.template_image(self.runtime, template, self._reporter(name),
                                          arch=arch)
        if info is not None:
            self._report(Stage.STOPPED, "Replacing the container", name)
            self.runtime.remove(container_name(name))
        try:
            old_template = self.registry.get(record.template)
            old = {v.source for v in self._service_volumes(record, old_template)}
        except MyOnionError:
            old = set(self.runtime.list_volumes({LABEL_SERVICE: name, LABEL_HOME: home_label()}))
        for volume in old - {v.source for v in self._service_volumes(new, template)}:
            self.runtime.remove_volume(volume)
        self._sync_clients(name, client_names)
        if new.mode == "ephemeral":
            new.address = None  # (a key, given only when made persistent, sets it again)
        self._install_container(new, template, key)
        self._start_container(new, wait=wait, timeout=timeout)
        return self.status(name)

    def _sync_clients(self, name: str, client_names: list[str]) -> None:
        """Make the kept client keys match ``client_names`` (none: the service is public)."""
        store = self._clients(name)
        for client in store.names():
            if client not in client_names:
                store.remove(client)
        for client in client_names:
            if not store.exists(client):
                store.add(keys.generate_client_key(client))
        if not client_names:
            store.clear()
            with contextlib.suppress(OSError):
                store.auth_dir.rmdir()

    def container_spec(self, record: ServiceRecord, directory: Path) -> ContainerSpec:
        """The container a service with ``record`` gets (what :meth:`share` creates), with its
        rendered configuration in ``directory``/conf and its control directory in
        ``directory``/ctl: for exports such as a Compose file."""
        return self._container_spec(record, self.registry.get(record.template), directory)

    # access: time to live -------------------------------------------------------------------
    def _write_expiry(self, record: ServiceRecord) -> None:
        path = self.store.service_dir(record.name) / "conf" / "expires"
        if record.expires_at:
            path.write_text(f"{int(record.expires_at)}\n")
            os.chmod(path, 0o644)
        else:
            path.unlink(missing_ok=True)

    def expire(self, name: str | None = None) -> list[str]:
        """End the services whose time to live has run out (all, or just ``name``): an
        ephemeral one is removed, a persistent one stopped (its key and data kept).

        The container stops itself at that time too (its entry script knows the deadline), so
        this only tidies up what is left; it runs on every listing, in any process.
        """
        if name is None:
            return self._expire(self.store.all())
        try:
            record = self.store.get(name)
        except StateError:
            return []  # an unreadable record is reported by whoever reads it next
        return self._expire([record] if record is not None else [])

    def _expire(self, records: list[ServiceRecord]) -> list[str]:
        now = time.time()
        ended: list[str] = []
        for record in records:
            # the container ends itself at the whole second in conf/expires (_write_expiry),
            # so the deadline is that second here too, not the fraction after it
            if not record.expires_at or int(record.expires_at) > now:
                continue
            if record.stage == Stage.BUILDING or self.store.busy(record.name):
                continue  # being made (or changed) right now by another command
            self._report(Stage.STOPPED, "Its time to live has run out", record.name)
            if record.mode == "ephemeral":
                self._forget(record.name)
            else:
                if self.runtime.get(container_name(record.name)) is not None:
                    self.runtime.stop(container_name(record.name))
                self._clear_control_dir(record.name)
                self.store.update(record.name, expires_at=None, stage=Stage.STOPPED,
                                  reason="its time to live ran out")
                record.expires_at = None
                self._write_expiry(record)
            ended.append(record.name)
        return ended

    # queries ------------------------------------------------------------------------------
    def prune_images(self, dry_run: bool = False) -> images.PruneResult:
        """Remove the images of older versions of templates and layers that no container
        uses (``myonion prune``); what myonion builds now stays, as does every image in use."""
        in_use = {c.image for c in self.runtime.list_containers({})}
        return images.prune(self.runtime, self.registry.all(), in_use, dry_run=dry_run)

    def list(self) -> list[ServiceView]:
        """Every myonion service, from Docker's containers joined with the records."""
        found, broken = self.store.scan()
        if self._expire(found):
            found, broken = self.store.scan()  # read again what expiry changed
        containers = {c.labels.get(LABEL_SERVICE, ""): c
                      for c in self.runtime.list_containers({LABEL_ROLE: "service",
                                                             LABEL_HOME: home_label()})}
        records = {r.name: r for r in found}
        names = sorted(set(containers) | set(records) | set(broken))
        return [self._broken_view(n, broken[n], containers.get(n)) if n in broken
                else self._view(records.get(n), containers.get(n), n) for n in names if n]

    def _broken_view(self, name: str, error: StateError, info: ContainerInfo | None
                     ) -> ServiceView:
        """A service whose record cannot be read, as far as its container tells."""
        if info is not None:
            view = self._view(None, info, name)
        else:
            view = ServiceView(name=name, template="?", network="?", mode="?", state="missing",
                               stage=str(Stage.FAILED), address=None)
        view.stage = str(Stage.FAILED)
        view.reason = (f"{error.message} `myonion repair {name}` makes it again "
                       "(its keys and data are kept).")
        return view

    @serialised
    def repair(self, name: str) -> ServiceView:
        """Make a service's record again when it cannot be read (corrupted, half-written,
        garbage): from its last good copy, else from its container's labels and what is in
        its service directory. The unreadable file is kept beside it; the container, the
        volumes (keys, data) and the client keys are not touched."""
        try:
            if self.store.get(name) is not None:
                raise MyOnionError(f"The record of service '{name}' is fine: nothing to repair.")
        except StateError:
            pass
        info = self.runtime.get(container_name(name))
        ours = info is not None and info.labels.get(LABEL_HOME) == home_label()
        if not self.store.exists(name) and not ours:
            raise ServiceNotFound(f"There is no service named '{name}'.")
        record = self.store.backup(name)
        source = "its last good copy"
        if record is None:
            if info is None or not ours:
                raise StateError(
                    f"The record of service '{name}' cannot be made again: it has no good copy "
                    "and no container to take its template, network and mode from.",
                    hint=f"Share it again under another name; `myonion rm {name}` removes "
                    "what is left of it (its volumes too).")
            record = self._record_from_labels(name, info)
            source = "its container's labels (its options are unknown: share it again to " \
                     "change them)"
        kept = self.store.set_aside(name)
        with self.store.locked():
            self.store.put(record)
        self._report(Stage.STOPPED, f"The record was made again from {source}"
                     + (f"; the unreadable one is kept at {kept}" if kept else ""), name)
        return self.status(name, live=False)

    def _record_from_labels(self, name: str, info: ContainerInfo) -> ServiceRecord:
        """A record rebuilt from the container's labels and the service directory."""
        labels = info.labels
        record = ServiceRecord(name=name, template=labels.get(LABEL_TEMPLATE, "?"), options={},
                               network=labels.get(LABEL_NETWORK, "?"),
                               mode=labels.get(LABEL_MODE, "ephemeral"), image=info.image,
                               stage=Stage.STOPPED,
                               reason="rebuilt from its container's labels",
                               arch=self._image_arch(info.image))
        record.private = (self.store.root / name / "conf" / access.AUTH_DIR).is_dir()
        with contextlib.suppress(OSError, ValueError):
            expires = (self.store.root / name / "conf" / "expires").read_text().strip()
            record.expires_at = float(expires) if expires else None
        if info.running:
            record.address = self._read_address(name)
            record.stage = Stage.PUBLISHED if record.address else Stage.STARTING
        return record

    def _image_arch(self, image: str) -> str | None:
        """The architecture an image's metadata names (None if unknown or not one of ours)."""
        try:
            return arches.from_platform(*self.runtime.image_platform(image))
        except MyOnionError:
            return None

    def status(self, name: str, live: bool = True) -> ServiceView:
        self.expire(name)
        record = self._record(name)
        view = self._view(record, self.runtime.get(container_name(name)), name)
        if live and view.state == "running" and view.stage in (Stage.STARTING,
                                                                Stage.BOOTSTRAPPING):
            view.percent = tor.bootstrap_percent(self._control_dir(name))
        return view

    def _view(self, record: ServiceRecord | None, info: ContainerInfo | None,
              name: str) -> ServiceView:
        if record is None:
            assert info is not None
            labels = info.labels
            record = ServiceRecord(name=name, template=labels.get(LABEL_TEMPLATE, "?"),
                                   options={}, network=labels.get(LABEL_NETWORK, "?"),
                                   mode=labels.get(LABEL_MODE, "?"))
        stage = record.stage or Stage.STOPPED
        reason = record.reason
        if info is None and stage == Stage.DOWN:
            kept = (f"its key ({record.address}), client keys and data are kept"
                    if record.mode == "persistent" and record.address else
                    "its record and client keys are kept")
            state, reason = "stopped", (
                f"removed; {kept}: `myonion start {name}` brings it back"
                + (" at the same address" if record.mode == "persistent" else "")
                + f", `myonion rm --purge {name}` deletes them")
        elif info is None:
            state = "missing" if record.image else "creating"
            if state == "missing":
                stage, reason = Stage.FAILED, "its container was removed outside myonion"
        elif info.status == "exited":
            # 143: SIGTERM from a stop; 137 (SIGKILL) only counts as stopped if we stopped it
            stopped = info.exit_code in (0, 143) or stage == Stage.STOPPED
            state = "stopped" if stopped else "failed"
            if state == "failed" and stage != Stage.FAILED:
                stage, reason = Stage.FAILED, f"the container exited with status {info.exit_code}"
            elif state == "stopped":
                stage = Stage.STOPPED
        else:
            state = info.status
            if (state == "running" and record.started_at and stage in (
                    Stage.PUBLISHED, Stage.REACHABLE, Stage.FAILING)
                    and info.started_at != record.started_at):
                # restarted behind our back (restart policy, engine restart): not measured yet
                stage, reason = Stage.BOOTSTRAPPING, "restarted since it was last checked"
        address = self._read_address(name) if info is not None and info.running else None
        return ServiceView(
            name=name, template=record.template, network=record.network, mode=record.mode,
            state=state, stage=str(stage), address=address or (
                record.address if record.mode == "persistent" else None),
            reason=reason, container=info.id[:12] if info else None,
            health=info.health if info else None, created=record.created,
            options=self._public_options(record), timings=record.timings,
            private=record.private,
            clients=len(self._clients(name).names()) if record.private else 0,
            expires_at=record.expires_at,
            remaining=max(0.0, record.expires_at - time.time()) if record.expires_at else None,
            published={k: f"{a}:{p}" for k, (a, p) in info.ports.items()} if info else {},
            arch=self.record_arch(record))

    def _public_options(self, record: ServiceRecord) -> dict[str, Any]:
        """The record's options without the values of secret options (tokens never shown)."""
        try:
            return self.registry.get(record.template).public_options(record.options)
        except MyOnionError:
            return dict(record.options)

    def address(self, name: str) -> str:
        view = self.status(name, live=False)
        if not view.address:
            raise MyOnionError(f"Service '{name}' has no address right now (it is {view.state}).",
                               hint=f"Start it with `myonion start {name}`.")
        return view.address

    def logs(self, name: str, tail: int | None = None, follow: bool = False) -> Iterator[str]:
        self._record(name)
        if self.runtime.get(container_name(name)) is None:
            raise MyOnionError(f"Service '{name}' has no container, so it has no logs.")
        return self.runtime.logs(container_name(name), tail=tail, follow=follow)

    # reachability -------------------------------------------------------------------------
    def socks_for(self, network: str) -> tuple[str, int]:
        """The SOCKS port of a tor client *separate* from the service, for the given network."""
        if network == "local":
            socks: tuple[str, int] = self.testnet.socks()
            return socks
        return config.public_socks()

    def check(self, name: str, timeout: float = 60.0) -> CheckResult:
        """Prove the service works: run every probe its template declares (the page, the SSH
        banner, an MQTT CONNACK, …) through a separate tor client. The stage becomes
        reachable when each passes, failing (with the reason) when the onion answered but the
        service did not; a service tor could not reach keeps its stage."""
        record = self._record(name)
        view = self.status(name, live=False)
        if view.state != "running" or not view.address:
            raise MyOnionError(f"Service '{name}' is not running, so it cannot be reached.",
                               hint=f"Start it with `myonion start {name}`.")
        template = self.registry.get(record.template)
        proxy = self.socks_for(record.network)
        if record.private and record.network == "local":
            client = self._check_key(name)
            if client is None:
                return CheckResult(name, view.address, False, 0.0, health=view.health,
                                   error="it is private and has no client key to check with")
            # the test network's client gets the key (one file per service, replaced)
            self.testnet.authorize(self._testnet_key(name),
                                   client.auth_private_line(view.address))
        self._report(Stage.PUBLISHED, f"Checking {view.address} through a separate tor client",
                     name)
        start = time.monotonic()
        verdict = probes.Verdict()
        for spec in template.probes:
            if spec.applies(record.options):
                left = max(5.0, timeout - (time.monotonic() - start))
                verdict.results.append(probes.run_until(spec, proxy, view.address, left))
                if not verdict.results[-1].ok:
                    break
        seconds = round(time.monotonic() - start, 3)
        info = self.runtime.get(container_name(name))
        started_at = info.started_at if info else None
        first = verdict.results[0] if verdict.results else None
        result = CheckResult(name, view.address, verdict.reachable, seconds,
                             status=first.status if first else None,
                             bytes=first.bytes if first else 0, error=verdict.reason,
                             onion_up=verdict.onion_up, health=info.health if info else None,
                             probes=[r.to_dict() for r in verdict.results])
        if verdict.reachable:
            self.store.update(name, stage=Stage.REACHABLE, reason=None, started_at=started_at)
            self._report(Stage.REACHABLE, f"Reachable at {view.address} ({seconds:.1f} s)",
                         name, percent=100)
        elif verdict.onion_up:
            reason = f"the onion answers, but {verdict.reason}"
            self.store.update(name, stage=Stage.FAILING, reason=reason, started_at=started_at)
            self._report(Stage.FAILING, reason, name)
        return result

    def fetch(self, url: str, network: str | None = None, timeout: float = 60.0) -> fetch.Response:
        """GET a URL through the configured tor client (the test network's when local)."""
        return fetch.http_get_retry(url, self.socks_for(config.resolve_network(network)),
                                    timeout=timeout)
