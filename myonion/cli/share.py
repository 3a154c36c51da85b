"""Sharing a template and a service's life: share, ls, status, address, logs, start, stop, rm,
repair, promote, rebuild, check, fetch."""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from rich.table import Table

from myonion import access, config
from myonion.cli import common
from myonion.cli.common import (
    ExitStatus,
    err,
    json_out,
    out,
    progress,
    show_service,
)
from myonion.cli.keys import read_key
from myonion.folders import WholeHomeFolder
from myonion.templates import parse_option_args


@click.command()
@click.argument("template_id")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A template option (repeatable); see `myonion templates show TEMPLATE`.")
@click.option("--name", help="Service name (default: the template id).")
@click.option("--network", type=click.Choice(config.NETWORKS),
              help="Tor network: the public 'tor' or the 'local' test network "
                   "(default: $MYONION_NETWORK or tor).")
@click.option("--persistent", is_flag=True, help="Keep the address across restarts.")
@click.option("--client", "clients", multiple=True, metavar="NAME",
              help="Private from the first second: only this client may connect (repeatable; "
                   "prints each client's key line).")
@click.option("--ttl", metavar="DURATION",
              help="Stop after this long (e.g. 30m, 2h, 1d); an ephemeral service is removed.")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False),
              help="Serve this onion key: a `myonion keys export` file or a tor "
                   "hs_ed25519_secret_key (e.g. a vanity key). Implies --persistent.")
@click.option("--no-wait", is_flag=True, help="Return once started, without waiting for tor.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for readiness.")
@click.option("--yes", "whole_home", is_flag=True,
              help="Yes, share a whole home folder (asked otherwise).")
@common.arch_option("Build and run it")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def share(ctx: click.Context, template_id: str, options: tuple[str, ...], name: str | None,
          network: str | None, persistent: bool, clients: tuple[str, ...], ttl: str | None,
          key_file: str | None, no_wait: bool, timeout: float, whole_home: bool,
          arch_name: str | None, as_json: bool) -> None:
    """Build TEMPLATE, run it with its own tor and print its .onion address."""
    values = parse_option_args(options)
    seconds = access.parse_duration(ttl) if ttl is not None else None
    key = read_key(key_file) if key_file else None
    while True:
        try:
            with progress(ctx) as reporter:
                manager = common.manager(reporter)
                view = manager.share(template_id, values, name=name, network=network,
                                     persistent=persistent, wait=not no_wait, timeout=timeout,
                                     clients=list(clients), ttl=seconds, key=key,
                                     whole_home=whole_home, arch=arch_name)
            break
        except WholeHomeFolder as e:
            # refused before anything was built: ask on a terminal, else say what to do
            if whole_home or not sys.stdin.isatty():
                raise
            err.print(escape(e.message))
            if not click.confirm("Share the whole home folder?", default=False, err=True):
                raise click.exceptions.Abort() from None
            whole_home = True
    lines = {c: manager.client_line(view.name, c) for c in clients} if view.address else {}
    from myonion.cli.gateway import public_warnings

    warnings = public_warnings(view)
    if as_json:
        json_out({**view.to_dict(), "client_lines": lines, "warnings": warnings})
        return
    show_service(view, False)
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    for client, line in lines.items():
        out.print(f"client {client}: {line}")
    if lines:
        err.print("Give each client its line (for Tor Browser, the part after "
                  "'descriptor:x25519:'); see `myonion clients --help`.")


@click.command("ls")
@click.option("--json", "as_json", is_flag=True)
def ls(as_json: bool) -> None:
    """Every myonion service."""
    views = common.manager().list()
    if as_json:
        json_out([v.to_dict() for v in views])
        return
    if not views:
        err.print("No services. Share one with `myonion share site`.")
        return
    table = Table("name", "template", "state", "stage", "health", "address", "network", "mode",
                  "arch", "access", "ends in", box=None)
    for v in views:
        table.add_row(v.name, v.template, v.state, v.stage, v.health or "-", v.address or "-",
                      v.network, v.mode, v.arch,
                      f"private ({v.clients})" if v.private else "public",
                      access.format_duration(v.remaining) if v.remaining is not None else "-")
    out.print(table)
    for v in views:
        if v.previous_address:
            err.print(f"{v.name}: a NEW address since its container was restarted; "
                      f"{v.previous_address} is gone for good", markup=False, highlight=False)
        if v.stage in ("failed", "failing") and v.reason:
            err.print(f"{v.name}: {v.reason}", markup=False, highlight=False)


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def status(name: str, as_json: bool) -> None:
    """One service in detail (of a balanced service's frontend: also its backends)."""
    from myonion.cli.balance import show_backends
    from myonion.deploy import balance as balancing

    manager = common.manager()
    view = manager.status(name)
    if not balancing.is_frontend(manager, view):
        show_service(view, as_json)
        return
    balanced = balancing.status(manager, name)
    if as_json:
        json_out({**view.to_dict(), "balance": {k: v for k, v in balanced.to_dict().items()
                                             if k != "frontend"}})
        return
    show_service(view, False)
    show_backends(balanced)


