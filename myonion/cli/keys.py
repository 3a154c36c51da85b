"""`myonion keys`: back up and restore a service's onion key (its address)."""

from __future__ import annotations

import json
import sys

import click

from myonion import keys
from myonion.cli import common
from myonion.cli.common import (
    err,
    progress,
    show_service,
)
from myonion.errors import MyOnionError

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


def read_key(path: str) -> keys.OnionKey:
    with open(path, "rb") as f:
        data = f.read()
    # an export is a JSON document; a tor key file starts with its binary header
    passphrase = _passphrase(confirm=False) if data.lstrip()[:1] == b"{" else None
    return keys.read_key_file(data, passphrase)


@click.group("keys")
def keys_group() -> None:
    """Back up and restore a service's onion key (its address)."""


@keys_group.command("export")
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="File to write (mode 0600); it must not exist.")
def keys_export(name: str, output: str) -> None:
    """Write NAME's onion key, encrypted with a passphrase ($MYONION_KEY_PASSPHRASE or asked)."""
    import os

    manager = common.manager()
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
    key = read_key(file)
    with progress(ctx) as reporter:
        view = common.manager(reporter).import_key(name, key, timeout=timeout)
    show_service(view, as_json)
