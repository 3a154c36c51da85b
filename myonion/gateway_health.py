"""The states of this machine's myonion services, for a gateway that reports its machine's health.

A container must never get the Docker socket (that is the whole machine), so the gateway learns
how the other services are from a file myonion writes: ``<data dir>/health/services.json`` (names,
templates, states and stages; nothing secret, no addresses), written by ``myonion health
snapshot`` (run it from cron or a systemd timer for fresh states) and at the end of every
``myonion up``. A template with a bool option ``health`` gets that folder mounted read-only at
``/run/myonion/host`` while the option is true; the report says how old the file is.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from myonion import paths
from myonion.build import hardening
from myonion.runtime.base import Mount
from myonion.templates import TemplateSpec

if TYPE_CHECKING:
    from myonion.manager import Manager

HEALTH_OPTION = "health"
TARGET = "/run/myonion/host"
FILE = "services.json"


def folder() -> Path:
    """The folder the snapshot is written to (0755: it holds nothing secret)."""
    path = paths.data_dir() / "health"
    path.mkdir(exist_ok=True)
    os.chmod(path, 0o755)
    return path


def states(manager: Manager) -> dict[str, Any]:
    """Every service's name, template, state and stage, and when they were read."""
    return {"written": round(time.time(), 3), "services": [
        {"name": v.name, "template": v.template, "state": v.state, "stage": v.stage}
        for v in manager.list()]}


def snapshot(manager: Manager) -> Path:
    """Write the states file (replaced whole, so a reader never sees half of it)."""
    path = folder() / FILE
    hardening.write_file(path, json.dumps(states(manager), indent=1) + "\n", secret=False)
    return path


def mounts(template: TemplateSpec, values: dict[str, Any]) -> list[Mount]:
    """The read-only mount of the snapshot's folder for a service that reports health."""
    option = template.option(HEALTH_OPTION)
    if option is None or option.type != "bool" or not values.get(HEALTH_OPTION):
        return []
    return [Mount(str(folder()), TARGET, read_only=True)]
