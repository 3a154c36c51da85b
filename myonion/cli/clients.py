"""`myonion clients`: v3 client authorization of a service."""

from __future__ import annotations

import time

import click
from rich.table import Table

from myonion.cli import common
from myonion.cli.common import (
    err,
    json_out,
    out,
)


@click.group("clients")
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
    manager = common.manager()
    key = manager.client_add(name, client, public_key=public_key)
    line = manager.client_line(name, client) if key.private else None
    if as_json:
        json_out({"service": name, "client": client, "public": key.auth_line(),
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
    _print_line(common.manager().client_line(name, client), qr)


@clients_group.command("ls")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def clients_ls(name: str, as_json: bool) -> None:
    """NAME's authorized clients (their public keys)."""
    clients = common.manager().clients(name)
    if as_json:
        json_out([c.to_dict() for c in clients])
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
    manager = common.manager()
    manager.client_remove(name, client)
    left = len(manager.clients(name))
    err.print(f"{name}: {client} removed; {left} client(s) left"
              + ("" if left else " (nobody can connect until you add one)"))
