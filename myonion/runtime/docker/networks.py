"""Networks and named volumes on the Docker engine."""

from __future__ import annotations

import contextlib
from typing import Any

import docker.types

from myonion.errors import NoSuchObject
from myonion.runtime.docker.engine import DockerEngine, label_filter


class NetworksMixin(DockerEngine):
    """The network and volume half of the Runtime protocol."""

    def create_network(
        self,
        name: str,
        internal: bool,
        subnet: str | None,
        labels: dict[str, str],
        options: dict[str, str] | None = None,
        swarm: bool = False,
    ) -> None:
        ipam = None
        if subnet:
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        if swarm:
            # A swarm-scoped bridge ignores the subnet and fixed addresses (Docker 20.10,
            # tried): an attachable overlay keeps both, on one node as on several.
            self._call(f"create network {name}", lambda: self.client.networks.create(
                name, driver="overlay", internal=internal, ipam=ipam, labels=labels,
                attachable=True, scope="swarm", check_duplicate=True))
            return
        # Docker 20.10 would otherwise happily make a second network of the same name.
        self._call(f"create network {name}", lambda: self.client.networks.create(
            name, driver="bridge", internal=internal, ipam=ipam, labels=labels,
            options=options or None, check_duplicate=True))

    def remove_network(self, name: str) -> None:
        # By id: several networks may share a name (made by older engines or other tools).
        nets = self._call("list networks", lambda: self.client.networks.list(names=[name]))
        for net in nets:
            if net.name != name:  # the name filter matches substrings
                continue
            with contextlib.suppress(NoSuchObject):
                self._call(f"remove network {name}", net.remove)

    def network_exists(self, name: str) -> bool:
        try:
            self._call("find a network", lambda: self.client.networks.get(name))
            return True
        except NoSuchObject:
            return False

    def list_networks(self, labels: dict[str, str]) -> list[str]:
        nets = self._call("list networks", lambda: self.client.networks.list(
            filters={"label": label_filter(labels)}))
        return [n.name for n in nets]

    def used_subnets(self) -> list[str]:
        subnets = []
        for net in self._call("list networks", lambda: self.client.networks.list(greedy=True)):
            for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
                if cfg.get("Subnet"):
                    subnets.append(cfg["Subnet"])
        return subnets

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self._call(f"create volume {name}",
                   lambda: self.client.volumes.create(name=name, labels=labels))

    def remove_volume(self, name: str) -> None:
        try:
            vol: Any = self._call("find a volume", lambda: self.client.volumes.get(name))
            self._call(f"remove volume {name}", lambda: vol.remove(force=True))
        except NoSuchObject:
            pass

    def list_volumes(self, labels: dict[str, str]) -> list[str]:
        vols = self._call("list volumes", lambda: self.client.volumes.list(
            filters={"label": label_filter(labels)}))
        return [v.name for v in vols]
