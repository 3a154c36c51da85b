"""A deployment's name and its services' names, read leniently from its file: for ``ps`` and
``down`` of a file whose folders or templates have gone, which :func:`.file.load` would refuse."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from myonion import safeyaml
from myonion.deploy.balance import MAX_BACKENDS, backend_name
from myonion.deploy.model import DeploymentError, Problem
from myonion.services.request import NAME_RE


def default_name(path: Path) -> str:
    """The deployment name when the file gives none: its folder's name, made a valid name."""
    text = re.sub(r"[^a-z0-9-]+", "-", path.resolve().parent.name.lower()).strip("-")
    return text[:40] or "deployment"




def deployment_name(path: str | Path) -> str:
    """Just the deployment's name, from a file that need not be valid otherwise (for ``down``
    and ``ps`` of a file whose folders or templates have gone)."""
    absolute = Path(path).expanduser().resolve()
    try:
        data = safeyaml.load(absolute, str(path))
    except safeyaml.RefusedFile as e:
        raise DeploymentError([Problem(str(path), e.line, "", e.reason)]) from None
    except (OSError, yaml.YAMLError) as e:
        raise DeploymentError([Problem(str(path), 0, "", f"cannot be read ({e})")]) from None
    name = data.get("name") if isinstance(data, dict) else None
    if name is None:
        return default_name(absolute)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise DeploymentError([Problem(str(path), 0, "name", f"'{name}' is not a valid name")])
    return name




def service_names(path: str | Path) -> list[str]:
    """The service names a deployment file lists (read leniently, as for ``down``); a
    balanced service NAME is followed by its backends NAME-b1 …"""
    return list(file_services(path))


def file_services(path: str | Path) -> dict[str, str | None]:
    """Service name → the balanced service it is a backend of (None: a service of its own)."""
    try:
        data = safeyaml.load(path)
    except (OSError, yaml.YAMLError, safeyaml.RefusedFile):
        return {}
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return {}
    found: dict[str, str | None] = {}
    for name, raw in services.items():
        found[str(name)] = None
        balance = raw.get("balance") if isinstance(raw, dict) else None
        count = balance.get("backends") if isinstance(balance, dict) else None
        if isinstance(count, int) and not isinstance(count, bool):
            for i in range(1, min(count, MAX_BACKENDS) + 1):
                found.setdefault(backend_name(str(name), i), str(name))
    return found