@click.command()
@click.argument("name")
@click.option("--qr", is_flag=True, help="Also print a QR code of the address.")
def address(name: str, qr: bool) -> None:
    """Print a service's .onion address."""
    addr = common.manager().address(name)
    out.print(addr)
    if qr:
        import segno

        segno.make(addr, error="m").terminal(compact=True)


@click.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True)
@click.option("-n", "--tail", type=int, default=None, help="Only the last N lines.")
def logs(name: str, follow: bool, tail: int | None) -> None:
    """A service's log (tor and the service)."""
    for line in common.manager().logs(name, tail=tail, follow=follow):
        click.echo(line)


@click.command()
@click.argument("name")
@click.option("--no-wait", is_flag=True)
@click.option("--timeout", default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def start(ctx: click.Context, name: str, no_wait: bool, timeout: float, as_json: bool) -> None:
    """Start a stopped service."""
    with progress(ctx) as reporter:
        view = common.manager(reporter).start(name, wait=not no_wait, timeout=timeout)
    show_service(view, as_json)


@click.command()
@click.argument("name")
def stop(name: str) -> None:
    """Stop a service (an ephemeral one loses its address)."""
    view = common.manager().stop(name)
    err.print(f"{view.name}: {view.state}")


@click.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("--purge", is_flag=True,
              help="Also delete what a persistent service keeps: its onion key (its address), "
                   "client keys and data.")
def rm(names: tuple[str, ...], purge: bool) -> None:
    """Remove services. A persistent one keeps its onion key, client keys and data (start it
    again at the same address) unless --purge; an ephemeral one keeps nothing."""
    manager = common.manager()
    for name in names:
        kept = manager.remove(name, purge=purge)
        if kept is None:
            err.print(f"{name}: removed" + (" with its keys and data" if purge else ""))
            continue
        what = ", ".join(filter(None, [
            f"its onion key ({kept.address})" if kept.address else "its onion key",
            f"{kept.clients} client key(s)" if kept.clients else "",
            "its data" if len(kept.volumes) > 1 else ""]))
        err.print(f"{name}: removed; kept {what}. `myonion start {name}` brings it back at the "
                  f"same address; `myonion rm --purge {name}` deletes them.",
                  markup=False, highlight=False)


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def repair(name: str, as_json: bool) -> None:
    """Make a service's record again when it cannot be read (from its last good copy or its
    container's labels); its container, keys and data are not touched."""
    show_service(common.manager().repair(name), as_json)


@click.command()
@click.argument("name")
@click.option("--timeout", default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def promote(ctx: click.Context, name: str, timeout: float, as_json: bool) -> None:
    """Make a running ephemeral service persistent, keeping its current address."""
    with progress(ctx) as reporter:
        view = common.manager(reporter).promote(name, timeout=timeout)
    show_service(view, as_json)


@click.command()
@click.argument("name")
@click.option("--timeout", default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rebuild(ctx: click.Context, name: str, timeout: float, as_json: bool) -> None:
    """Build a service's image afresh and replace its container (a persistent one keeps its
    address, data and clients)."""
    with progress(ctx) as reporter:
        view = common.manager(reporter).rebuild(name, timeout=timeout)
    show_service(view, as_json)


@click.command()
@click.argument("name")
@click.option("--timeout", default=60.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def check(name: str, timeout: float, as_json: bool) -> None:
    """Prove a service works: its template's probes through a separate tor client; exit 1
    unless every one passes (an onion that answers while the service fails is not reachable)."""
    result = common.manager().check(name, timeout=timeout)
    health = f"; container {result.health}" if result.health else ""
    if as_json:
        json_out(result.to_dict())
    elif result.reachable:
        out.print(f"{name}: reachable at {result.address} in {result.seconds:.2f} s ("
                  + "; ".join(p["detail"] for p in result.probes) + f"{health})")
    elif result.onion_up:
        err.print(f"{name}: onion up, but the service fails: {result.error}{health}",
                  markup=False, highlight=False)
    else:
        err.print(f"{name}: NOT reachable at {result.address}: {result.error}{health}",
                  markup=False, highlight=False)
    if not result.reachable:
        raise SystemExit(ExitStatus.ERROR)


@click.command("fetch")
@click.argument("url")
@click.option("--network", type=click.Choice(config.NETWORKS))
@click.option("--timeout", default=60.0, show_default=True)
def fetch_cmd(url: str, network: str | None, timeout: float) -> None:
    """Print the body of URL fetched through tor (the test network's client when local)."""
    response = common.manager().fetch(url, network=network, timeout=timeout)
    sys.stdout.buffer.write(response.body)
    sys.stdout.flush()
    if response.status >= 400:
        err.print(f"HTTP {response.status}")
        raise SystemExit(ExitStatus.ERROR)
