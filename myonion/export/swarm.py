"""A deployment as a Docker Swarm stack file (``myonion export compose --swarm``), for
``docker stack deploy``.

The services are the containers the manager creates (:meth:`Manager.container_spec`), written
in what a swarm understands (Docker 20.10, tried there):

- ``restart``, ``mem_limit`` and ``pids_limit`` become ``deploy.restart_policy`` and
  ``deploy.resources.limits`` (memory, pids);
- ``tmpfs:`` becomes mounts of type tmpfs (``/tmp``). A tmpfs that must belong to the
  service's user cannot be one: a swarm tmpfs takes the mode of the image's directory but is
  owned by root, and the stack file has no owner or mode for it (Docker 20.10 with the
  docker CLI 28, tried: ``tmpfs.mode`` is dropped). The key directory of an ephemeral service
  (``/var/lib/tor``) and the control directory (whose owner tor checks) are therefore
  *anonymous volumes*, which the engine fills from the image with its owner (10001, 0700):
  each task gets its own, so an ephemeral service still gets a new address every task, and
  the volume goes with the task's container (at ``docker stack rm`` at the latest);
- the rendered configuration (torrc, the template's files, authorized client keys) goes in as
  swarm *configs*, which the swarm hands to whichever node runs the task, instead of a bind
  mount of a folder that would have to exist on every node; a file that holds a secret option
  (a token, a password) goes in as a swarm *secret* instead (encrypted in the swarm's store,
  on a tmpfs in the container, 0400 and the service user's);
- ``security_opt: [no-new-privileges]`` has no swarm equivalent: ``cap_drop: [ALL]`` (which
  swarm does honour) leaves a set-user-ID program no capability to gain, and the root
  filesystem stays read-only;
- a published port can only be published on every interface of a node (no host address):
  a port the template binds to one address is refused;
- a service cannot join a local bridge network: for the ``local`` network the test network
  must be a swarm one (``Testnet(..., swarm=True)``: an internal attachable overlay).

Nothing here imports docker or Qt.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, NamedTuple

from myonion.runtime.base import LABEL_HOME, LABEL_ROLE, ContainerSpec, Mount

LABEL_EXPORT = "org.myonion.export"
CTL_TARGET = "/run/myonion/ctl"
CONF_TARGET = "/etc/myonion"
RESTART_CONDITIONS = {"unless-stopped": "any", "always": "any", "on-failure": "on-failure"}
SIZE_RE = re.compile(r"(?:^|,)size=(\d+)([kmg]?)(?:,|$)")
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class StackRefused(ValueError):
    """A service that a swarm cannot run as the manager would; the message says why."""


def tmpfs_size(options: str) -> int | None:
    """The size in bytes of a tmpfs option string ("rw,size=64m,..." → 67108864)."""
    match = SIZE_RE.search(options)
    return int(match.group(1)) * UNITS[match.group(2)] if match else None


def config_name(relative: str, text: str) -> str:
    """A swarm config's name: from its path and content, so a changed file gets a new config
    (configs cannot change) and an unchanged one keeps its name; short enough for the stack
    name in front (swarm allows 64 characters)."""
    digest = hashlib.sha256(f"{relative}\0{text}".encode()).hexdigest()[:16]
    return f"myonion-{digest}"


class ConfFile(NamedTuple):
    """One file of a service's rendered configuration, as a swarm config or secret."""

    name: str  # the config's (or secret's) name
    file: str  # relative to the stack file's folder
    target: str  # where the container sees it
    secret: bool = False


def conf_configs(conf: Path, root: Path, secret: set[str] | None = None) -> list[ConfFile]:
    """Every file below the rendered configuration folder ``conf``; those named in ``secret``
    (relative to ``conf``) hold a secret option and become swarm secrets."""
    found = []
    for path in sorted(p for p in conf.rglob("*") if p.is_file()):
        inside = path.relative_to(conf).as_posix()
        found.append(ConfFile(config_name(inside, path.read_text()),
                              "./" + path.relative_to(root).as_posix(),
                              f"{CONF_TARGET}/{inside}", inside in (secret or set())))
    return found


def service_basics(spec: ContainerSpec) -> dict[str, Any]:
    """What a Compose service and a stack service say alike of the container ``spec``
    describes: image, hostname, user, entrypoint, command, a read-only root and every
    capability dropped but the template's."""
    service: dict[str, Any] = {"image": spec.image}
    if spec.hostname:
        service["hostname"] = spec.hostname
    if spec.user:
        service["user"] = spec.user
    if spec.entrypoint is not None:
        service["entrypoint"] = list(spec.entrypoint)
    if spec.command is not None:
        service["command"] = list(spec.command)
    service["read_only"] = spec.read_only
    service["cap_drop"] = ["ALL"]
    if spec.cap_add:
        service["cap_add"] = list(spec.cap_add)
    return service


def mount_entry(mount: Mount, root: Path) -> dict[str, Any]:
    """A volume or bind mount as a Compose or stack file writes it; a bind of a folder below
    ``root`` (the file's folder) is relative to it."""
    source = mount.source
    if not mount.volume and Path(mount.source).is_relative_to(root):
        source = "./" + Path(mount.source).relative_to(root).as_posix()
    entry: dict[str, Any] = {"type": "volume" if mount.volume else "bind",
                             "source": source, "target": mount.target}
    if mount.read_only:
        entry["read_only"] = True
    return entry


