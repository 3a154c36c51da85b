"""Deployments: the services of one file (``myonion.yaml``) brought up, listed and taken down
together. :mod:`.file` reads and checks the file (its shape by :mod:`.schema`, the JSON Schema
editors use), :mod:`.reconcile` brings it up (plan, up, ps, down), :mod:`.balance` holds the
rules of balanced services; the exports (Compose, Swarm, systemd, bundles) are in
:mod:`myonion.export`.

The names most callers need are this package's (``deploy.load(path)``, ``deploy.up(...)``),
imported when first used, so ``import myonion.deploy.balance`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from myonion.deploy.file import (
        DEFAULT_FILE as DEFAULT_FILE,
    )
    from myonion.deploy.file import (
        load as load,
    )
    from myonion.deploy.model import (
        Deployment as Deployment,
    )
    from myonion.deploy.model import (
        DeploymentError as DeploymentError,
    )
    from myonion.deploy.model import (
        Problem as Problem,
    )
    from myonion.deploy.model import (
        ServiceSpec as ServiceSpec,
    )
    from myonion.deploy.names import (
        deployment_name as deployment_name,
    )
    from myonion.deploy.names import (
        service_names as service_names,
    )
    from myonion.deploy.reconcile import (
        Row as Row,
    )
    from myonion.deploy.reconcile import (
        Step as Step,
    )
    from myonion.deploy.reconcile import (
        check_conflicts as check_conflicts,
    )
    from myonion.deploy.reconcile import (
        down as down,
    )
    from myonion.deploy.reconcile import (
        plan as plan,
    )
    from myonion.deploy.reconcile import (
        ps as ps,
    )
    from myonion.deploy.reconcile import (
        up as up,
    )
    from myonion.export.compose import (
        compose_document as compose_document,
    )
    from myonion.export.compose import (
        compose_service as compose_service,
    )
    from myonion.export.compose import (
        export_compose as export_compose,
    )
    from myonion.export.systemd import (
        install_unit as install_unit,
    )
    from myonion.export.systemd import (
        myonion_executable as myonion_executable,
    )
    from myonion.export.systemd import (
        systemd_unit as systemd_unit,
    )
    from myonion.export.systemd import (
        unit_name as unit_name,
    )

_WHERE = {
    "myonion.deploy.file": ("DEFAULT_FILE", "load"),
    "myonion.deploy.names": ("deployment_name", "service_names"),
    "myonion.deploy.model": ("Deployment", "DeploymentError", "Problem", "ServiceSpec"),
    "myonion.deploy.reconcile": ("Row", "Step", "check_conflicts", "down", "plan", "ps", "up"),
    "myonion.export.compose": ("compose_document", "compose_service", "export_compose"),
    "myonion.export.systemd": ("install_unit", "myonion_executable", "systemd_unit",
                               "unit_name"),
}
__all__ = sorted(name for names in _WHERE.values() for name in names)


def __getattr__(name: str) -> Any:
    for module, names in _WHERE.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'myonion.deploy' has no attribute '{name}'")
