"""A service made, made again and forgotten: its image built, its container created (with its
client keys and an onion key it was given), replaced with its volumes kept, taken down with
its keys and data kept, and removed with everything that belongs to it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from myonion import keys
from myonion.build import images
from myonion.errors import MyOnionError, NameInUse, StateError
from myonion.events import Stage
from myonion.services import clients, containers, hostdirs, keeper, onion_keys, readiness, request
from myonion.services.context import ServiceContext, container_name, volume_labels
from myonion.services.request import Mode, ServiceRequest
from myonion.services.store import ServiceRecord
from myonion.templates import TemplateSpec


def make(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
         client_names: tuple[str, ...], key: keys.OnionKey | None, wait: bool,
         timeout: float, hold_service: bool = False) -> None:
    """The second half of a share (under the service's lock, its record reserved): build the
    image, make the container and start it (``hold_service``: its service held, see
    :func:`readiness.start`); a service that fails on the way is removed."""
    name = record.name
    try:
        if record.network == "local":
            ctx.ensure_testnet()
        ctx.report(Stage.BUILDING, f"Preparing the image of template '{template.id}'", name)
        record.image = images.template_image(ctx.runtime, template, ctx.reporter_for(name),
                                             arch=record.built_for())
        clients.make(ctx, name, client_names)
        create_container(ctx, record, template)
        if key is not None:
            onion_keys.install(ctx, record, key)
            record.address = key.address
        ctx.store.put(record)
    except BaseException:
        forget(ctx, name)
        raise
    try:
        readiness.start(ctx, record, template, wait=wait, timeout=timeout,
                        hold_service=hold_service)
    except BaseException:
        # a service that never became ready is not left half-made behind
        forget(ctx, name)
        raise


def reserve(ctx: ServiceContext, wanted: ServiceRequest) -> ServiceRecord:
    """The record of a new service, its name taken (the one asked for, else the template's
    first free one) before the (long) build, so that a share at the same time cannot take
    it; NameInUse if a service or a container has it."""
    # a container left without a record is asked for before the store's lock: shares at
    # once take the lock in turn, and an engine call under it made each wait longer
    if wanted.name and ctx.runtime.get(container_name(wanted.name)):
        raise NameInUse(f"A service named '{wanted.name}' exists already.")
    with ctx.store.locked():
        name = wanted.name or free_name(ctx, wanted.template.id)
        if ctx.store.exists(name):
            raise NameInUse(f"A service named '{name}' exists already.")
        record = ServiceRecord.from_request(wanted, name, stage=Stage.BUILDING)
        # every other share sees it at once; it is on the disk before this one goes on
        ctx.store.put(record, durable=False)
    ctx.store.sync(name)
    return record


def free_name(ctx: ServiceContext, base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` …: the first name no service has."""
    name, n = base, 1
    while ctx.store.exists(name) or ctx.runtime.get(container_name(name)):
        n += 1
        name = f"{base}-{n}"
    return name


def create_container(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec) -> None:
    """The service's container (:func:`containers.create`), a private one's client list
    written first."""
    if record.private:
        clients.store(ctx, record.name).write_auth()
    containers.create(ctx, record, template)


def install(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
            key: keys.OnionKey | None) -> None:
    """Create the container of ``record`` (its old one is gone; volumes are kept), with
    ``key`` put into its tor volume when given, and store the record as stopped."""
    hostdirs.clear_control_dir(ctx.runtime, ctx.control_dir(record.name), record.name)
    create_container(ctx, record, template)
    if key is not None:
        onion_keys.install(ctx, record, key)
        record.address = key.address
    record.stage = Stage.STOPPED
    ctx.store.put(record)


def recreate(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
             key: keys.OnionKey | None = None, rebuild: bool = False,
             timeout: float = readiness.DEFAULT_TIMEOUT) -> None:
    """Make the service's container again (volumes kept): to turn it persistent (a ``key``
    makes it so), or to run a freshly built image. A service that ran is started again."""
    name = record.name
    info = ctx.runtime.get(container_name(name))
    was_running = info is not None and info.running
    if rebuild:
        record.image = images.template_image(ctx.runtime, template, ctx.reporter_for(name),
                                             force=True, arch=record.built_for())
    if key is not None:
        record.mode = Mode.PERSISTENT
    if info is not None:
        ctx.report(Stage.STOPPED, "Replacing the container", name)
        ctx.runtime.remove(container_name(name))
    install(ctx, record, template, key)
    if was_running:
        readiness.start(ctx, record, template, wait=True, timeout=timeout)


def drop_unused_volumes(ctx: ServiceContext, old: ServiceRecord, new: ServiceRecord,
                        template: TemplateSpec) -> None:
    """Remove the volumes of ``old`` that ``new`` has no use for (the data of another
    template, the key of a service made ephemeral)."""
    try:
        old_template = ctx.registry.get(old.template)
        before = {v.source for v in containers.service_volumes(old, old_template)}
    except MyOnionError:
        before = set(ctx.runtime.list_volumes(volume_labels(old.name)))
    for volume in before - {v.source for v in containers.service_volumes(new, template)}:
        ctx.runtime.remove_volume(volume)


def take_down(ctx: ServiceContext, record: ServiceRecord, message: str) -> None:
    """Remove the container, keep the record, volumes and client keys (stage down)."""
    name = record.name
    ctx.report(Stage.STOPPED, message, name)
    ctx.runtime.remove(container_name(name))
    hostdirs.clear_control_dir(ctx.runtime, ctx.control_dir(name), name)
    keeper.stop_if_unused(ctx.runtime, record.network)
    changes: dict[str, Any] = {"stage": Stage.DOWN, "reason": None, "expires_at": None,
                               "started_at": None}
    if record.mode is Mode.EPHEMERAL:
        changes["address"] = None
    record = ctx.store.update(name, **changes) or record
    containers.write_expiry(ctx, record)


def stop(ctx: ServiceContext, record: ServiceRecord, message: str | None = "Stopping") -> None:
    """Stop the container and tidy its control directory (``message``: what to report)."""
    name = record.name
    if message:
        ctx.report(Stage.STOPPED, message, name)
    if ctx.runtime.get(container_name(name)) is not None:
        ctx.runtime.stop(container_name(name))
    hostdirs.clear_control_dir(ctx.runtime, ctx.control_dir(name), name)
    keeper.stop_if_unused(ctx.runtime, record.network)  # no tor of ours on when nothing is shared


def forget(ctx: ServiceContext, name: str) -> None:
    """Remove everything of a service: container, volumes, control directory, record."""
    try:
        record = ctx.store.get(name)
    except StateError:
        record = ctx.store.backup(name)
    clients.forget_on_testnet(ctx, record)
    ctx.runtime.remove(container_name(name))
    if record is not None:
        keeper.stop_if_unused(ctx.runtime, record.network)
    for volume in ctx.runtime.list_volumes(volume_labels(name)):
        ctx.runtime.remove_volume(volume)
    hostdirs.empty_control_dir(ctx.runtime, ctx.control_dir(name))
    with ctx.store.locked():
        ctx.store.remove(name)


def reconfigure(ctx: ServiceContext, record: ServiceRecord, wanted: ServiceRequest,
                wait: bool, timeout: float) -> None:
    """Give the service of ``record`` the configuration ``wanted`` in a new container (see
    :meth:`Manager.reconfigure`): admitted first, its volumes kept but those it no longer
    uses, a running ephemeral service made persistent keeping its address."""
    name = record.name
    info = ctx.runtime.get(container_name(name))
    request.admit(wanted, held=set(info.ports.values()) if info is not None else set())
    # a device given by its id alone keeps the secret it had (or gets one)
    wanted = wanted.with_device_secrets(record.options)
    ctx.runtime.ping()
    key = None
    if wanted.persistent and record.mode is Mode.EPHEMERAL and info and info.running:
        key = onion_keys.read(ctx, record)  # the address it has now is kept
    kept = {k: v for k, v in asdict(record).items()
            if k in ("created", "address", "timings", "started_at", "balance_master")}
    new = ServiceRecord.from_request(wanted, name, stage=Stage.BUILDING, **kept)
    if new.network == "local":
        ctx.ensure_testnet()
    new.image = images.template_image(ctx.runtime, wanted.template, ctx.reporter_for(name),
                                      arch=new.built_for())
    if info is not None:
        ctx.report(Stage.STOPPED, "Replacing the container", name)
        ctx.runtime.remove(container_name(name))
    drop_unused_volumes(ctx, record, new, wanted.template)
    clients.sync(ctx, name, wanted.clients)
    if new.mode is Mode.EPHEMERAL:
        new.address = None  # (a key, given only when made persistent, sets it again)
    install(ctx, new, wanted.template, key)
    readiness.start(ctx, new, wanted.template, wait=wait, timeout=timeout)
