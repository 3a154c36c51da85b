"""Deployments: the services of one file (``myonion.yaml``) brought up, listed and taken down
together. See :mod:`.file` (the file, checked), :mod:`.reconcile` (plan, up, ps, down) and
:mod:`.balance` (one address, several backends); exports live in :mod:`myonion.export`."""

from myonion.deploy.file import *  # noqa: F403
