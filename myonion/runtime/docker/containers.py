"""Containers on the Docker engine: create (hardened), start, stop, inspect, exec, one-off tasks."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import docker.errors
from docker.types import Mount as DockerMount

from myonion.errors import NoSuchObject, RuntimeFailure
from myonion.runtime.base import LABEL_ROLE, ContainerInfo, ContainerSpec, Mount
from myonion.runtime.docker.engine import DockerEngine, duration_ns, label_filter, log, tar_of


def _mounts(mounts: list[Mount]) -> list[DockerMount]:
    return [DockerMount(m.target, m.source, type="volume" if m.volume else "bind",
                        read_only=m.read_only) for m in mounts]


def _info(c: Any) -> ContainerInfo:
    """What the engine says of a container now."""
    attrs = c.attrs
    state = attrs.get("State", {})
    nets = attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    ports: dict[str, tuple[str, int]] = {}
    for key, bindings in (attrs.get("NetworkSettings", {}).get("Ports") or {}).items():
        if bindings:
            ports[key] = (bindings[0]["HostIp"], int(bindings[0]["HostPort"]))
    return ContainerInfo(
        id=c.id,
        name=c.name,
        image=attrs.get("Config", {}).get("Image", ""),
        status=state.get("Status", "unknown"),
        exit_code=int(state.get("ExitCode", 0)),
        labels=attrs.get("Config", {}).get("Labels") or {},
        started_at=state.get("StartedAt", ""),
        health=(state.get("Health") or {}).get("Status"),
        ip_addresses={k: v.get("IPAddress", "") for k, v in nets.items()},
        ports=ports,
        oom_killed=bool(state.get("OOMKilled")),
    )


def _healthcheck(hc: dict[str, object]) -> dict[str, Any]:
    return {
        "test": hc["test"],
        "interval": duration_ns(hc.get("interval", "30s")),
        "timeout": duration_ns(hc.get("timeout", "5s")),
        "retries": int(str(hc.get("retries", 3))),
        "start_period": duration_ns(hc.get("start_period", "5s")),
    }


#: what Docker says when a container is being removed already (by another command)
REMOVAL_IN_PROGRESS = "is already in progress"
#: how long (s) to wait for that removal to end
REMOVAL_WAIT = 30.0


class ContainersMixin(DockerEngine):
    """The container half of the Runtime protocol."""

    def _create_args(self, spec: ContainerSpec) -> dict[str, Any]:
        """docker-py's ``containers.create`` arguments: myonion's hardening on every one."""
        kwargs: dict[str, Any] = dict(
            image=spec.image, name=spec.name, command=spec.command, labels=spec.labels,
            user=spec.user, mounts=_mounts(spec.mounts), tmpfs=spec.tmpfs or None,
            environment=spec.environment, read_only=spec.read_only, cap_drop=["ALL"],
            cap_add=spec.cap_add or None, security_opt=["no-new-privileges:true"],
            mem_limit=spec.mem_limit, pids_limit=spec.pids_limit, hostname=spec.hostname,
            detach=True, ports={k: v for k, v in spec.ports.items()} or None,
            log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "2"}},
        )
        if spec.entrypoint is not None:
            kwargs["entrypoint"] = spec.entrypoint
        if spec.restart:
            kwargs["restart_policy"] = {"Name": spec.restart}
        if spec.healthcheck:
            kwargs["healthcheck"] = _healthcheck(spec.healthcheck)
        if spec.network:
            kwargs["network"] = spec.network
            if spec.ipv4_address:
                kwargs["networking_config"] = {
                    spec.network: self.client.api.create_endpoint_config(
                        ipv4_address=spec.ipv4_address
                    )
                }
        return kwargs

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        kwargs = self._create_args(spec)
        container = self._call(
            f"create container {spec.name}", lambda: self.client.containers.create(**kwargs)
        )
        for extra in spec.extra_networks:
            self._connect(extra, container)
        container.reload()
        return _info(container)

    def _connect(self, network: str, container: Any) -> None:
        net = self._call("find a network", lambda: self.client.networks.get(network))
        self._call(f"connect to network {network}", lambda: net.connect(container))

    def _container(self, name: str) -> Any:
        return self._call(f"find container {name}", lambda: self.client.containers.get(name))

    def start(self, name: str) -> None:
        container = self._container(name)
        self._call(f"start container {name}", container.start)

    def stop(self, name: str, timeout: int = 10) -> None:
        container = self._container(name)
        self._call(f"stop container {name}", lambda: container.stop(timeout=timeout))

    def kill(self, name: str, signal: str = "SIGKILL") -> None:
        container = self._container(name)
        self._call(f"kill container {name}", lambda: container.kill(signal=signal))

    def remove(self, name: str) -> None:
        """Remove a container, running or not. One that is gone counts as removed, and so does
        one another command is removing right now (Docker refuses a second removal) once it
        is gone."""
        try:
            with contextlib.suppress(NoSuchObject):
                container = self._container(name)
                self._call(f"remove container {name}",
                           lambda: container.remove(force=True, v=False))
        except RuntimeFailure as e:
            if REMOVAL_IN_PROGRESS not in e.message:
                raise
            deadline = time.monotonic() + REMOVAL_WAIT
            while time.monotonic() < deadline:
                if self.get(name) is None:
                    return
                time.sleep(0.1)
            raise

    def get(self, name: str) -> ContainerInfo | None:
        try:
            return _info(self._container(name))
        except NoSuchObject:
            return None

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        # List ids, then inspect one by one, skipping the ones that went away in between
        # (short-lived task containers do; containers.list() would raise NotFound for them).
        rows = self._call("list containers", lambda: self.client.api.containers(
            all=True, filters={"label": label_filter(labels)}))
        infos = []
        for row in rows:
            try:
                infos.append(_info(self._container(row["Id"])))
            except NoSuchObject:
                continue
        return infos

    def logs(self, name: str, tail: int | None = None, follow: bool = False) -> Iterator[str]:
        container = self._container(name)
        if not follow:
            raw = self._call("read logs", lambda: container.logs(tail=tail or "all"))
            yield from raw.decode(errors="replace").splitlines()
            return
        buffer = b""
        for chunk in container.logs(stream=True, follow=True, tail=tail or "all"):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line.decode(errors="replace")
        if buffer:
            yield buffer.decode(errors="replace")

    def exec(self, name: str, command: list[str], user: str | None = None) -> tuple[int, str]:
        container = self._container(name)
        result = self._call("run a command in a container",
                            lambda: container.exec_run(command, demux=False, user=user or ""))
        return int(result.exit_code), (result.output or b"").decode(errors="replace")

    def put_files(self, name: str, files: dict[str, tuple[bytes, int]], user: str) -> None:
        archive = tar_of(files, user)
        container = self._container(name)
        self._call("copy files into a container", lambda: container.put_archive("/", archive))

    def run_task(
        self,
        image: str,
        command: list[str],
        mounts: list[Mount],
        files: dict[str, tuple[bytes, int]] | None = None,
        user: str | None = None,
        cap_add: list[str] | None = None,
        timeout: float = 300,
    ) -> tuple[int, str]:
        container = self._call("create a task container", lambda: self.client.containers.create(
            image=image, command=command, entrypoint=[], user=user, mounts=_mounts(mounts),
            network_mode="none", cap_drop=["ALL"], cap_add=cap_add,
            security_opt=["no-new-privileges:true"], labels={LABEL_ROLE: "task"}, detach=True))
        try:
            if files:
                archive = tar_of(files, user or "0:0")
                self._call("copy files into a task container",
                           lambda: container.put_archive("/", archive))
            self._call("start a task container", container.start)
            result = self._call("wait for a task container",
                                lambda: container.wait(timeout=timeout))
            output = container.logs().decode(errors="replace")
            return int(result.get("StatusCode", 1)), output
        finally:
            try:
                container.remove(force=True)
            except docker.errors.DockerException:
                log.warning("could not remove task container %s", container.id)
