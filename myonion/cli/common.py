"""What every command group shares: the consoles, exit statuses, the manager, output helpers.

Library code never prints; these are the only places the CLI writes to the terminal from.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import click
from click.decorators import FC
from rich.console import Console

from myonion import access

if TYPE_CHECKING:
    from myonion.manager import Manager, ServiceView
    from myonion.progress import TerminalReporter

# piped output (scripts, logs) keeps whole addresses: tables take their natural width
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 1000)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class ExitStatus(IntEnum):
    """What ``myonion`` exits with."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CTRL_C = 130


def manager(reporter: TerminalReporter | None = None) -> Manager:
    """The Manager a command works with (tests put one on the fake runtime here)."""
    from myonion.manager import Manager

    return Manager(reporter=reporter) if reporter else Manager()


def arch_manager(reporter: TerminalReporter | None, arch: str | None) -> Manager:
    """:func:`manager`, whose new services (and images) are for ``arch`` when given."""
    made = manager(reporter)
    if arch is not None:
        made.arch = arch
    return made


def arch_option(what: str) -> Callable[[FC], FC]:
    """``--arch ARCH`` (its value is ``arch_name``); ``what`` it applies to, for its help."""
    return click.option("--arch", "arch_name", metavar="ARCH",
                        help=f"{what} for amd64, arm64 (64-bit Raspberry Pi OS) or armhf (its "
                             "32-bit one); default $MYONION_ARCH, else this machine's. Another "
                             "architecture than this machine's runs through emulation.")


def json_out(data: Any) -> None:
    """``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def progress(ctx: click.Context) -> TerminalReporter:
    """A progress display on stderr (every build log line with ``-v``)."""
    from myonion.progress import TerminalReporter

    return TerminalReporter(err, verbose=bool(ctx.obj.get("verbose")))


def show_service(view: ServiceView, as_json: bool) -> None:
    """A service's view: as JSON, or a line a field."""
    if as_json:
        json_out(view.to_dict())
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
    if view.previous_address:
        err.print(f"note: {view.name} has a NEW address: its container was restarted and an "
                  f"ephemeral service's key lived only in it; {view.previous_address} is gone "
                  "for good (make it persistent with `myonion promote` to keep an address).",
                  markup=False, highlight=False)
    if view.private:
        out.print(f"access:   private, {view.clients} authorized client(s)")
    if view.remaining is not None:
        out.print(f"ends in:  {access.format_duration(view.remaining)}")
    for target, host in view.published.items():
        out.print(f"published: {host} → {target} (on this machine)")
    if view.timings:
        out.print("timings:  " + ", ".join(f"{k} {v:.1f} s" for k, v in view.timings.items()))


def deployment_file() -> Callable[[FC], FC]:
    """The ``-f/--file`` option of the deployment commands."""
    return click.option("-f", "--file", "file", default="myonion.yaml", show_default=True,
                        type=click.Path(dir_okay=False),
                        help="The deployment file (see docs/deployments.md).")
