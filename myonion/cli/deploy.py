"""Deployment files: up, ps, down, export, bundle and service (systemd)."""

from __future__ import annotations

from collections.abc import Callable

import click
from click.decorators import FC
from rich.table import Table

from myonion.cli import common
from myonion.cli.common import (
    deployment_file,
    err,
    json_out,
    out,
    progress,
)


def _allow_outside() -> Callable[[FC], FC]:
    return click.option("--allow-outside", is_flag=True,
                        help="Let the file name folders and files outside its own folder "
                             "(refused otherwise: a file from elsewhere cannot reach them).")


@click.command()
@deployment_file()
@_allow_outside()
@click.option("--timeout", default=120.0, show_default=True,
              help="Seconds to wait for each service's readiness.")
@click.option("--dry-run", is_flag=True, help="Only print what would be done.")
@common.arch_option("Build and run its services")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def up(ctx: click.Context, file: str, allow_outside: bool, timeout: float, dry_run: bool,
       arch_name: str | None, as_json: bool) -> None:
    """Create or update every service of a deployment file; unchanged ones are left alone."""
    from myonion import deploy

    if dry_run:
        manager = common.arch_manager(None, arch_name)
        planned = deploy.plan(manager, deploy.load(file, manager.registry, allow_outside))
        if as_json:
            json_out([s.to_dict() for s in planned])
        for s in planned if not as_json else []:
            out.print(f"{s.service}: {s.action}" + (f" ({s.reason})" if s.reason else ""))
        return
    with progress(ctx) as reporter:
        manager = common.arch_manager(reporter, arch_name)
        deployment = deploy.load(file, manager.registry, allow_outside)
        steps = deploy.up(manager, deployment, timeout=timeout, on_step=lambda s: err.print(
            f"{s.service}: {s.action}" + (f" ({s.reason})" if s.reason else "")))
        from myonion import gateway_health

        gateway_health.snapshot(manager)  # the states a gateway with health=true reports
    if as_json:
        json_out([s.to_dict() for s in steps])
        return
    for s in steps:
        address = s.view.address if s.view else None
        out.print(f"{s.service}: {s.action}" + (f"  {address}" if address else ""))


@click.command("ps")
@deployment_file()
@click.option("--json", "as_json", is_flag=True)
def ps_cmd(file: str, as_json: bool) -> None:
    """The services of a deployment: state and addresses."""
    from myonion import deploy

    rows = deploy.ps(common.manager(), file)
    if as_json:
        json_out([r.to_dict() for r in rows])
        return
    table = Table("name", "template", "state", "stage", "address", "mode", "access", box=None)
    for r in rows:
        v = r.view
        if v is None:
            table.add_row(r.service, "-", "not created", "-", "-", "-", "-")
            continue
        note = (f" (backend of {r.backend_of})" if r.backend_of
                else "" if r.in_file else " (not in the file)")
        table.add_row(r.service + note, v.template,
                      v.state, v.stage, v.address or "-", v.mode,
                      f"private ({v.clients})" if v.private else "public")
    out.print(table)


@click.command()
@deployment_file()
@click.option("--purge", is_flag=True,
              help="Also remove onion keys, data volumes and client keys (new addresses next "
                   "time).")
def down(file: str, purge: bool) -> None:
    """Remove a deployment's containers; keys, data and client keys are kept for the next
    `up` (same addresses) unless --purge."""
    from myonion import deploy

    names = deploy.down(common.manager(), file, purge=purge)
    for name in names:
        err.print(f"{name}: {'purged' if purge else 'down (keys and data kept)'}")
    if not names:
        err.print("No services of this deployment exist.")


@click.group("export")
def export_group() -> None:
    """Export a deployment for other tools."""


@export_group.command("compose")
@deployment_file()
@_allow_outside()
@click.option("-o", "--output", default="compose.yaml", show_default=True,
              type=click.Path(dir_okay=False),
              help="The Compose file to write; the services' configuration goes into "
                   "myonion/ beside it.")
@click.option("--swarm", is_flag=True,
              help="A stack file for `docker stack deploy` on a Docker Swarm instead.")
@click.option("--testnet", "testnet_name", metavar="NAME",
              help="With --swarm and the local network: the swarm test network to join "
                   "(`myonion testnet up --name NAME --swarm`).")
