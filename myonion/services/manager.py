"""The facade every surface (CLI, GUI, deployments) calls: share, start, stop, rm, ls, status,
check, logs, client keys and onion keys.

It is thin: each method checks what it is given once (a :class:`ServiceRequest`, a name), takes
the service's lock and hands the work to the module named for the job, which gets the
:class:`ServiceContext` (runtime, records, templates, reporter, test network) and nothing of
the facade. Docker is the runtime truth (which containers exist and run); the state store
holds what the user asked for. Long operations report progress through the reporter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from myonion import config, keys
from myonion.access import ClientInfo
from myonion.build import images
from myonion.errors import MyOnionError, NameInUse, ServiceNotFound, StateError, TorError
from myonion.events import Reporter, Stage, log_reporter
from myonion.runtime.base import Runtime
from myonion.services import clients as client_keys
from myonion.services import devices, expiry, lifecycle, onion_keys, readiness, request, views
from myonion.services.context import (
    FromContext,
    ServiceContext,
    TemplateCache,
    TestnetPort,
    container_name,
    volume_labels,
)
from myonion.services.readiness import DEFAULT_TIMEOUT, CheckResult
from myonion.services.request import Mode, ServiceRequest, build_request, check_name
from myonion.services.store import StateStore
from myonion.services.views import Kept, ServiceView
from myonion.templates import TemplateRegistry, TemplateSpec
from myonion.tor import fetch

P = ParamSpec("P")
T = TypeVar("T")


def serialised(method: Callable[Concatenate[Manager, str, P], T]
               ) -> Callable[Concatenate[Manager, str, P], T]:
    """Run an operation on one service (its name comes first) under that service's lock, so
    two myonion commands on it (or the app and a command) run one after the other."""

    @wraps(method)
    def locked(self: Manager, name: str, /, *args: P.args, **kwargs: P.kwargs) -> T:
        def waiting() -> None:
            self.context.report(Stage.STARTING, "Waiting for another myonion command on this "
                                "service", name)

        with self.store.service_locked(check_name(name), on_wait=waiting):
            return method(self, name, *args, **kwargs)

    return locked


class Manager:
    """Creates and manages myonion services."""

    runtime = FromContext[Runtime]("runtime")
    store = FromContext[StateStore]("store")
    registry = FromContext[TemplateRegistry]("registry")
    reporter = FromContext[Reporter]("reporter")
    testnet = FromContext[TestnetPort]("testnet")
    #: the architecture new services are made for (see :attr:`ServiceContext.arch`)
    arch = FromContext[str]("arch")

    def __init__(self, runtime: Runtime | None = None, store: StateStore | None = None,
                 registry: TemplateRegistry | None = None, reporter: Reporter = log_reporter,
                 testnet: TestnetPort | None = None, arch: str | None = None) -> None:
        """``arch``: the architecture of the services this manager makes (default:
        ``$MYONION_ARCH``, else this machine's; another runs through emulation)."""
        if runtime is None:
            from myonion.runtime import default_runtime

            runtime = default_runtime()
        #: what every collaborator is given (see :mod:`myonion.services.context`)
        self.context = ServiceContext(runtime, store or StateStore(),
                                      TemplateCache.over(registry), reporter, testnet, arch)

    # templates ----------------------------------------------------------------------------
    def templates(self) -> list[TemplateSpec]:
        return self.registry.all()

    def template(self, template_id: str) -> TemplateSpec:
        return self.registry.get(template_id)

    # share and change ---------------------------------------------------------------------
    def share(self, template_id: str | ServiceRequest, options: dict[str, Any] | None = None,
              name: str | None = None, network: str | None = None, persistent: bool = False,
              wait: bool = True, timeout: float = DEFAULT_TIMEOUT,
              clients: list[str] | None = None, ttl: float | None = None,
              key: keys.OnionKey | None = None, deployment: str | None = None,
              limits: dict[str, Any] | None = None, balance_master: str | None = None,
              whole_home: bool = False, arch: str | None = None,
              ahead: bool = False) -> ServiceView:
        """Check, build, run and (unless ``wait`` is False) wait until the onion serves.

        ``template_id``: a template's id (the other arguments are the request; see
        :func:`build_request`), or a request built already (the rest are then ignored but
        ``wait`` and ``timeout``). ``clients`` makes it private from the first second;
        ``ttl`` (seconds) stops it after that long, and removes it if ephemeral; ``key``
        serves an existing onion key, which makes it persistent. ``balance_master`` (an onion
        address) makes it a backend of that Onionbalance frontend (persistent; a key is made
        unless given; see :mod:`myonion.deploy.balance`). ``whole_home``: the user said yes
        to sharing a whole home folder. ``arch``: the architecture to build and run it for
        (default :attr:`arch`; another than this machine's runs through emulation).
        ``ahead``: prepare the share ahead: the onion is published but its service held
        until :meth:`start` (the desktop app, while its share dialog is still open)."""
        wanted = template_id if isinstance(template_id, ServiceRequest) else build_request(
            self.registry.get(template_id), options, name=name, network=network,
            persistent=persistent, clients=clients, ttl=ttl, key=key, deployment=deployment,
            limits=limits, balance_master=balance_master, whole_home=whole_home, arch=arch)
        # for this manager's architecture; a device given without its secret gets one
        wanted = wanted.for_arch(self.context.arch).with_device_secrets()
        request.admit(wanted)
        self.runtime.ping()
        record = lifecycle.reserve(self.context, wanted)
        name = record.name
        with self.store.service_locked(name):
            lifecycle.make(self.context, record, wanted.template, wanted.clients, wanted.key,
                           wait, timeout, hold_service=ahead)
            return self.status(name)

    @serialised
    def reconfigure(self, name: str, template_id: str | ServiceRequest,
                    options: dict[str, Any] | None = None, network: str | None = None,
                    persistent: bool = False, clients: list[str] | None = None,
                    ttl: float | None = None, limits: dict[str, Any] | None = None,
                    deployment: str | None = None, wait: bool = True,
                    timeout: float = DEFAULT_TIMEOUT, whole_home: bool = False,
                    arch: str | None = None) -> ServiceView:
        """Give an existing service a new configuration (what :meth:`share` takes: a
        template's id and the rest, or a request) and start it in a new container, as
        ``myonion up`` does for a changed deployment service.

        Everything is checked before anything changes. Its volumes stay: a persistent service
        keeps its address and data, and a running ephemeral one made persistent keeps the
        address it has; only volumes the new configuration has no use for are removed (the
        data of another template, the key of a service made ephemeral). Its clients are made
        to match the request's: kept ones keep their keys, new ones get a key each, and with
        none the service is public. Its architecture becomes the request's (default:
        :attr:`arch`).
        """
        record = views.record_of(self.context, name)
        wanted = template_id if isinstance(template_id, ServiceRequest) else build_request(
            self.registry.get(template_id), options, network=network, persistent=persistent,
            clients=clients, ttl=ttl, limits=limits, deployment=deployment,
            whole_home=whole_home, arch=arch)
        wanted = wanted.for_arch(self.context.arch)
        lifecycle.reconfigure(self.context, record, wanted, wait=wait, timeout=timeout)
        return self.status(name)

    # start / stop / rm --------------------------------------------------------------------
    @serialised
    def start(self, name: str, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> ServiceView:
        """Start a stopped service (ephemeral ones get a new address) and wait until it serves.

        A service taken down (:meth:`take_down`) gets its container made again first; one
        shared ahead (``share(ahead=True)``) has its service started and proven.
        """
        record = views.record_of(self.context, name)
        info = self.runtime.get(container_name(name))
        if info is None and record.stage != Stage.DOWN:
            raise MyOnionError(f"The container of service '{name}' is gone.",
                               hint=f"Remove it with `myonion rm {name}` and share it again.")
        template = self.registry.get(record.template)
        if info is not None and info.running:
            readiness.release(self.context, record, template, timeout)
            return self.status(name)
        if record.network == "local":
            self.context.ensure_testnet()
        if info is None:
            lifecycle.create_container(self.context, record, template)
        readiness.start(self.context, record, template, wait=wait, timeout=timeout)
        return self.status(name)

    @serialised
    def stop(self, name: str) -> ServiceView:
        """Stop a service; an ephemeral one forgets its address (its key was only in memory)."""
        record = views.record_of(self.context, name)
        lifecycle.stop(self.context, record)
        changes: dict[str, Any] = {"stage": Stage.STOPPED, "reason": None}
        if record.mode is Mode.EPHEMERAL:
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
            if not views.is_ours(self.runtime.get(container_name(name))) and \
                    not self.store.exists(name):
                raise ServiceNotFound(f"There is no service named '{name}'.")
            if not purge:
                raise StateError(
                    f"Service '{name}' has a container but no record, so what to keep of it "
                    "is unknown; nothing was removed.",
                    hint=f"`myonion repair {name}` makes the record again from the container; "
                    f"`myonion rm --purge {name}` removes it with its keys and data.")
        if purge or record is None or record.mode is not Mode.PERSISTENT:
            self.context.report(Stage.STOPPED, "Removing", name)
            lifecycle.forget(self.context, name)
            return None
        lifecycle.take_down(self.context, record, "Removing (its key, client keys and data "
                            "are kept)")
        return Kept(name=name, address=record.address,
                    clients=len(client_keys.store(self.context, name).names()),
                    volumes=sorted(self.runtime.list_volumes(volume_labels(name))))

    @serialised
    def take_down(self, name: str) -> ServiceView:
        """Remove the service's container but keep the rest: its record, its volumes (a
        persistent onion key, data) and its client keys (what ``myonion down`` does without
        ``--purge``). :meth:`start` makes the container again, and a persistent service comes
        back at the same address; ``remove(name, purge=True)`` forgets everything."""
        lifecycle.take_down(self.context, views.record_of(self.context, name),
                            "Taking down (keys and data kept)")
        return self.status(name)

    # the onion key ------------------------------------------------------------------------
    def read_key(self, name: str) -> keys.OnionKey:
        """The service's onion key: from the running container, or a persistent one's volume."""
        return onion_keys.read(self.context, views.record_of(self.context, name))

    def export_key(self, name: str, passphrase: str) -> bytes:
        """The service's onion key encrypted with ``passphrase`` (see docs/key-export.md)."""
        return keys.export_key(self.read_key(name), passphrase, service=name)

    @serialised
    def promote(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> ServiceView:
        """Make a running ephemeral service persistent, keeping its current address."""
        record = views.record_of(self.context, name)
        if record.mode is Mode.PERSISTENT:
            raise MyOnionError(f"Service '{name}' is persistent already.")
        if not self.status(name, live=False).state == "running":
            raise MyOnionError(f"Service '{name}' is not running, so it has no key to keep.",
                               hint=f"Start it with `myonion start {name}` (it gets a new "
                               "address), then promote it.")
        key = onion_keys.read(self.context, record)
        lifecycle.recreate(self.context, record, self.registry.get(record.template), key=key,
                           timeout=timeout)
        view = self.status(name)
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
        record = views.record_of(self.context, name)
        for other in self.store.all():
            if other.name != name and other.address == key.address:
                raise NameInUse(f"Service '{other.name}' serves {key.address} already.",
                                hint="Two services cannot publish the same address.")
        lifecycle.recreate(self.context, record, self.registry.get(record.template), key=key,
                           timeout=timeout)
        view = self.status(name)
        if view.state == "running" and view.address != key.address:
            raise TorError(f"Service '{name}' came up at {view.address}, not at the imported "
                           f"{key.address}.")
        return view

    @serialised
    def rebuild(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> ServiceView:
        """Build the service's image afresh and run a new container from it; a persistent
        service keeps its address, data and clients."""
        record = views.record_of(self.context, name)
        lifecycle.recreate(self.context, record, self.registry.get(record.template),
                           rebuild=True, timeout=timeout)
        return self.status(name)

    # client authorization -----------------------------------------------------------------
    def clients(self, name: str) -> list[ClientInfo]:
        """The authorized clients of a service (never their private keys)."""
        views.record_of(self.context, name)
        kept = client_keys.store(self.context, name)
        return [kept.info(c) for c in kept.names()]

    @serialised
    def client_add(self, name: str, client: str, public_key: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT) -> keys.ClientKey:
        """Authorize a new client (a fresh x25519 pair, or the public key the user brings).

        The first client makes a public service private. A running service takes the change
        at once, without a restart, so its address stays.
        """
        record = views.record_of(self.context, name)
        return client_keys.add(self.context, record, client, public_key)

    @serialised
    def client_remove(self, name: str, client: str) -> None:
        """Revoke a client: new connections with its key fail; the address stays."""
        client_keys.remove(self.context, views.record_of(self.context, name), client)

    def client_key(self, name: str, client: str) -> keys.ClientKey:
        """A client's key pair, as kept (for its ``.auth_private`` line or a QR code)."""
        views.record_of(self.context, name)
        return client_keys.store_with(self.context, name, client).get(client)

    def client_line(self, name: str, client: str) -> str:
        """The line a client puts into its ClientOnionAuthDir (``<addr>:descriptor:x25519:KEY``)."""
        key = self.client_key(name, client)
        if key.private is None:
            raise MyOnionError(f"The private key of client '{client}' was never here: it "
                               "was added with its public key only.",
                               hint="The client has its private key itself.")
        return key.auth_private_line(self.address(name))

    def device_tokens(self, name: str) -> dict[str, str]:
        """An IoT receiver's device ids and tokens, read by the running service itself."""
        return devices.device_tokens(self.context, views.record_of(self.context, name))

    # queries ------------------------------------------------------------------------------
    def status(self, name: str, live: bool = True) -> ServiceView:
        return views.status(self.context, check_name(name), live=live)

    @serialised
    def repair(self, name: str) -> ServiceView:
        """Make an unreadable record again (:func:`views.repair`); nothing else is touched."""
        views.repair(self.context, name)
        return self.status(name, live=False)

    def address(self, name: str) -> str:
        view = self.status(name, live=False)
        if not view.address:
            raise MyOnionError(f"Service '{name}' has no address right now (it is {view.state}).",
                               hint=f"Start it with `myonion start {name}`.")
        return view.address

    def logs(self, name: str, tail: int | None = None, follow: bool = False) -> Iterator[str]:
        views.record_of(self.context, name)
        if self.runtime.get(container_name(name)) is None:
            raise MyOnionError(f"Service '{name}' has no container, so it has no logs.")
        return self.runtime.logs(container_name(name), tail=tail, follow=follow)

    def expire(self, name: str | None = None) -> list[str]:
        """End the services whose time to live has run out (all, or just ``name``): an
        ephemeral one is removed, a persistent one stopped (its key and data kept)."""
        return expiry.expire(self.context, name)

    def prune_images(self, dry_run: bool = False) -> images.PruneResult:
        """Remove old templates' images and layers no container uses (``myonion prune``)."""
        in_use = {c.image for c in self.runtime.list_containers({})}
        return images.prune(self.runtime, self.registry.all(), in_use, dry_run=dry_run)

    # reachability -------------------------------------------------------------------------
    def socks_for(self, network: str) -> tuple[str, int]:
        """The SOCKS port of a tor client *separate* from the service, for the given network."""
        return readiness.socks_for(self.context, network)

    def check(self, name: str, timeout: float = 60.0) -> CheckResult:
        """Prove the service works through a separate tor client: every probe its template
        declares (the page, the SSH banner, an MQTT CONNACK; see :func:`readiness.check`)."""
        record = views.record_of(self.context, name)
        view = self.status(name, live=False)
        if view.state != "running" or not view.address:
            raise MyOnionError(f"Service '{name}' is not running, so it cannot be reached.",
                               hint=f"Start it with `myonion start {name}`.")
        return readiness.check(self.context, record, self.registry.get(record.template),
                               view.address, view.health, timeout=timeout)

    def fetch(self, url: str, network: str | None = None, timeout: float = 60.0) -> fetch.Response:
        """GET a URL through the configured tor client (the test network's when local)."""
        return fetch.http_get_retry(url, self.socks_for(config.resolve_network(network)),
                                    timeout=timeout)

    def list(self) -> list[ServiceView]:  # last: it shadows the builtin in the class
        """Every myonion service, from Docker's containers joined with the records."""
        return views.services(self.context)