def service_health_and_labels(spec: ContainerSpec, export: str) -> dict[str, Any]:
    """The healthcheck and labels of a Compose or stack service (``export``: "compose" or
    "swarm"); without the labels that would make ``myonion ls`` adopt the container."""
    service: dict[str, Any] = {}
    if spec.healthcheck:
        health: dict[str, Any] = {"test": list(spec.healthcheck["test"])}  # type: ignore[call-overload]
        for key in ("interval", "timeout", "start_period"):
            if key in spec.healthcheck:
                health[key] = str(spec.healthcheck[key])
        if "retries" in spec.healthcheck:
            health["retries"] = int(str(spec.healthcheck["retries"]))
        service["healthcheck"] = health
    labels = {k: v for k, v in spec.labels.items() if k not in (LABEL_ROLE, LABEL_HOME)}
    service["labels"] = {**labels, LABEL_EXPORT: export}
    return service


def stack_service(name: str, spec: ContainerSpec, root: Path,
                  configs: list[ConfFile]) -> dict[str, Any]:
    """The stack service for the container ``spec`` describes; ``configs`` are the service's
    configuration files (:func:`conf_configs`). Raises :class:`StackRefused`."""
    service = service_basics(spec)
    if spec.environment:
        service["environment"] = dict(spec.environment)
    # secret files are the service's (tor needs none of them)
    uid, _, gid = spec.side_user("service").partition(":")
    mounts: list[dict[str, Any]] = []
    for path, options in spec.tmpfs.items():
        mounts.append(_tmpfs(path, options))
    for mount in spec.mounts:
        if not mount.volume and mount.target == CONF_TARGET:
            continue  # the configs below
        if not mount.volume and mount.target == CTL_TARGET:
            mounts.append({"type": "volume", "target": CTL_TARGET})  # anonymous: see above
            continue
        mounts.append(mount_entry(mount, root))
    if mounts:
        service["volumes"] = mounts
    public = [c for c in configs if not c.secret]
    secret = [c for c in configs if c.secret]
    if public:
        service["configs"] = [{"source": c.name, "target": c.target, "uid": uid,
                               "gid": gid or uid, "mode": 0o444} for c in public]
    if secret:
        service["secrets"] = [{"source": c.name, "target": c.target, "uid": uid,
                               "gid": gid or uid, "mode": 0o400} for c in secret]
    if spec.ports:
        service["ports"] = _ports(name, spec.ports)
    networks = ([spec.network] if spec.network else []) + list(spec.extra_networks)
    if networks:
        service["networks"] = networks
    service.update(service_health_and_labels(spec, "swarm"))
    limits: dict[str, Any] = {}
    if spec.mem_limit:
        limits["memory"] = spec.mem_limit.upper()
    if spec.pids_limit:
        limits["pids"] = spec.pids_limit
    deploy: dict[str, Any] = {
        "replicas": 1,
        # one task at a time: two tors must never publish with the same key
        "update_config": {"order": "stop-first", "parallelism": 1},
        "restart_policy": {"condition": RESTART_CONDITIONS.get(spec.restart or "", "none")},
        "labels": dict(service["labels"]),
    }
    if limits:
        deploy["resources"] = {"limits": limits}
    service["deploy"] = deploy
    service["logging"] = {"driver": "json-file", "options": {"max-size": "1m", "max-file": "2"}}
    return service


def _tmpfs(target: str, options: str) -> dict[str, Any]:
    """A tmpfs mount, or an anonymous volume for one that must belong to an owner (uid=)."""
    if "uid=" in options:
        return {"type": "volume", "target": target}
    entry: dict[str, Any] = {"type": "tmpfs", "target": target}
    size = tmpfs_size(options)
    if size:
        entry["tmpfs"] = {"size": size}
    return entry


def _ports(name: str, ports: dict[str, tuple[str, int]]) -> list[dict[str, Any]]:
    entries = []
    for target, (address, port) in sorted(ports.items()):
        if address not in ("", "0.0.0.0"):
            raise StackRefused(
                f"publishes port {port} on {address} only, which a swarm cannot do (it would "
                "be open on every interface of the node)")
        number, _, protocol = target.partition("/")
        entries.append({"target": int(number), "published": port, "protocol": protocol or "tcp",
                        "mode": "host"})
    return entries


def volumes_and_networks(services: dict[str, ContainerSpec], external_volumes: set[str] | None,
                         export: str) -> dict[str, Any]:
    """The top-level ``volumes`` (``external_volumes`` as external, the others labelled with
    ``export``) and ``networks`` (every one external: the test network's) of a Compose or
    stack file for ``services``."""
    volumes: dict[str, Any] = {}
    networks: dict[str, Any] = {}
    for spec in services.values():
        for mount in spec.mounts:
            if mount.volume:
                volumes[mount.source] = {"external": True} if mount.source in (
                    external_volumes or set()) else {"labels": {LABEL_EXPORT: export}}
        for net in ([spec.network] if spec.network else []) + list(spec.extra_networks):
            networks[net] = {"external": True}
    doc: dict[str, Any] = {}
    if volumes:
        doc["volumes"] = volumes
    if networks:
        doc["networks"] = networks
    return doc


def stack_document(services: dict[str, ContainerSpec], root: Path,
                   configs: dict[str, list[ConfFile]],
                   external_volumes: set[str] | None = None) -> dict[str, Any]:
    """A whole stack file (Compose file format 3.9, what ``docker stack deploy`` reads) for
    ``services``, with their ``configs`` (:func:`conf_configs`, by service)."""
    doc: dict[str, Any] = {"version": "3.9", "services": {
        n: stack_service(n, s, root, configs.get(n, [])) for n, s in services.items()}}
    doc.update(volumes_and_networks(services, external_volumes, "swarm"))
    files = [c for each in configs.values() for c in each]
    if any(not c.secret for c in files):
        doc["configs"] = {c.name: {"file": c.file} for c in files if not c.secret}
    if any(c.secret for c in files):
        doc["secrets"] = {c.name: {"file": c.file} for c in files if c.secret}
    return doc
