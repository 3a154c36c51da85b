"""The ``myonion`` command: the one place errors become exit statuses and ``error:``/``hint:``.

Each command group lives in a module of its own and is imported only when it runs (``myonion
ls`` never loads the deployment or test-network code); ``myonion --help`` imports them all.
"""

from __future__ import annotations

import importlib
import sys

import click
from rich.markup import escape

from myonion import __version__
from myonion.cli.common import ExitStatus, err
from myonion.errors import MyOnionError

#: command name -> "module:attribute" of its click command, in myonion.cli
COMMANDS = {
    "address": "share:address", "balance": "balance:balance", "base": "images:base",
    "bundle": "deploy:bundle_group", "check": "share:check", "clients": "clients:clients_group",
    "down": "deploy:down", "export": "deploy:export_group", "fetch": "share:fetch_cmd",
    "deliveries": "gateway:deliveries_cmd", "directory": "directory:directory_group",
    "gui": "gui:gui", "health": "gateway:health_group",
    "keys": "keys:keys_group", "logs": "share:logs", "ls": "share:ls",
    "promote": "share:promote", "prune": "images:prune", "ps": "deploy:ps_cmd",
    "rebuild": "share:rebuild", "repair": "share:repair", "rm": "share:rm",
    "secrets": "gateway:secrets_cmd",
    "service": "deploy:service_group", "share": "share:share", "start": "share:start",
    "status": "share:status", "stop": "share:stop", "templates": "images:templates",
    "testnet": "testnet:testnet", "up": "deploy:up",
}


class LazyGroup(click.Group):
    """A group whose commands are imported from their modules when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"myonion.cli.{module}"), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, target
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="myonion")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.option("-v", "--verbose", is_flag=True, help="Show every line of build logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Run templates as Docker containers, each with its own tor, as onion services."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["verbose"] = verbose


def _show_error(e: MyOnionError) -> None:
    # the message may quote what the user typed: brackets in it are text, not markup
    err.print(f"[red]error:[/red] {escape(e.message)}", highlight=False)
    if e.detail:
        err.print(e.detail, markup=False, highlight=False)
    if e.hint:
        err.print(f"[yellow]hint:[/yellow] {escape(e.hint)}", highlight=False)


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
        _show_error(e)
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
