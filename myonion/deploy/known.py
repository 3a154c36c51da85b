"""What ``up`` and its plan know of the services of a deployment gone through so far, which
later services name (:mod:`.references`): their addresses, device secrets and client key
lines."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from myonion import gateway_secrets
from myonion.deploy.model import ClientLines, Secrets, ServiceSpec
from myonion.errors import MyOnionError
from myonion.services.manager import Manager
from myonion.templates import TemplateSpec


@dataclass
class Known:
    """What ``plan`` and ``up`` know of the services gone through so far, which later ones
    name: their addresses, device secrets and client key lines."""

    addresses: dict[str, str | None] = field(default_factory=dict)
    secrets: Secrets = field(default_factory=dict)
    clients: ClientLines = field(default_factory=dict)

    def missing(self, spec: ServiceSpec) -> list[str]:
        """The services ``spec`` names whose address or device secrets are not known yet."""
        return ([n for n in spec.needs if not self.addresses.get(n)]
                + [n for n in spec.uses if n not in self.secrets])

    def learn(self, manager: Manager, name: str, template: TemplateSpec,
              options: Mapping[str, Any]) -> None:
        """Service ``name`` (of ``template``) has, or will have, ``options``: its device
        secrets are known if each device has one, and so are its clients' key lines."""
        by_device = gateway_secrets.secrets_by_device(template, dict(options))
        if None not in by_device.values():
            self.secrets[name] = by_device
            self.clients[name] = _client_lines(manager, name)


def _client_lines(manager: Manager, name: str) -> dict[str, str]:
    """The key lines of a private service's clients (the ones whose private key is kept)."""
    record = manager.context.store.get(name)
    if record is None or not record.private or not record.address:
        return {}
    lines = {}
    for client in manager.clients(name):
        with contextlib.suppress(MyOnionError):
            lines[client.name] = manager.client_line(name, client.name)
    return lines
