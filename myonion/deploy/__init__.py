"""Deployments: the services of one file (``myonion.yaml``) brought up, listed and taken down
together. :mod:`.file` reads and checks the file, :mod:`.reconcile` brings it up (plan, up, ps,
down), :mod:`.balance` holds the rules of balanced services; the exports (Compose, Swarm,
systemd, bundles) are in :mod:`myonion.export`.

The names most callers need are this package's: ``deploy.load(path)``, ``deploy.up(...)``.
"""

from myonion.deploy.file import DEFAULT_FILE, deployment_name, load, service_names
from myonion.deploy.model import Deployment, DeploymentError, Problem, ServiceSpec
from myonion.deploy.reconcile import Row, Step, check_conflicts, down, plan, ps, up
from myonion.export.compose import compose_document, compose_service, export_compose
from myonion.export.systemd import install_unit, myonion_executable, systemd_unit, unit_name

__all__ = [
    "DEFAULT_FILE",
    "Deployment",
    "DeploymentError",
    "Problem",
    "Row",
    "ServiceSpec",
    "Step",
    "check_conflicts",
    "compose_document",
    "compose_service",
    "deployment_name",
    "down",
    "export_compose",
    "install_unit",
    "load",
    "myonion_executable",
    "plan",
    "ps",
    "service_names",
    "systemd_unit",
    "unit_name",
    "up",
]
