"""A service's container: the one :class:`ContainerSpec` builder that Docker's create, the
Compose export and the Swarm export all use (users, mounts, volumes, tmpfs, labels, limits),
and making that container with its rendered configuration, volumes and control directory.

The container paths are named here once: /etc/myonion (the rendered configuration, read-only),
/run/myonion/ctl (tor's control directory), /var/lib/tor (tor's data and the onion key).
"""

from __future__ import annotations

import os
from pathlib import Path

from myonion import arch as arches
from myonion import gateway_health, gateway_secrets, gateway_tls, targets
from myonion.build import hardening, render
from myonion.build.render import TOR_UID
from myonion.runtime.base import (
    LABEL_DEPLOYMENT,
    LABEL_HOME,
    LABEL_MODE,
    LABEL_NETWORK,
    LABEL_ROLE,
    LABEL_SERVICE,
    LABEL_TEMPLATE,
    ContainerSpec,
    Mount,
)
from myonion.services import hostdirs, keeper
from myonion.services.context import (
    ServiceContext,
    TestnetPort,
    container_name,
    home_label,
    volume_labels,
)
from myonion.services.request import DEFAULT_MEMORY, DEFAULT_PIDS, Mode
from myonion.services.store import ServiceRecord
from myonion.templates import TemplateSpec
from myonion.tor import directory as tor_directory

#: where a container finds its rendered configuration, tor's control directory, tor's data
CONF_TARGET = "/etc/myonion"
CTL_TARGET = "/run/myonion/ctl"
TOR_DIR = "/var/lib/tor"
#: where the service asks tor's side for fresh circuits (myonion-newnym's FIFO)
NEWNYM_TARGET = "/run/myonion/newnym"
#: the test network's torrc lines, included by every service's tor on the local network
TORRC_INCLUDE_TARGET = "/etc/tor/torrc.d"
#: what a container starts as: root with only these capabilities, which myonion-entry needs to
#: start tor and the service as their two users (setpriv empties every capability set of each,
#: the bounding set too: SETPCAP) and to stop them; every other capability is dropped
ENTRY_CAPS = ("SETUID", "SETGID", "SETPCAP", "KILL")


def tor_volume(name: str) -> str:
    """The volume that keeps a persistent service's onion key."""
    return f"{container_name(name)}-tor"


def service_volumes(record: ServiceRecord, template: TemplateSpec) -> list[Mount]:
    """The named volumes that belong to this service alone (data, and a persistent key)."""
    prefix = container_name(record.name)
    volumes = [Mount(f"{prefix}-{v.name}", v.target, volume=True) for v in template.volumes]
    if record.mode is Mode.PERSISTENT:
        volumes.append(Mount(tor_volume(record.name), TOR_DIR, volume=True))
    return volumes


def rendered_files(ctx: ServiceContext, record: ServiceRecord,
                   template: TemplateSpec) -> dict[str, str]:
    """The runtime files (torrc and the template's) of ``record``, as its container gets
    them; an Onionbalance backend's torrc has its instance line; a template that relays
    (forward) gets the addresses it must refuse (this machine's, the test network's, asked of
    the runtime on the local network); a gateway with TLS on gets its certificates (made in
    its service folder once, see :mod:`myonion.gateway_tls`)."""
    uid = int(hostdirs.service_user(template, record.options).partition(":")[0])
    service = {"name": record.name, "network": record.network, "mode": str(record.mode),
               "uid": uid}
    tor_settings = {"balance_instance": True} if record.balance_master else None
    guard = targets.GuardAddresses(ctx.runtime if record.network == "local" else None)
    files = render.render_runtime_files(template, service, record.options, tor_settings, guard)
    files.update(gateway_tls.runtime_files(template, record.name, record.options,
                                           ctx.store.service_dir(record.name)))
    return files


