"""`myonion directory`: the public network's directory keeper (myonion.services.keeper), the
one tor that keeps the Tor network's directory for new public services."""

from __future__ import annotations

import click

from myonion.cli import common
from myonion.cli.common import json_out, out


@click.group("directory")
def directory_group() -> None:
    """The directory keeper: one tor that keeps the public Tor network's directory, so that a
    new public service does not download it (started by the first public share, stopped when
    no public service runs; MYONION_DIRECTORY_COPY=0 turns it off)."""


@directory_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Whether the keeper runs, and how current its copy is."""
    from myonion.services import keeper

    found = keeper.describe(common.manager().runtime)
    if as_json:
        json_out(found)
        return
    line = f"{found['name']}: {found['state']}"
    if "valid_after" in found:
        line += f"; consensus of {found['valid_after']} UTC, {found['relays']} relays"
    out.print(line)


@directory_group.command("down")
def down() -> None:
    """Remove the keeper and its volumes (public documents and its own tor state only; the
    next public share starts it again)."""
    from myonion.services import keeper

    kept = keeper.remove(common.manager().runtime)
    out.print("The directory keeper is removed."
              + (f" Kept its copy ({', '.join(kept)}): services still mount it."
                 if kept else ""))
