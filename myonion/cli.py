"""The ``myonion`` command line. One place (``main``) turns errors into messages and exit codes."""

from __future__ import annotations

import json
import sys
import time
from enum import IntEnum
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from myonion import __version__, access, config, images, keys
from myonion.errors import MyOnionError
from myonion.folders import WholeHomeFolder
from myonion.manager import Manager, ServiceView
from myonion.progress import TerminalReporter
from myonion.templates import COMMON_OPTIONS, parse_option_args

# piped output (scripts, logs) keeps whole addresses: tables take their natural width
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 1000)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    CTRL_C = 130


def _manager(reporter: TerminalReporter | None = None) -> Manager:
    return Manager(reporter=reporter) if reporter else Manager()


def _arch_manager(reporter: TerminalReporter | None, arch: str | None) -> Manager:
    """A manager whose new services (and images) are for ``arch`` when given."""
    manager = _manager(reporter)
    if arch is not None:
        manager.arch = arch
    return manager


def _arch_option(what: str) -> Any:
    return click.option("--arch", "arch_name", metavar="ARCH",
                        help=f"{what} for amd64, arm64 (64-bit Raspberry Pi OS) or armhf (its "
                             "32-bit one); default $MYONION_ARCH, else this machine's. Another "
                             "architecture than this machine's runs through emulation.")


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="myonion")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.option("-v", "--verbose", is_flag=True, help="Show every line of build logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Run templates as Docker containers, each with its own tor, as onion services."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["verbose"] = verbose


def _progress(ctx: click.Context) -> TerminalReporter:
    return TerminalReporter(err, verbose=bool(ctx.obj.get("verbose")))


# base ---------------------------------------------------------------------------------------
@cli.group()
def base() -> None:
    """The base image templates build on."""


@base.command("build")
@click.option("--mirror", help="Debian mirror URL (default: the one this host's apt uses).")
@click.option("--arch", "arch_name", metavar="ARCH",
              help="amd64, arm64 or armhf (default: this machine's); another architecture "
                   "is made through emulation (qemu-user-static).")
@click.option("--tag", help=f"The image's tag (default: {images.LOCAL_BASE}, with -ARCH for "
                            "another architecture than amd64).")
@click.option("--force", is_flag=True, help="Rebuild even if the image exists.")
@click.pass_context
def base_build(ctx: click.Context, mirror: str | None, arch_name: str | None,
               tag: str | None, force: bool) -> None:
    """Make the base image locally with debootstrap and docker import (no registry needed)."""
    from myonion.runtime import default_runtime

    with _progress(ctx) as reporter:
        result = images.build_base(default_runtime(), mirror=mirror, tag=tag, reporter=reporter,
                                   force=force, arch=arch_name)
    out.print(result)


@cli.command("prune")
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
def prune(dry_run: bool) -> None:
    """Remove images of older template versions that no container uses (frees disk space)."""
    result = _manager().prune_images(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for tag in result.removed:
        out.print(f"{verb} {tag}")
    for tag, why in result.kept.items():
        err.print(f"kept {tag}: {why}")
    if not result.removed:
        out.print("No old images: every myonion image is current or in use.")
    else:
        out.print(f"{verb} {len(result.removed)} image(s), up to "
                  f"{result.size / 1e6:.1f} MB (layers other images share stay)")


# templates ----------------------------------------------------------------------------------
@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def templates(ctx: click.Context, as_json: bool) -> None:
    """List the templates."""
    if ctx.invoked_subcommand:
        return
    from myonion.templates import TemplateRegistry

    specs = TemplateRegistry().all()
    if as_json:
        _json([t.to_dict() for t in specs])
        return
    table = Table("id", "title", "onion ports", "options", box=None)
    for t in specs:
        table.add_row(t.id, t.title, ", ".join(f"{p.virtual}→{p.target}" for p in t.ports),
                      ", ".join(o.name for o in t.options) or "-")
    out.print(table)


@templates.command("show")
@click.argument("template_id")
@click.option("--json", "as_json", is_flag=True)
def templates_show(template_id: str, as_json: bool) -> None:
    """One template's description and options."""
    from myonion.templates import TemplateRegistry

    t = TemplateRegistry().get(template_id)
    if as_json:
        _json(t.to_dict())
        return
    out.print(f"[bold]{t.id}[/bold] — {t.title}\n{t.description}\n")
    out.print("onion ports: " + ", ".join(
        f"{p.virtual} → 127.0.0.1:{p.target}" + (f" (when {p.when})" if p.when else "")
        for p in t.ports))
    for pub in t.publish:
        out.print(f"published on this machine only when asked: port {pub.target} "
                  f"(-o {pub.option}=PORT" + (f", -o {pub.address_option}=ADDRESS"
                                              if pub.address_option else "") + ")")
    table = Table("option", "type", "required", "default", "help", box=None)
    for o in t.options:
        kind = f"choice ({'|'.join(o.choices)})" if o.choices else o.type
        table.add_row(o.name, kind, "yes" if o.required else "no",
                      "" if o.default is None else str(o.default), o.help)
    out.print(table)
    for group in t.one_of:
        out.print("give exactly one of: " + ", ".join(group))
    out.print("every template also takes tor's DoS defences: " + ", ".join(
        f"{o.name} ({o.type})" for o in COMMON_OPTIONS) + " (see docs/SECURITY.md)")


# share and lifecycle ------------------------------------------------------------------------
def _show_service(view: ServiceView, as_json: bool) -> None:
    if as_json:
        _json(view.to_dict())
        return
    out.print(f"name:     {view.name}")
    out.print(f"template: {view.template}")
    out.print(f"state:    {view.state} ({view.stage}"
              + (f" {view.percent}%" if view.percent is not None else "") + ")")
    if view.reason:
        out.print(f"reason:   {view.reason}")
    if view.health:
        out.print(f"health:   {view.health} (the container's own healthcheck)")
    out.print(f"network:  {view.network}    mode: {view.mode}    arch: {view.arch}")
    out.print(f"address:  {view.address or '-'}")
    if view.private:
        out.print(f"access:   private, {view.clients} authorized client(s)")
    if view.remaining is not None:
        out.print(f"ends in:  {access.format_duration(view.remaining)}")
    for target, host in view.published.items():
        out.print(f"published: {host} → {target} (on this machine)")
    if view.timings:
        out.print("timings:  " + ", ".join(f"{k} {v:.1f} s" for k, v in view.timings.items()))


@cli.command()
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
@_arch_option("Build and run it")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def share(ctx: click.Context, template_id: str, options: tuple[str, ...], name: str | None,
          network: str | None, persistent: bool, clients: tuple[str, ...], ttl: str | None,
          key_file: str | None, no_wait: bool, timeout: float, whole_home: bool,
          arch_name: str | None, as_json: bool) -> None:
    """Build TEMPLATE, run it with its own tor and print its .onion address."""
    values = parse_option_args(options)
    seconds = access.parse_duration(ttl) if ttl is not None else None
    key = _read_key(key_file) if key_file else None
    while True:
        try:
            with _progress(ctx) as reporter:
                manager = _manager(reporter)
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
    if as_json:
        _json({**view.to_dict(), "client_lines": lines})
        return
    _show_service(view, False)
    for client, line in lines.items():
        out.print(f"client {client}: {line}")
    if lines:
        err.print("Give each client its line (for Tor Browser, the part after "
                  "'descriptor:x25519:'); see `myonion clients --help`.")


@cli.command("ls")
@click.option("--json", "as_json", is_flag=True)
def ls(as_json: bool) -> None:
    """Every myonion service."""
    views = _manager().list()
    if as_json:
        _json([v.to_dict() for v in views])
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
        if v.stage in ("failed", "failing") and v.reason:
            err.print(f"{v.name}: {v.reason}", markup=False, highlight=False)


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def status(name: str, as_json: bool) -> None:
    """One service in detail (of a balanced service's frontend: also its backends)."""
    from myonion import balance as balancing

    manager = _manager()
    view = manager.status(name)
    if not balancing.is_frontend(manager, view):
        _show_service(view, as_json)
        return
    balanced = balancing.status(manager, name)
    if as_json:
        _json({**view.to_dict(), "balance": {k: v for k, v in balanced.to_dict().items()
                                             if k != "frontend"}})
        return
    _show_service(view, False)
    _show_backends(balanced)


@cli.command()
@click.argument("name")
@click.option("--qr", is_flag=True, help="Also print a QR code of the address.")
def address(name: str, qr: bool) -> None:
    """Print a service's .onion address."""
    addr = _manager().address(name)
    out.print(addr)
    if qr:
        import segno

        segno.make(addr, error="m").terminal(compact=True)


@cli.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True)
@click.option("-n", "--tail", type=int, default=None, help="Only the last N lines.")
def logs(name: str, follow: bool, tail: int | None) -> None:
    """A service's log (tor and the service)."""
    for line in _manager().logs(name, tail=tail, follow=follow):
        click.echo(line)


@cli.command()
@click.argument("name")
@click.option("--no-wait", is_flag=True)
@click.option("--timeout", default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def start(ctx: click.Context, name: str, no_wait: bool, timeout: float, as_json: bool) -> None:
    """Start a stopped service."""
    with _progress(ctx) as reporter:
        view = _manager(reporter).start(name, wait=not no_wait, timeout=timeout)
    _show_service(view, as_json)


@cli.command()
@click.argument("name")
def stop(name: str) -> None:
    """Stop a service (an ephemeral one loses its address)."""
    view = _manager().stop(name)
    err.print(f"{view.name}: {view.state}")


@cli.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("--purge", is_flag=True,
              help="Also delete what a persistent service keeps: its onion key (its address), "
                   "client keys and data.")
def rm(names: tuple[str, ...], purge: bool) -> None:
    """Remove services. A persistent one keeps its onion key, client keys and data (start it
    again at the same address) unless --purge; an ephemeral one keeps nothing."""
    manager = _manager()
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


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def repair(name: str, as_json: bool) -> None:
    """Make a service's record again when it cannot be read (from its last good copy or its
    container's labels); its container, keys and data are not touched."""
    _show_service(_manager().repair(name), as_json)


@cli.command()
@click.argument("name")
@click.option("--timeout", default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def promote(ctx: click.Context, name: str, timeout: float, as_json: bool) -> None:
    """Make a running ephemeral service persistent, keeping its current address."""
    with _progress(ctx) as reporter:
        view = _manager(reporter).promote(name, timeout=timeout)
    _show_service(view, as_json)


@cli.command()
@click.argument("name")
@click.option("--timeout", default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rebuild(ctx: click.Context, name: str, timeout: float, as_json: bool) -> None:
    """Build a service's image afresh and replace its container (a persistent one keeps its
    address, data and clients)."""
    with _progress(ctx) as reporter:
        view = _manager(reporter).rebuild(name, timeout=timeout)
    _show_service(view, as_json)


# keys and clients ---------------------------------------------------------------------------
PASSPHRASE_ENV = "MYONION_KEY_PASSPHRASE"


def _passphrase(confirm: bool) -> str:
    """From $MYONION_KEY_PASSPHRASE (scripts), else asked on the terminal."""
    import os

    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise MyOnionError("A passphrase is needed and there is no terminal to ask for it.",
                           hint=f"Set {PASSPHRASE_ENV} in the environment.")
    text: str = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm,
                             err=True)
    return text


def _read_key(path: str) -> keys.OnionKey:
    with open(path, "rb") as f:
        data = f.read()
    # an export is a JSON document; a tor key file starts with its binary header
    passphrase = _passphrase(confirm=False) if data.lstrip()[:1] == b"{" else None
    return keys.read_key_file(data, passphrase)


@cli.group("keys")
def keys_group() -> None:
    """Back up and restore a service's onion key (its address)."""


@keys_group.command("export")
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="File to write (mode 0600); it must not exist.")
def keys_export(name: str, output: str) -> None:
    """Write NAME's onion key, encrypted with a passphrase ($MYONION_KEY_PASSPHRASE or asked)."""
    import os

    manager = _manager()
    manager.status(name, live=False)  # an unknown name fails before the passphrase is asked
    if os.path.exists(output):
        raise MyOnionError(f"{output} exists already; it was not overwritten.",
                           hint="Give another file name, or remove that file first.")
    data = manager.export_key(name, _passphrase(confirm=True))
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    err.print(f"{name}: key of {json.loads(data)['address']} written to {output}")


@keys_group.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--timeout", default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def keys_import(ctx: click.Context, name: str, file: str, timeout: float,
                as_json: bool) -> None:
    """Make NAME serve the key in FILE (a `keys export` file, or a tor hs_ed25519_secret_key
    such as a vanity key from mkp224o). NAME becomes persistent; a running one restarts."""
    key = _read_key(file)
    with _progress(ctx) as reporter:
        view = _manager(reporter).import_key(name, key, timeout=timeout)
    _show_service(view, as_json)


@cli.group("clients")
def clients_group() -> None:
    """v3 client authorization: only clients with a key may connect."""


def _print_line(line: str, qr: bool) -> None:
    out.print(line)
    if qr:
        import segno

        segno.make(line, error="m").terminal(compact=True)


@clients_group.command("add")
@click.argument("name")
@click.argument("client")
@click.option("--public-key", help="The client's own x25519 public key (base32), instead of "
              "a new pair made here.")
@click.option("--qr", is_flag=True, help="Also print the client's line as a QR code.")
@click.option("--json", "as_json", is_flag=True)
def clients_add(name: str, client: str, public_key: str | None, qr: bool,
                as_json: bool) -> None:
    """Let CLIENT connect to NAME (the first client makes NAME private); prints the line the
    client puts in its ClientOnionAuthDir as CLIENT.auth_private."""
    manager = _manager()
    key = manager.client_add(name, client, public_key=public_key)
    line = manager.client_line(name, client) if key.private else None
    if as_json:
        _json({"service": name, "client": client, "public": key.auth_line(),
               "auth_private": line})
    elif line:
        _print_line(line, qr)
        err.print(f"Give {client} this line; Tor Browser asks for the key after "
                  "'descriptor:x25519:'.")
    else:
        err.print(f"{client} may now connect with its own key.")


@clients_group.command("show")
@click.argument("name")
@click.argument("client")
@click.option("--qr", is_flag=True, help="Also print it as a QR code.")
def clients_show(name: str, client: str, qr: bool) -> None:
    """Print CLIENT's line (``<address>:descriptor:x25519:<key>``) again."""
    _print_line(_manager().client_line(name, client), qr)


@clients_group.command("ls")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def clients_ls(name: str, as_json: bool) -> None:
    """NAME's authorized clients (their public keys)."""
    clients = _manager().clients(name)
    if as_json:
        _json([c.to_dict() for c in clients])
        return
    if not clients:
        err.print(f"{name} has no authorized clients.")
        return
    table = Table("client", "public key", "added", box=None)
    for c in clients:
        table.add_row(c.name, c.public, time.strftime("%Y-%m-%d %H:%M", time.localtime(c.added)))
    out.print(table)


@clients_group.command("rm")
@click.argument("name")
@click.argument("client")
def clients_rm(name: str, client: str) -> None:
    """Revoke CLIENT: its key no longer connects; NAME keeps its address."""
    manager = _manager()
    manager.client_remove(name, client)
    left = len(manager.clients(name))
    err.print(f"{name}: {client} removed; {left} client(s) left"
              + ("" if left else " (nobody can connect until you add one)"))


@cli.command()
@click.argument("name")
@click.option("--timeout", default=60.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def check(name: str, timeout: float, as_json: bool) -> None:
    """Prove a service works: its template's probes through a separate tor client; exit 1
    unless every one passes (an onion that answers while the service fails is not reachable)."""
    result = _manager().check(name, timeout=timeout)
    health = f"; container {result.health}" if result.health else ""
    if as_json:
        _json(result.to_dict())
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


@cli.command("fetch")
@click.argument("url")
@click.option("--network", type=click.Choice(config.NETWORKS))
@click.option("--timeout", default=60.0, show_default=True)
def fetch_cmd(url: str, network: str | None, timeout: float) -> None:
    """Print the body of URL fetched through tor (the test network's client when local)."""
    response = _manager().fetch(url, network=network, timeout=timeout)
    sys.stdout.buffer.write(response.body)
    sys.stdout.flush()
    if response.status >= 400:
        err.print(f"HTTP {response.status}")
        raise SystemExit(ExitStatus.ERROR)


# deployments --------------------------------------------------------------------------------
def _deployment_file() -> Any:
    return click.option("-f", "--file", "file", default="myonion.yaml", show_default=True,
                        type=click.Path(dir_okay=False),
                        help="The deployment file (see docs/deployments.md).")


@cli.command()
@_deployment_file()
@click.option("--timeout", default=120.0, show_default=True,
              help="Seconds to wait for each service's readiness.")
@click.option("--dry-run", is_flag=True, help="Only print what would be done.")
@_arch_option("Build and run its services")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def up(ctx: click.Context, file: str, timeout: float, dry_run: bool, arch_name: str | None,
       as_json: bool) -> None:
    """Create or update every service of a deployment file; unchanged ones are left alone."""
    from myonion import deploy

    if dry_run:
        manager = _arch_manager(None, arch_name)
        planned = deploy.plan(manager, deploy.load(file, manager.registry))
        if as_json:
            _json([s.to_dict() for s in planned])
        for s in planned if not as_json else []:
            out.print(f"{s.service}: {s.action}" + (f" ({s.reason})" if s.reason else ""))
        return
    with _progress(ctx) as reporter:
        manager = _arch_manager(reporter, arch_name)
        deployment = deploy.load(file, manager.registry)
        steps = deploy.up(manager, deployment, timeout=timeout, on_step=lambda s: err.print(
            f"{s.service}: {s.action}" + (f" ({s.reason})" if s.reason else "")))
    if as_json:
        _json([s.to_dict() for s in steps])
        return
    for s in steps:
        address = s.view.address if s.view else None
        out.print(f"{s.service}: {s.action}" + (f"  {address}" if address else ""))


@cli.command("ps")
@_deployment_file()
@click.option("--json", "as_json", is_flag=True)
def ps_cmd(file: str, as_json: bool) -> None:
    """The services of a deployment: state and addresses."""
    from myonion import deploy

    rows = deploy.ps(_manager(), file)
    if as_json:
        _json([r.to_dict() for r in rows])
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


@cli.command()
@_deployment_file()
@click.option("--purge", is_flag=True,
              help="Also remove onion keys, data volumes and client keys (new addresses next "
                   "time).")
def down(file: str, purge: bool) -> None:
    """Remove a deployment's containers; keys, data and client keys are kept for the next
    `up` (same addresses) unless --purge."""
    from myonion import deploy

    names = deploy.down(_manager(), file, purge=purge)
    for name in names:
        err.print(f"{name}: {'purged' if purge else 'down (keys and data kept)'}")
    if not names:
        err.print("No services of this deployment exist.")


@cli.group("export")
def export_group() -> None:
    """Export a deployment for other tools."""


@export_group.command("compose")
@_deployment_file()
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
def export_compose(ctx: click.Context, file: str, output: str, swarm: bool,
                   testnet_name: str | None) -> None:
    """Write a standard Compose file for a deployment's services (building missing images)."""
    from myonion import deploy

    with _progress(ctx) as reporter:
        manager = _manager(reporter)
        if testnet_name:
            from myonion.testnet import Testnet

            manager = Manager(runtime=manager.runtime, reporter=reporter,
                              testnet=Testnet(manager.runtime, reporter, name=testnet_name,
                                              swarm=True))
        result = deploy.export_compose(manager, deploy.load(file, manager.registry), output,
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


@cli.group("bundle", invoke_without_command=True)
@click.option("-f", "--file", "file", default="myonion.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="The deployment file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="The bundle to write (a tar file).")
@_arch_option("Make its images")
@click.pass_context
def bundle_group(ctx: click.Context, file: str, output: str | None,
                 arch_name: str | None) -> None:
    """Images + deployment file + checksums in one tar, for a machine with no registry
    (`myonion bundle -f FILE -o OUT.tar`; on the target `myonion bundle load OUT.tar`)."""
    if ctx.invoked_subcommand:
        return
    if output is None:
        raise click.UsageError("Give the bundle's file name with -o OUT.tar.")
    from myonion import bundle, deploy

    with _progress(ctx) as reporter:
        manager = _arch_manager(reporter, arch_name)
        result = bundle.create_bundle(manager, deploy.load(file, manager.registry), output)
    err.print(f"wrote {result.path}: {result.file} and {len(result.images)} {result.arch} "
              f"images ({', '.join(result.images)})")


@bundle_group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "to", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The folder to put the deployment file in.")
def bundle_load(path: str, to: str) -> None:
    """Verify a bundle, load exactly the images it names (setting no tag outside myonion's
    own) and put its deployment file into --to; then `myonion up -f` works with no registry."""
    from myonion import bundle
    from myonion.runtime import default_runtime

    result = bundle.load_bundle(default_runtime(), path, to)
    for tag in result.replaced:
        err.print(f"note: {tag} now names the bundle's image (it named another before)")
    err.print(f"loaded {len(result.images)} {result.arch} images; deployment "
              f"'{result.deployment}' is in "
              f"{result.path}: run `myonion up -f {result.path}`")


@cli.group("service")
def service_group() -> None:
    """Bring a deployment up at boot (systemd)."""


@service_group.command("install")
@_deployment_file()
@click.option("--dry-run", is_flag=True, help="Print the unit instead of installing it.")
@click.option("--unit-dir", default="/etc/systemd/system", show_default=True,
              type=click.Path(file_okay=False), help="Where to write the unit.")
def service_install(file: str, dry_run: bool, unit_dir: str) -> None:
    """Write a systemd unit (myonion-NAME.service) that runs `myonion up` at boot and
    `myonion down` at shutdown."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    from myonion import deploy

    deployment = deploy.load(file)
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


# testnet ------------------------------------------------------------------------------------
@cli.group()
def testnet() -> None:
    """The private Tor network on this machine (for tests and demos, no internet needed)."""


def _testnet(reporter: TerminalReporter | None = None, name: str | None = None,
             swarm: bool = False) -> Any:
    from myonion.events import log_reporter
    from myonion.runtime import default_runtime
    from myonion.testnet import NETWORK, Testnet

    return Testnet(default_runtime(), reporter or log_reporter, name=name or NETWORK,
                   swarm=swarm)


def _testnet_name() -> Any:
    return click.option("--name", default=None, metavar="NAME",
                        help="A second, named test network (default: the one local-mode "
                             "services use).")


def _show_testnet(st: Any, as_json: bool) -> None:
    if as_json:
        _json(st.to_dict())
        return
    out.print(f"up: {'yes' if st.up else 'no'}    consensus: {'yes' if st.consensus else 'no'}"
              f"    client bootstrapped: {'yes' if st.client_bootstrapped else 'no'}")
    if st.socks:
        out.print(f"SOCKS: {st.socks[0]}:{st.socks[1]}")
    table = Table("node", "role", "state", "bootstrap", "address", box=None)
    for n in st.nodes:
        table.add_row(n.name, n.role, n.state, "-" if n.bootstrap is None else f"{n.bootstrap}%",
                      n.address or "-")
    out.print(table)


@testnet.command("up")
@click.option("--relays", default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_testnet_name()
@click.option("--swarm", is_flag=True,
              help="With --name: an attachable overlay that Docker Swarm services can join "
                   "(run `docker swarm init` first).")
@click.pass_context
def testnet_up(ctx: click.Context, relays: int, as_json: bool, name: str | None,
               swarm: bool) -> None:
    """Start the test network; prints its SOCKS address on 127.0.0.1."""
    started = time.monotonic()
    with _progress(ctx) as reporter:
        st = _testnet(reporter, name, swarm).up(relays=relays)
    if not as_json:
        err.print(f"test network up in {time.monotonic() - started:.1f} s")
    _show_testnet(st, as_json)


@testnet.command("status")
@click.option("--json", "as_json", is_flag=True)
@_testnet_name()
def testnet_status(as_json: bool, name: str | None) -> None:
    """Authorities, relays, consensus and client state."""
    _show_testnet(_testnet(name=name).status(), as_json)


@testnet.command("down")
@_testnet_name()
def testnet_down(name: str | None) -> None:
    """Remove every test network container, network and volume."""
    _testnet(name=name).down()
    err.print("test network removed")


@cli.command()
def gui() -> None:
    """Open the desktop app."""
    try:
        from gui.app import main as gui_main
    except ImportError as e:
        raise MyOnionError("The desktop app is not installed.",
                           hint="pip install 'myonion[gui]'") from e
    raise SystemExit(gui_main())


# balance: one address, several backends (Onionbalance) -----------------------------------------
@cli.group()
def balance() -> None:
    """One onion address served by several backends (Onionbalance v3)."""


def _show_balance(view: Any, as_json: bool) -> None:
    if as_json:
        _json(view.to_dict())
        return
    out.print(f"name:     {view.name} (Onionbalance frontend: {view.frontend.state}, "
              f"{view.frontend.stage})")
    out.print(f"address:  {view.address or '-'}")
    _show_backends(view)


def _show_backends(view: Any) -> None:
    """A balanced service's backends, and what its frontend last published."""
    table = Table("backend", "state", "listed", "descriptor age", "intro points", "address")
    for b in view.backends:
        listed = "-" if b.listed is None else ("yes" if b.listed else "no")
        age = "-" if b.descriptor_age is None else f"{b.descriptor_age:.0f} s"
        # a backend on another machine has no state here, only its address
        state = b.state if b.state == b.stage else f"{b.state} ({b.stage})"
        table.add_row(b.name, state, listed, age,
                      str(b.intro_points if b.intro_points is not None else "-"),
                      b.address or "-")
    out.print(table)
    if view.published.get("first") or view.published.get("second"):
        out.print(f"published (UTC): {view.published.get('first') or '-'} / "
                  f"{view.published.get('second') or '-'}")
    if view.note:
        out.print(f"note:     {view.note}")


@balance.command("share")
@click.argument("template_id")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="An option of the backends' template (repeatable).")
@click.option("--backends", default=2, show_default=True, help="How many backends.")
@click.option("--name", help="Name of the frontend; backends are NAME-b1 … (default: "
              "TEMPLATE-lb).")
@click.option("--network", type=click.Choice(config.NETWORKS),
              help="Tor network (default: $MYONION_NETWORK or tor).")
@click.option("--timeout", default=180.0, show_default=True,
              help="Seconds to wait for each service's readiness.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def balance_share(ctx: click.Context, template_id: str, options: tuple[str, ...], backends: int,
                  name: str | None, network: str | None, timeout: float, as_json: bool) -> None:
    """Run TEMPLATE as several backends behind one Onionbalance address."""
    from myonion import balance as balancing

    values = parse_option_args(options)
    with _progress(ctx) as reporter:
        view = balancing.share(_manager(reporter), template_id, values, name=name,
                               backends=backends, network=network, timeout=timeout)
    _show_balance(view, as_json)


@balance.command("status")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def balance_status(name: str, as_json: bool) -> None:
    """The frontend, and each backend's state and whether onionbalance lists it."""
    from myonion import balance as balancing

    _show_balance(balancing.status(_manager(), name), as_json)


@balance.command("rm")
@click.argument("name")
@click.option("--purge", is_flag=True,
              help="Also delete the keys (the master address among them) and data.")
def balance_rm(name: str, purge: bool) -> None:
    """Remove a balanced service: the frontend and every backend. Their keys (the master
    address) and data are kept unless --purge: `myonion start` brings each back."""
    from myonion import balance as balancing

    for each in balancing.remove(_manager(), name, purge=purge):
        out.print(f"removed {each}" + ("" if purge else " (its key and data kept)"))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every MyOnionError becomes `error:`/`hint:` on stderr and exit status 1."""
    args = sys.argv[1:] if argv is None else argv
    # --debug is an option of `myonion` itself, before the command (not a value such as -o --debug)
    debug = "--debug" in args[:next((i for i, a in enumerate(args) if not a.startswith("-")),
                                    len(args))]
    try:
        cli.main(args=args, prog_name="myonion", standalone_mode=False)
    except MyOnionError as e:
        if debug:
            raise
        # the message may quote what the user typed: brackets in it are text, not markup
        err.print(f"[red]error:[/red] {escape(e.message)}", highlight=False)
        if e.detail:
            err.print(e.detail, markup=False, highlight=False)
        if e.hint:
            err.print(f"[yellow]hint:[/yellow] {escape(e.hint)}", highlight=False)
        return ExitStatus.ERROR
    except click.exceptions.Abort:
        err.print("aborted")
        return ExitStatus.CTRL_C
    except KeyboardInterrupt:
        err.print("interrupted")
        return ExitStatus.CTRL_C
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else ExitStatus.ERROR
    return ExitStatus.OK


if __name__ == "__main__":
    sys.exit(main())
