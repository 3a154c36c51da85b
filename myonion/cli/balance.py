"""`myonion balance`: one onion address served by several backends (Onionbalance)."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from myonion import config
from myonion.cli import common
from myonion.cli.common import (
    json_out,
    out,
    progress,
)
from myonion.templates import parse_option_args


# balance: one address, several backends (Onionbalance) -----------------------------------------
@click.group()
def balance() -> None:
    """One onion address served by several backends (Onionbalance v3)."""


def show_balance(view: Any, as_json: bool) -> None:
    if as_json:
        json_out(view.to_dict())
        return
    out.print(f"name:     {view.name} (Onionbalance frontend: {view.frontend.state}, "
              f"{view.frontend.stage})")
    out.print(f"address:  {view.address or '-'}")
    show_backends(view)


def show_backends(view: Any) -> None:
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
    from myonion.deploy import balance as balancing

    values = parse_option_args(options)
    with progress(ctx) as reporter:
        view = balancing.share(common.manager(reporter), template_id, values, name=name,
                               backends=backends, network=network, timeout=timeout)
    show_balance(view, as_json)


@balance.command("status")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def balance_status(name: str, as_json: bool) -> None:
    """The frontend, and each backend's state and whether onionbalance lists it."""
    from myonion.deploy import balance as balancing

    show_balance(balancing.status(common.manager(), name), as_json)


@balance.command("rm")
@click.argument("name")
@click.option("--purge", is_flag=True,
              help="Also delete the keys (the master address among them) and data.")
def balance_rm(name: str, purge: bool) -> None:
    """Remove a balanced service: the frontend and every backend. Their keys (the master
    address) and data are kept unless --purge: `myonion start` brings each back."""
    from myonion.deploy import balance as balancing

    for each in balancing.remove(common.manager(), name, purge=purge):
        out.print(f"removed {each}" + ("" if purge else " (its key and data kept)"))
