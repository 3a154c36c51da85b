"""`myonion testnet`: the private Tor network on this machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from click.decorators import FC
from rich.table import Table

from myonion.cli.common import (
    err,
    json_out,
    out,
    progress,
)

if TYPE_CHECKING:
    from myonion.progress import TerminalReporter


# testnet ------------------------------------------------------------------------------------
@click.group()
def testnet() -> None:
    """The private Tor network on this machine (for tests and demos, no internet needed)."""


def _testnet(reporter: TerminalReporter | None = None, name: str | None = None,
             swarm: bool = False) -> Any:
    from myonion.events import log_reporter
    from myonion.runtime import default_runtime
    from myonion.testnet import NETWORK, Testnet

    return Testnet(default_runtime(), reporter or log_reporter, name=name or NETWORK,
                   swarm=swarm)


def _testnet_name() -> Callable[[FC], FC]:
    return click.option("--name", default=None, metavar="NAME",
                        help="A second, named test network (default: the one local-mode "
                             "services use).")


def _show_testnet(st: Any, as_json: bool) -> None:
    if as_json:
        json_out(st.to_dict())
        return
    out.print(f"up: {'yes' if st.up else 'no'}    consensus: {'yes' if st.consensus else 'no'}"
              f"    client bootstrapped: {'yes' if st.client_bootstrapped else 'no'}")
    if st.socks:
        out.print(f"SOCKS: {st.socks[0]}:{st.socks[1]}")
    if st.outdated:
        out.print("made by an older myonion: its client answers SOCKS from every container on "
                  "the test network. Run `myonion testnet up` to make it answer this machine only.")
    table = Table("node", "role", "state", "bootstrap", "address", box=None)
    for n in st.nodes:
        table.add_row(n.name, n.role, n.state, "-" if n.bootstrap is None else f"{n.bootstrap}%",
                      n.address or "-")
    out.print(table)


@testnet.command("up")
@click.option("--relays", default=3, show_default=True,
              help="Relays besides the 3 directory authorities (up to 89, for measurements "
                   "on a named network).")
@click.option("--timeout", default=240.0, show_default=True,
              help="Seconds to wait for the client to bootstrap (more for many relays).")
@click.option("--json", "as_json", is_flag=True)
@_testnet_name()
@click.option("--swarm", is_flag=True,
              help="With --name: an attachable overlay that Docker Swarm services can join "
                   "(run `docker swarm init` first).")
@click.pass_context
def testnet_up(ctx: click.Context, relays: int, timeout: float, as_json: bool,
               name: str | None, swarm: bool) -> None:
    """Start the test network; prints its SOCKS address on 127.0.0.1."""
    started = time.monotonic()
    with progress(ctx) as reporter:
        st = _testnet(reporter, name, swarm).up(relays=relays, timeout=timeout)
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
