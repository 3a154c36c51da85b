"""The ``myonion`` command line: :mod:`~myonion.cli.main` (errors → exit statuses) and one
module per command group (share, clients, keys, deploy, testnet, balance, images, gui)."""

from myonion.cli.common import ExitStatus
from myonion.cli.main import cli, main

__all__ = ["ExitStatus", "cli", "main"]