def install_onion_auth(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
                       conf: Path, always: bool = True) -> None:
    """The client keys of the private services this one's tor connects to, in
    ``conf``/onion_auth as tor's own files (:mod:`myonion.gateway_secrets`); with ``always``
    also when it has none now (the ones it had are removed)."""
    auth = gateway_secrets.onion_auth_files(template, record.options)
    if auth or (always and (conf / gateway_secrets.ONION_AUTH_DIR).exists()):
        gateway_secrets.install_onion_auth(ctx.runtime, record.image, conf, auth,
                                           hostdirs.tor_user())


def _tmpfs(record: ServiceRecord, template: TemplateSpec) -> dict[str, str]:
    tmpfs = {path: "rw,nosuid,nodev,size=64m" for path in template.tmpfs}
    if record.mode is not Mode.PERSISTENT:
        # ephemeral: the onion key lives in memory only and is gone when the container stops
        tmpfs[TOR_DIR] = f"rw,nosuid,nodev,size=32m,uid={TOR_UID},gid={TOR_UID},mode=0700"
    if template.tor_client:
        # where the service asks tor's side for fresh circuits (myonion-newnym's FIFO)
        tmpfs[NEWNYM_TARGET] = f"rw,nosuid,nodev,noexec,size=16k,uid={TOR_UID}," \
            f"gid={TOR_UID},mode=0711"
    return tmpfs


def _labels(record: ServiceRecord) -> dict[str, str]:
    return {
        LABEL_SERVICE: record.name,
        LABEL_TEMPLATE: record.template,
        LABEL_MODE: str(record.mode),
        LABEL_NETWORK: record.network,
        LABEL_ROLE: "service",
        LABEL_HOME: home_label(),
        **({LABEL_DEPLOYMENT: record.deployment} if record.deployment else {}),
    }


def container_spec(record: ServiceRecord, template: TemplateSpec, directory: Path,
                   testnet: TestnetPort | None, seed: str | None = None) -> ContainerSpec:
    """The container a service with ``record`` gets, with its rendered configuration in
    ``directory``/conf and its control directory in ``directory``/ctl; ``testnet``: the test
    network a service on the local network joins (may be None for the public network);
    ``seed``: the volume of a directory keeper's copy its tor starts from."""
    mounts = [Mount(str(directory / "conf"), CONF_TARGET, read_only=True),
              Mount(str(directory / "ctl"), CTL_TARGET)]
    for m in template.mounts:
        if record.options.get(m.option):
            mounts.append(Mount(str(record.options[m.option]), m.target, read_only=True))
    mounts += gateway_health.mounts(template, record.options)  # the services' states
    copy_mounts, environment = _directory_copy(record, seed)
    mounts += service_volumes(record, template) + copy_mounts
    user = hostdirs.service_user(template, record.options)
    environment |= {"MYONION_TOR_USER": hostdirs.tor_user(), "MYONION_SERVICE_USER": user}
    if template.tor_client:
        environment["MYONION_NEWNYM"] = "1"  # tor's side starts its NEWNYM helper
    if template.service_is_tor:
        environment["MYONION_SERVICE_IS_TOR"] = "1"
    network = None
    # only what the template publishes when asked (e.g. the MQTT LAN port), nothing else
    ports = template.published(record.options)
    extra_networks: list[str] = []
    if record.network == "local":
        assert testnet is not None
        # the test network's settings come in through a read-only include; the torrc and the
        # image stay the same as on the public network
        network = testnet.network
        mounts.append(Mount(testnet.include_volume, TORRC_INCLUDE_TARGET, read_only=True,
                            volume=True))
        if ports:
            # the test network is internal and cannot publish; its access bridge (no IP
            # masquerade, so still no way out) can, as for the test network's SOCKS port
            extra_networks.append(testnet.access_network)
    return ContainerSpec(
        name=container_name(record.name),
        image=record.image,
        labels=_labels(record),
        # root with ENTRY_CAPS only: myonion-entry starts tor and the service as two users
        user="0:0",
        environment=environment,
        mounts=mounts,
        tmpfs=_tmpfs(record, template),
        network=network,
        extra_networks=extra_networks,
        ports=ports,
        cap_add=[*ENTRY_CAPS, *template.cap_add],
        # a service with a time to live ends with status 0 and must stay ended
        restart="unless-stopped" if record.mode is Mode.PERSISTENT and not record.expires_at
        else "on-failure",
        healthcheck=template.healthcheck or None,
        # what the service's programs may use; under emulation qemu-user's share on top
        mem_limit=arches.memory_limit(str(record.limits.get("memory", DEFAULT_MEMORY)),
                                      record.built_for()),
        pids_limit=int(record.limits.get("pids", template.pids_limit or DEFAULT_PIDS)),
        hostname=record.name,
    )


