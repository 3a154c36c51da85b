"""`myonion gui`: the desktop app."""

from __future__ import annotations

import click

from myonion.errors import MyOnionError


@click.command()
def gui() -> None:
    """Open the desktop app."""
    try:
        from gui.app import main as gui_main
    except ImportError as e:
        raise MyOnionError("The desktop app is not installed.",
                           hint="pip install 'myonion[gui]'") from e
    raise SystemExit(gui_main())
