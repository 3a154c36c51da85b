"""Services as surfaces show them (:class:`ServiceView`): each record joined with what Docker
says now; and a record that cannot be read made again (:func:`repair`)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from myonion import access, tor
from myonion import arch as arches
from myonion.errors import MyOnionError, ServiceNotFound, StateError
from myonion.events import Stage
from myonion.runtime.base import (
    LABEL_HOME,
    LABEL_MODE,
    LABEL_ROLE,
    LABEL_SERVICE,
    ContainerInfo,
)
from myonion.services import clients, expiry, hostdirs
from myonion.services.context import ServiceContext, container_name, home_label
from myonion.services.request import Mode, check_name
from myonion.services.store import ServiceRecord


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
    #: an ephemeral service's address before its container was restarted (that address is
    #: gone for good; ``address`` is the new one), until it is checked again
    previous_address: str | None = None
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


def record_of(ctx: ServiceContext, name: str) -> ServiceRecord:
    """The record of service ``name``: OptionError for a name no service can have,
    ServiceNotFound if there is none."""
    record = ctx.store.get(check_name(name))
    if record is None:
        raise ServiceNotFound(f"There is no service named '{name}'.")
    return record


def is_ours(info: ContainerInfo | None) -> bool:
    """The container is a service of this data directory."""
    return info is not None and info.labels.get(LABEL_HOME) == home_label()


def services(ctx: ServiceContext) -> list[ServiceView]:
    """Every myonion service, from Docker's containers joined with the records."""
    found, broken = ctx.store.scan()
    if expiry.expire_records(ctx, found):
        found, broken = ctx.store.scan()  # read again what expiry changed
    running = {c.labels.get(LABEL_SERVICE, ""): c
               for c in ctx.runtime.list_containers({LABEL_ROLE: "service",
                                                     LABEL_HOME: home_label()})}
    records = {r.name: r for r in found}
    names = sorted(set(running) | set(records) | set(broken))
    return [_broken_view(ctx, n, broken[n], running.get(n)) if n in broken
            else view(ctx, records.get(n), running.get(n), n) for n in names if n]


def status(ctx: ServiceContext, name: str, live: bool = True) -> ServiceView:
    """One service (``live``: with tor's bootstrap percentage while it starts)."""
    expiry.expire(ctx, name)
    record = record_of(ctx, name)
    shown = view(ctx, record, ctx.runtime.get(container_name(name)), name)
    if live and shown.state == "running" and shown.stage in (Stage.STARTING,
                                                              Stage.BOOTSTRAPPING):
        shown.percent = tor.bootstrap_percent(ctx.control_dir(name))
    return shown


def _broken_view(ctx: ServiceContext, name: str, error: StateError,
                 info: ContainerInfo | None) -> ServiceView:
    """A service whose record cannot be read, as far as its container tells."""
    shown = view(ctx, None, info, name) if info is not None else ServiceView(
        name=name, template="?", network="?", mode="?", state="missing",
        stage=str(Stage.FAILED), address=None)
    shown.stage = str(Stage.FAILED)
    shown.reason = (f"{error.message} `myonion repair {name}` makes it again "
                    "(its keys and data are kept).")
    return shown


def _state(record: ServiceRecord, info: ContainerInfo | None, name: str
           ) -> tuple[str, str, str | None]:
    """(state, stage, reason) of a service from its record and its container."""
    stage: str = record.stage or Stage.STOPPED
    reason = record.reason
    persistent = record.mode is Mode.PERSISTENT
    if info is None and stage == Stage.DOWN:
        kept = (f"its key ({record.address}), client keys and data are kept"
                if persistent and record.address else "its record and client keys are kept")
        return "stopped", stage, (
            f"removed; {kept}: `myonion start {name}` brings it back"
            + (" at the same address" if persistent else "")
            + f", `myonion rm --purge {name}` deletes them")
    if info is None:
        if record.image:
            return "missing", Stage.FAILED, "its container was removed outside myonion"
        return "creating", stage, reason
    if info.status == "exited":
        # 143: SIGTERM from a stop; 137 (SIGKILL) only counts as stopped if we stopped it
        if info.exit_code in (0, 143) or stage == Stage.STOPPED:
            return "stopped", Stage.STOPPED, reason
        if stage != Stage.FAILED:
            return "failed", Stage.FAILED, f"the container exited with status {info.exit_code}"
        return "failed", stage, reason
    if (info.status == "running" and record.started_at and stage in (
            Stage.PUBLISHED, Stage.REACHABLE, Stage.FAILING)
            and info.started_at != record.started_at):
        # restarted behind our back (restart policy, engine restart): not measured yet
        return info.status, Stage.BOOTSTRAPPING, "restarted since it was last checked"
    return info.status, stage, reason