@click.pass_context
def export_compose(ctx: click.Context, file: str, allow_outside: bool, output: str,
                   swarm: bool, testnet_name: str | None) -> None:
    """Write a standard Compose file for a deployment's services (building missing images)."""
    from myonion import deploy

    with progress(ctx) as reporter:
        manager = common.manager(reporter)
        if testnet_name:
            from myonion.manager import Manager
            from myonion.testnet import Testnet

            manager = Manager(runtime=manager.runtime, reporter=reporter,
                              testnet=Testnet(manager.runtime, reporter, name=testnet_name,
                                              swarm=True))
        result = deploy.export_compose(manager, deploy.load(file, manager.registry,
                                                            allow_outside), output,
                                       swarm=swarm)
    for service, clients in result.client_keys.items():
        for client, path in clients.items():
            err.print(f"{service}: client {client}'s key is in {path}")
    for note in result.notes:
        err.print(f"note: {note}")
    run = (f"docker stack deploy -c {result.path} STACK" if swarm
           else f"docker-compose -f {result.path} up -d")
    err.print(f"wrote {result.path} (configuration in {result.config_dir}); run it with "
              f"`{run}`")


@click.group("bundle", invoke_without_command=True)
@click.option("-f", "--file", "file", default="myonion.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="The deployment file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="The bundle to write (a tar file).")
@_allow_outside()
@common.arch_option("Make its images")
@click.pass_context
def bundle_group(ctx: click.Context, file: str, output: str | None,
                 allow_outside: bool, arch_name: str | None) -> None:
    """Images + deployment file + checksums in one tar, for a machine with no registry
    (`myonion bundle -f FILE -o OUT.tar`; on the target `myonion bundle load OUT.tar`)."""
    if ctx.invoked_subcommand:
        return
    if output is None:
        raise click.UsageError("Give the bundle's file name with -o OUT.tar.")
    from myonion import deploy
    from myonion.export import bundle_make

    with progress(ctx) as reporter:
        manager = common.arch_manager(reporter, arch_name)
        result = bundle_make.create_bundle(manager, deploy.load(file, manager.registry,
                                                                allow_outside), output)
    err.print(f"wrote {result.path}: {result.file} and {len(result.images)} {result.arch} "
              f"images ({', '.join(result.images)})")


@bundle_group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "to", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The folder to put the deployment file in.")
def bundle_load(path: str, to: str) -> None:
    """Verify a bundle, load exactly the images it names (setting no tag outside myonion's
    own) and put its deployment file into --to; then `myonion up -f` works with no registry."""
    from myonion.export import bundle
    from myonion.runtime import default_runtime

    result = bundle.load_bundle(default_runtime(), path, to)
    for tag in result.replaced:
        err.print(f"note: {tag} now names the bundle's image (it named another before)")
    err.print(f"loaded {len(result.images)} {result.arch} images; deployment "
              f"'{result.deployment}' is in {result.path}: run `myonion up -f {result.path}`")


@click.group("service")
def service_group() -> None:
    """Bring a deployment up at boot (systemd)."""


@service_group.command("install")
@deployment_file()
@_allow_outside()
@click.option("--dry-run", is_flag=True, help="Print the unit instead of installing it.")
@click.option("--unit-dir", default="/etc/systemd/system", show_default=True,
              type=click.Path(file_okay=False), help="Where to write the unit.")
def service_install(file: str, allow_outside: bool, dry_run: bool, unit_dir: str) -> None:
    """Write a systemd unit (myonion-NAME.service) that runs `myonion up` at boot and
    `myonion down` at shutdown."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    from myonion import deploy

    deployment = deploy.load(file, allow_outside=allow_outside)
    text = deploy.systemd_unit(deployment, deploy.myonion_executable())
    if dry_run:
        click.echo(text, nl=False)
        return
    path = deploy.install_unit(deployment, text, Path(unit_dir))
    err.print(f"wrote {path}")
    unit = deploy.unit_name(deployment)
    if os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
        subprocess.run(["systemctl", "daemon-reload"], check=False)
        subprocess.run(["systemctl", "enable", unit], check=False)
        err.print(f"enabled {unit}; start it now with `systemctl start {unit}`")
    else:
        err.print(f"systemd is not running here; on the target run `systemctl daemon-reload "
                  f"&& systemctl enable --now {unit}`")
