"""A deployment as a Compose file (``myonion export compose``), or as a Swarm stack file
(``--swarm``, see :mod:`.swarm`): the containers the manager would create
(:func:`myonion.services.containers.container_spec`, the same builder), their rendered
configuration written beside the file. The services run independently of this myonion."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from myonion import gateway_secrets, keys
from myonion.access import ClientStore
from myonion.build import images
from myonion.deploy.model import Deployment, DeploymentError, Problem
from myonion.export import swarm as stack
from myonion.runtime.base import ContainerSpec
from myonion.services import containers
from myonion.services.containers import CTL_TARGET
from myonion.services.context import ServiceContext
from myonion.services.manager import Manager
from myonion.services.request import ServiceRequest
from myonion.services.store import ServiceRecord

#: where an exported Compose file's services get their rendered configuration (beside it)
EXPORT_DIR = "myonion"


def compose_service(spec: ContainerSpec, root: Path) -> dict[str, Any]:
    """The Compose service for the container ``spec`` describes, as the Docker runtime would
    create it (runtime/docker.py): the same image, user, mounts, tmpfs, hardening (read-only
    root, every capability dropped but the template's, no-new-privileges), limits, restart
    policy, healthcheck, networks and published ports. Bind mounts below ``root`` (the
    Compose file's folder) become relative; the control directory, which only the manager
    reads, becomes a tmpfs. Labels that would make ``myonion ls`` adopt the container are left
    out."""
    service = stack.service_basics(spec)
    service["security_opt"] = ["no-new-privileges:true"]
    if spec.mem_limit:
        service["mem_limit"] = spec.mem_limit
    if spec.pids_limit:
        service["pids_limit"] = spec.pids_limit
    if spec.restart:
        service["restart"] = spec.restart
    if spec.environment:
        service["environment"] = dict(spec.environment)
    # the control directory is tor's
    uid, _, gid = spec.side_user("tor").partition(":")
    tmpfs = [f"{path}:{options}" for path, options in spec.tmpfs.items()]
    volumes: list[dict[str, Any]] = []
    for mount in spec.mounts:
        if not mount.volume and mount.target == CTL_TARGET:
            tmpfs.append(f"{CTL_TARGET}:rw,nosuid,nodev,size=1m,uid={uid},gid={gid or uid},"
                         "mode=0700")
            continue
        volumes.append(stack.mount_entry(mount, root))
    if tmpfs:
        service["tmpfs"] = tmpfs
    if volumes:
        service["volumes"] = volumes
    if spec.ports:
        service["ports"] = [f"{address}:{port}:{target}"
                            for target, (address, port) in sorted(spec.ports.items())]
    networks = ([spec.network] if spec.network else []) + list(spec.extra_networks)
    if networks:
        service["networks"] = networks
    service.update(stack.service_health_and_labels(spec, "compose"))
    service["logging"] = {"driver": "json-file", "options": {"max-size": "1m", "max-file": "2"}}
    return service


def compose_document(services: dict[str, ContainerSpec], root: Path,
                     external_volumes: set[str] | None = None) -> dict[str, Any]:
    """A whole Compose file (the version-less Compose specification) for ``services``: named
    volumes declared (``external_volumes`` as external), every network external (they are
    the test network's, made by ``myonion testnet up``)."""
    doc: dict[str, Any] = {"services": {n: compose_service(s, root) for n, s in services.items()}}
    doc.update(stack.volumes_and_networks(services, external_volumes, "compose"))
    return doc


@dataclass
class ComposeExport:
    """What ``export compose`` wrote."""

    path: Path
    config_dir: Path
    images: dict[str, str]
    #: client → file with its private key (what Tor Browser asks for), per service
    client_keys: dict[str, dict[str, Path]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def export_compose(manager: Manager, deployment: Deployment, output: str | Path,
                   swarm: bool = False) -> ComposeExport:
    """Write a Compose file for the deployment's services at ``output`` and their rendered
    configuration in a folder beside it (``myonion/<service>/conf``, mounted read-only at
    /etc/myonion as the manager does). Images are built when missing. The services run
    independently of this myonion (own volumes, so own onion keys and addresses).

    ``swarm``: a stack file for ``docker stack deploy`` instead (:mod:`myonion.export.swarm`);
    on the ``local`` network the manager's test network must be a swarm one."""
    _refuse_unexportable(manager.context, deployment, swarm)
    out = Path(output).expanduser().resolve()
    root = out.parent
    root.mkdir(parents=True, exist_ok=True)
    config_dir = root / EXPORT_DIR
    config_dir.mkdir(exist_ok=True)
    os.chmod(config_dir, 0o700)  # secret options end up in these files
    ctx = manager.context
    ctx.runtime.ping()
    result = ComposeExport(out, config_dir, {})
    specs: dict[str, ContainerSpec] = {}
    external: set[str] = set()
    secret_files: dict[str, list[str]] = {}
    for spec in deployment.ordered():
        assert spec.checked is not None  # no frontends: balanced services are refused above
        wanted = spec.checked.for_arch(ctx.arch)
        image = images.template_image(ctx.runtime, wanted.template, ctx.reporter,
                                      arch=wanted.arch)
        result.images[spec.name] = image
        # no deadline: Compose services run until stopped (see the notes)
        record = ServiceRecord.from_request(wanted, spec.name, image=image, expires_at=None)
        directory = config_dir / spec.name
        secret_files[spec.name] = _write_conf(ctx, directory, record, wanted, swarm)
        result.client_keys[spec.name] = _export_clients(directory, list(spec.clients))
        specs[spec.name] = containers.container_spec(
            record, wanted.template, directory,
            ctx.testnet if spec.network == "local" else None)
        if spec.network == "local":
            external.add(ctx.testnet.include_volume)
        if spec.ttl:
            result.notes.append(f"{spec.name}: its ttl is not exported (Compose services run "
                                "until stopped)")
    if swarm:
        document = _stack(deployment, specs, root, config_dir, external, secret_files)
        header = (f"# Exported by `myonion export compose --swarm` from "
                  f"{os.path.relpath(deployment.path, root)}.\n"
                  f"# Run: docker stack deploy -c {out.name} {deployment.name}   (the "
                  f"configuration is in ./{EXPORT_DIR}/)\n")
    else:
        document = compose_document(specs, root, external)
        header = (f"# Exported by `myonion export compose` from "
                  f"{os.path.relpath(deployment.path, root)}.\n"
                  f"# Run: docker-compose -f {out.name} up -d   (the configuration is in "
                  f"./{EXPORT_DIR}/)\n")
    out.write_text(header + yaml.safe_dump(document, sort_keys=False, width=100))
    return result


def _refuse_unexportable(ctx: ServiceContext, deployment: Deployment, swarm: bool) -> None:
    """Refuse what a Compose (or stack) file cannot hold: balanced services, addresses or
    device secrets of other services, devices whose secrets myonion would make, and (for a
    swarm) the bridge test network."""
    for spec in deployment.services:
        if spec.backends or spec.remote or spec.master:
            raise DeploymentError([Problem(
                str(deployment.path), spec.line, f"services.{spec.name}.balance",
                "is not exported: a Compose or stack file cannot hold the master key that "
                "myonion makes for the frontend. Bring balanced services up with `myonion up` "
                "(on each machine of a swarm, see docs/deployments.md)")])
        if spec.needs or spec.uses:
            raise DeploymentError([Problem(
                str(deployment.path), spec.line, f"services.{spec.name}.options",
                "names another service's address or device secrets (${NAME.address}, "
                "${NAME.tokens}, …), which a Compose file cannot know before its services "
                "first run: write them out")])
        if spec.checked is not None and None in gateway_secrets.secrets_by_device(
                spec.checked.template, dict(spec.checked.options)).values():
            raise DeploymentError([Problem(
                str(deployment.path), spec.line, f"services.{spec.name}.options",
                "lists devices without their secrets: a Compose file has nowhere to keep the "
                "ones myonion would make, so write them out (device:secret) to export it")])
        if swarm and spec.network == "local" and \
                not getattr(ctx.testnet, "swarm", False):
            raise DeploymentError([Problem(
                str(deployment.path), spec.line, f"services.{spec.name}.network",
                f"is the local test network, whose network {ctx.testnet.network} is a "
                "bridge that swarm services cannot join: start a swarm test network "
                "(`myonion testnet up --name NAME --swarm`) and export for it "
                "(`myonion export compose --swarm --testnet NAME`)")])


def _stack(deployment: Deployment, specs: dict[str, ContainerSpec], root: Path,
           config_dir: Path, external: set[str],
           secret_files: dict[str, list[str]]) -> dict[str, Any]:
    """The swarm stack document, or the services a swarm cannot run named as problems."""
    problems: list[Problem] = []
    lines = {s.name: s.line for s in deployment.services}
    for name, spec in specs.items():
        if spec.extra_networks:  # the test network's access bridge, for a published port
            problems.append(Problem(str(deployment.path), lines[name], f"services.{name}",
                                    "publishes a port, which a swarm service on the internal "
                                    "test network cannot: leave the port out here"))
        try:
            stack.stack_service(name, spec, root, [])
        except stack.StackRefused as e:
            problems.append(Problem(str(deployment.path), lines[name], f"services.{name}",
                                    f"{e}: leave the port out, or give 0.0.0.0 as its address"))
    if problems:
        raise DeploymentError(problems)
    configs = {name: stack.conf_configs(config_dir / name / "conf", root,
                                        set(secret_files.get(name, [])))
               for name in specs}
    return stack.stack_document(specs, root, configs, external)


def _write_conf(ctx: ServiceContext, directory: Path, record: ServiceRecord,
                wanted: ServiceRequest, swarm: bool) -> list[str]:
    """The service's runtime files for an exported Compose/stack file, as the manager writes
    them (:func:`containers.write_conf`). Returns the names of the files that hold a secret.
    For a swarm stack they stay this user's (they become swarm secrets that the swarm gives
    the container's user), so the `docker stack deploy` of this user can read them."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    return containers.write_conf(ctx, record, wanted.template, directory / "conf",
                                 hand_over=not swarm)


def _export_clients(directory: Path, names: list[str]) -> dict[str, Path]:
    """Client keys for an exported service, kept across exports (same names, same keys):
    the public halves in conf/authorized_clients, each private key (base32) in
    clients/<name>.key (0600)."""
    store = ClientStore(directory)
    for client in store.names():
        if client not in names:
            store.remove(client)
            (store.dir / f"{client}.key").unlink(missing_ok=True)
    files: dict[str, Path] = {}
    for client in names:
        if not store.exists(client):
            store.add(keys.generate_client_key(client))
        path = store.dir / f"{client}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(store.get(client).private_b32() + "\n")
        files[client] = path
    if not names and store.auth_dir.is_dir():
        shutil.rmtree(store.auth_dir)
    return files