def view(ctx: ServiceContext, record: ServiceRecord | None, info: ContainerInfo | None,
         name: str) -> ServiceView:
    """The view of a service from its record (None: only its container is known)."""
    if record is None:
        assert info is not None
        labels = info.labels
        shown_mode = labels.get(LABEL_MODE, "?")
        record = ServiceRecord.from_labels(name, labels)
    else:
        shown_mode = str(record.mode)
    state, stage, reason = _state(record, info, name)
    address = hostdirs.read_address(ctx.control_dir(name)) if info and info.running else None
    previous = None
    if (record.mode is Mode.EPHEMERAL and address and record.address
            and address != record.address):
        # its container was made anew (a crash loop, the engine): a new key, a new address
        previous = record.address
        reason = (f"its container was restarted and, being ephemeral, it has a new address; "
                  f"the old one ({previous}) is gone for good")
    return ServiceView(
        name=name, template=record.template, network=record.network, mode=shown_mode,
        state=state, stage=str(stage), address=address or (
            record.address if record.mode is Mode.PERSISTENT else None),
        reason=reason, container=info.id[:12] if info else None,
        health=info.health if info else None, created=record.created,
        options=_public_options(ctx, record), timings=record.timings,
        private=record.private,
        clients=len(clients.store(ctx, name).names()) if record.private else 0,
        expires_at=record.expires_at,
        remaining=max(0.0, record.expires_at - time.time()) if record.expires_at else None,
        published={k: f"{a}:{p}" for k, (a, p) in info.ports.items()} if info else {},
        previous_address=previous, arch=record.built_for())


def _public_options(ctx: ServiceContext, record: ServiceRecord) -> dict[str, Any]:
    """The record's options without the values of secret options (tokens never shown)."""
    try:
        return ctx.registry.get(record.template).public_options(record.options)
    except MyOnionError:
        return dict(record.options)


def repair(ctx: ServiceContext, name: str) -> None:
    """Make a service's record again when it cannot be read (corrupted, half-written,
    garbage): from its last good copy, else from its container's labels and what is in its
    service directory. The unreadable file is kept beside it; the container, the volumes
    (keys, data) and the client keys are not touched."""
    try:
        if ctx.store.get(name) is not None:
            raise MyOnionError(f"The record of service '{name}' is fine: nothing to repair.")
    except StateError:
        pass
    info = ctx.runtime.get(container_name(name))
    if not ctx.store.exists(name) and not is_ours(info):
        raise ServiceNotFound(f"There is no service named '{name}'.")
    record = ctx.store.backup(name)
    source = "its last good copy"
    if record is None:
        if info is None or not is_ours(info):
            raise StateError(
                f"The record of service '{name}' cannot be made again: it has no good copy "
                "and no container to take its template, network and mode from.",
                hint=f"Share it again under another name; `myonion rm {name}` removes "
                "what is left of it (its volumes too).")
        record = _record_from_labels(ctx, name, info)
        source = "its container's labels (its options are unknown: share it again to " \
                 "change them)"
    kept = ctx.store.set_aside(name)
    with ctx.store.locked():
        ctx.store.put(record)
    ctx.report(Stage.STOPPED, f"The record was made again from {source}"
               + (f"; the unreadable one is kept at {kept}" if kept else ""), name)


def _image_arch(ctx: ServiceContext, image: str) -> str | None:
    """The architecture an image's metadata names (None if unknown or not one of ours)."""
    try:
        return arches.from_platform(*ctx.runtime.image_platform(image))
    except MyOnionError:
        return None


def _record_from_labels(ctx: ServiceContext, name: str, info: ContainerInfo) -> ServiceRecord:
    """A record rebuilt from the container's labels and the service directory."""
    labels = info.labels
    record = ServiceRecord.from_labels(name, labels, image=info.image, stage=Stage.STOPPED,
                                       reason="rebuilt from its container's labels",
                                       arch=_image_arch(ctx, info.image))
    record.private = (ctx.store.root / name / "conf" / access.AUTH_DIR).is_dir()
    with contextlib.suppress(OSError, ValueError):
        expires = (ctx.store.root / name / "conf" / "expires").read_text().strip()
        record.expires_at = float(expires) if expires else None
    if info.running:
        record.address = hostdirs.read_address(ctx.control_dir(name))
        record.stage = Stage.PUBLISHED if record.address else Stage.STARTING
    return record