def _directory_copy(record: ServiceRecord, seed: str | None
                    ) -> tuple[list[Mount], dict[str, str]]:
    """Where a service's tor finds the copy of its network's directory it starts from
    (:mod:`myonion.tor.directory`): a directory keeper's volume ``seed``, read-only; else, on
    the local network, the copy the test network's client keeps in the include."""
    if seed is not None:
        return ([Mount(seed, keeper.SEED_TARGET, read_only=True, volume=True)],
                {tor_directory.ENVIRONMENT: f"{keeper.SEED_TARGET}/{tor_directory.SUBDIR}"})
    if record.network == "local" and tor_directory.enabled():
        return [], {tor_directory.ENVIRONMENT: f"{TORRC_INCLUDE_TARGET}/{tor_directory.SUBDIR}"}
    return [], {}


def write_conf(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
               conf: Path, hand_over: bool = True) -> list[str]:
    """Write the service's runtime files into ``conf``: files that hold a secret option 0600
    (and, with ``hand_over``, the service user's), the others 0644; files no longer rendered
    are removed. Returns the names of the files that hold a secret."""
    wanted = rendered_files(ctx, record, template)
    conf.mkdir(parents=True, exist_ok=True)
    for stale in conf.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    secret_files = hardening.write_rendered(conf, template, record.options, wanted)
    if hand_over:
        install_onion_auth(ctx, record, template, conf, always=False)
    os.chmod(conf, 0o755)
    if hand_over:
        hostdirs.hand_to_service_user(ctx.runtime, conf, secret_files, record.image,
                                      hostdirs.service_user(template, record.options))
    return secret_files


def write_expiry(ctx: ServiceContext, record: ServiceRecord) -> None:
    """The deadline the container's entry script ends the service at (conf/expires), or
    none."""
    path = ctx.conf_dir(record.name) / "expires"
    if record.expires_at:
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"{int(record.expires_at)}\n")
        os.chmod(path, 0o644)
    else:
        path.unlink(missing_ok=True)


def create(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec) -> None:
    """Make the service's container (not started): its configuration (with the deadline of
    its time to live), its control directory, its volumes (labelled, so ``rm`` finds them),
    and the data of an older myonion handed to the service's user. Its client keys are
    written beforehand (see :mod:`.clients`)."""
    directory = ctx.store.service_dir(record.name)
    conf = directory / "conf"
    conf.mkdir(exist_ok=True)
    secret_files = hardening.write_rendered(conf, template, record.options,
                                            rendered_files(ctx, record, template))
    install_onion_auth(ctx, record, template, conf)
    write_expiry(ctx, record)
    os.chmod(conf, 0o755)
    hostdirs.prepare_control_dir(ctx.runtime, directory / "ctl", record.image, record.name)
    user = hostdirs.service_user(template, record.options)
    hostdirs.hand_to_service_user(ctx.runtime, conf, secret_files, record.image, user)
    labels = volume_labels(record.name)
    existing = set(ctx.runtime.list_volumes(labels))
    for volume in service_volumes(record, template):
        ctx.runtime.create_volume(volume.source, labels)
    if not template.service_is_tor:
        prefix = container_name(record.name)
        hostdirs.migrate_data_volumes(
            ctx.runtime, record.name, record.image,
            {f"{prefix}-{v.name}": v.name for v in template.volumes
             if f"{prefix}-{v.name}" in existing}, user)
    testnet = ctx.testnet if record.network == "local" else None
    ctx.runtime.create(container_spec(record, template, directory, testnet,
                                      keeper.seed_for(ctx.runtime, record.network, testnet)))
