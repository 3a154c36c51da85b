"""What the facade's collaborators share: the runtime, the records, the templates, the reporter
and the test network, in one small object passed to each of them (:class:`ServiceContext`).

Collaborators get this, never the facade: they cannot call back into it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Generic, Protocol, TypeVar, overload, runtime_checkable

from myonion import arch as arches
from myonion import paths
from myonion.errors import TestnetError
from myonion.events import Event, Reporter, Stage
from myonion.runtime.base import LABEL_HOME, LABEL_SERVICE, Runtime
from myonion.services.store import StateStore
from myonion.templates import TemplateRegistry, TemplateSpec

#: a container's name is this and the service's
CONTAINER_PREFIX = "myonion-"
#: for this long after a context saw the whole test network up, a share looks only at its
#: client and network (:meth:`ServiceContext.ensure_testnet`)
TESTNET_SEEN = 60.0


def container_name(service: str) -> str:
    return CONTAINER_PREFIX + service


def home_label() -> str:
    """Identifies this data directory on containers, so each setup lists only its services."""
    return hashlib.sha256(str(paths.data_dir()).encode()).hexdigest()[:16]


def volume_labels(service: str) -> dict[str, str]:
    """The labels of a service's volumes (and what finds them again)."""
    return {LABEL_SERVICE: service, LABEL_HOME: home_label()}


@runtime_checkable
class TestnetPort(Protocol):
    """What the services need of the local test network (:class:`myonion.testnet.Testnet`;
    the unit tests' ``FakeTestnet``): whether it runs, its tor client (and what that client
    remembers of onions), and where a service's container joins it."""

    #: the (internal) network services join, its access bridge, and the volume with the
    #: torrc lines that point a service's tor at the test network's authorities
    network: str
    access_network: str
    include_volume: str

    def is_up(self) -> bool: ...

    def up(self) -> object: ...

    def socks(self) -> tuple[str, int]: ...

    def authorize(self, key: str, auth_private_line: str) -> None: ...

    def deauthorize(self, key: str) -> None: ...

    def forget_onions(self) -> bool: ...

    def stopped_nodes(self) -> list[str]: ...


class TemplateCache(TemplateRegistry):
    """A registry that parses each ``template.yaml`` once, and again only when it changed (or
    a user template now overrides it): one command parses each template it uses once."""

    def __init__(self, dirs: list[tuple[Path, bool]] | None = None) -> None:
        super().__init__(dirs)
        self._parsed: dict[str, tuple[TemplateSpec, tuple[str, int, int, int] | None]] = {}

    @classmethod
    def over(cls, registry: TemplateRegistry | None) -> TemplateRegistry:
        """A cache over the folders of ``registry`` (a default one when None); a registry of
        another kind is used as it is."""
        if registry is None:
            return cls()
        if type(registry) is TemplateRegistry:
            return cls(registry.dirs)
        return registry

    def _stamp(self, template_id: str) -> tuple[str, int, int, int] | None:
        """Which manifest a (known) template id is read from now, and its size and times."""
        for root, _ in reversed(self.dirs):
            manifest = root / template_id / "template.yaml"
            try:
                st = manifest.stat()
            except OSError:
                continue
            return str(manifest), st.st_mtime_ns, st.st_size, st.st_ino
        return None

    def get(self, template_id: str) -> TemplateSpec:
        cached = self._parsed.get(template_id)
        if cached is not None and cached[1] == self._stamp(template_id):
            return cached[0]
        spec = super().get(template_id)  # refuses an id that is no template's
        self._parsed[template_id] = (spec, self._stamp(template_id))
        return spec


class ServiceContext:
    """The runtime, store, templates, reporter and test network one facade works with, and
    the architecture its new services are made for."""

    def __init__(self, runtime: Runtime, store: StateStore, registry: TemplateRegistry,
                 reporter: Reporter, testnet: TestnetPort | None = None,
                 arch: str | None = None) -> None:
        self.runtime = runtime
        self.store = store
        self.registry = registry
        self.reporter = reporter
        self._testnet = testnet
        self._arch = arches.check(arch) if arch else None
        #: when this context last saw the whole test network up (monotonic), and the lock
        #: that lets one share at a time look at it whole (and bring it up)
        self._testnet_seen: float | None = None
        self._testnet_lock = threading.Lock()

    @property
    def arch(self) -> str:
        """The architecture new services are made for: the one given, else ``$MYONION_ARCH``,
        else this machine's; a service keeps the one it was made with."""
        return arches.resolve(self._arch)

    @arch.setter
    def arch(self, value: str | None) -> None:
        self._arch = arches.check(value) if value else None

    @property
    def testnet(self) -> TestnetPort:
        """The local test network (made on first use: most commands never need it)."""
        if self._testnet is None:
            from myonion.testnet import Testnet

            self._testnet = Testnet(self.runtime, self.reporter)
        return self._testnet

    def report(self, stage: Stage, message: str, service: str | None,
               percent: int | None = None) -> None:
        self.reporter(Event(stage, message, percent=percent, service=service))

    def reporter_for(self, service: str) -> Reporter:
        """A reporter that names ``service`` in every event (e.g. for an image build)."""

        def report(event: Event) -> None:
            self.reporter(Event(event.stage, event.message, event.percent, service,
                                event.detail, event.data))

        return report

    def ensure_testnet(self) -> None:
        """Bring the test network up unless it is.

        Shares at once look at the whole network once: its status lists every container,
        which the engine answers only after the containers it is starting (20 shares at
        once waited up to 3.5 s each for it). For :data:`TESTNET_SEEN` seconds after it was
        seen whole, a share checks only that its client runs on its network (what the
        proof needs: :meth:`TestnetPort.socks`); a network found down then, or not seen
        for longer, is looked at whole again, by one share at a time."""
        if self._saw_testnet_lately():
            return
        with self._testnet_lock:
            if self._saw_testnet_lately():
                return  # another share looked (or brought it up) while this one waited
            if not self.testnet.is_up():
                self.report(Stage.STARTING, "Starting the local Tor test network", None)
                self.testnet.up()
            self._testnet_seen = time.monotonic()

    def _saw_testnet_lately(self) -> bool:
        seen = self._testnet_seen
        if seen is None or time.monotonic() - seen > TESTNET_SEEN:
            return False
        try:
            self.testnet.socks()
        except TestnetError:
            self._testnet_seen = None
            return False
        return True

    def control_dir(self, name: str) -> Path:
        """Where a service's tor puts its control socket, cookie and hostname."""
        return self.store.service_dir(name) / "ctl"

    def conf_dir(self, name: str) -> Path:
        """A service's rendered configuration (mounted read-only at /etc/myonion)."""
        return self.store.service_dir(name) / "conf"

    def deployments_dir(self) -> Path:
        """Where each deployment name's claim is kept (the file it was brought up from),
        beside the service records."""
        return self.store.root.parent / "deployments"


V = TypeVar("V")


class HasContext(Protocol):
    context: ServiceContext


class FromContext(Generic[V]):
    """An attribute of the facade that is its context's (``manager.reporter = …`` sets the
    reporter every collaborator reports through)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, owner: None, kind: type[HasContext]) -> FromContext[V]: ...

    @overload
    def __get__(self, owner: HasContext, kind: type[HasContext]) -> V: ...

    def __get__(self, owner: HasContext | None, kind: type[HasContext]
                ) -> V | FromContext[V]:
        if owner is None:
            return self
        value: V = getattr(owner.context, self.name)
        return value

    def __set__(self, owner: HasContext, value: V) -> None:
        setattr(owner.context, self.name, value)
