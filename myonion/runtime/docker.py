"""The Docker engine behind the Runtime protocol. The only module that imports ``docker``."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tarfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import docker
import docker.errors
from docker.types import Mount as DockerMount

from myonion.errors import BuildFailed, DockerUnavailable, RuntimeFailure
from myonion.runtime.base import LABEL_ROLE, ContainerInfo, ContainerSpec, Mount

log = logging.getLogger(__name__)
BUILD_TAIL = 30
#: what the engine (or a build step in it) says when the disk under its data root is full
DISK_FULL = "no space left on device"
DISK_FULL_HINT = (
    "The disk the Docker engine keeps its images and containers on is full. See what uses it "
    "with `docker system df`, free space (`myonion prune` removes images of older myonion "
    "template versions that no service uses; `docker image prune` dangling ones), then try "
    "again.")
#: a failed build leaves nothing: its intermediate containers are removed (forcerm)
BUILD_DISK_FULL_HINT = DISK_FULL_HINT + " The half-built image was removed."


def _is_disk_full(*texts: object) -> bool:
    return any(DISK_FULL in str(text).lower() for text in texts)


def _duration_ns(value: object) -> int:
    """'30s' / '2m' / 5 → nanoseconds, as Docker's healthcheck wants them."""
    text = str(value)
    units = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(float(text) * 10**9)


def _tar(files: dict[str, tuple[bytes, int]], uid: int, gid: int) -> bytes:
    """A tar of ``files`` owned by uid:gid; a path ending in "/" is a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(path.strip("/"))
            info.mode, info.uid, info.gid = mode, uid, gid
            if path.endswith("/"):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _label_filter(labels: dict[str, str]) -> list[str]:
    return [f"{k}={v}" if v else k for k, v in labels.items()]


class DockerRuntime:
    """Runtime on a real Docker engine (docker-py)."""

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=120)
            except docker.errors.DockerException as e:
                raise DockerUnavailable(f"The Docker engine is not reachable ({e}).") from e
        return self._client

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"Docker refused to {what}: {e.explanation or e}.",
                                 hint=DISK_FULL_HINT if _is_disk_full(e) else None) from e
        except docker.errors.DockerException as e:
            raise DockerUnavailable(f"The Docker engine is not reachable ({e}).") from e
        except OSError as e:  # socket errors from requests/urllib3 subclass OSError
            raise DockerUnavailable(f"The Docker engine is not reachable ({e}).") from e

    def ping(self) -> None:
        try:
            self.client.ping()
        except (docker.errors.DockerException, OSError) as e:
            raise DockerUnavailable(f"The Docker engine is not reachable ({e}).") from e

    # images -------------------------------------------------------------------------------
    def image_exists(self, tag: str) -> bool:
        try:
            self._call("look up an image", lambda: self.client.images.get(tag))
            return True
        except docker.errors.NotFound:
            return False

    def build(
        self, context: IO[bytes], tag: str, labels: dict[str, str], on_line: Callable[[str], None],
        nocache: bool = False,
    ) -> None:
        # The low-level API streams the log; images.build() would block until the end.
        tail: list[str] = []
        try:
            stream = self.client.api.build(
                fileobj=context, custom_context=True, tag=tag, labels=labels, rm=True,
                forcerm=True, decode=True, pull=False, nocache=nocache,
            )
            for chunk in stream:
                if "error" in chunk:
                    tail.append(str(chunk["error"]).rstrip())
                    full = _is_disk_full(*tail)
                    raise BuildFailed(
                        f"Building image {tag} failed: {str(chunk['error']).strip()}"
                        + (" (the disk is full)" if full else ""),
                        hint=BUILD_DISK_FULL_HINT if full else (
                            "Read the build log above; fix the template or the network to the "
                            "Debian mirror, then try again."),
                        detail="\n".join(tail[-BUILD_TAIL:]),
                    )
                text = chunk.get("stream") or chunk.get("status") or ""
                for line in str(text).splitlines():
                    if line.strip():
                        tail.append(line)
                        del tail[:-BUILD_TAIL]
                        on_line(line)
        except docker.errors.APIError as e:
            raise BuildFailed(
                f"Building image {tag} failed: {e.explanation or e}.",
                hint=BUILD_DISK_FULL_HINT if _is_disk_full(e, *tail) else None,
                detail="\n".join(tail[-BUILD_TAIL:]),
            ) from e
        except (docker.errors.DockerException, OSError) as e:
            raise DockerUnavailable(f"The Docker engine is not reachable ({e}).") from e
        if not self.image_exists(tag):
            raise BuildFailed(f"Building image {tag} ended without an image.",
                              detail="\n".join(tail))

    def import_image(self, tar_path: str, tag: str) -> None:
        repository, _, version = tag.partition(":")

        def run() -> None:
            with open(tar_path, "rb") as f:
                self.client.api.import_image_from_data(
                    f, repository=repository, tag=version or None
                )

        self._call("import the base image", run)

    def remove_image(self, tag: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._call("remove an image", lambda: self.client.images.remove(tag, force=True))

    def list_images(self, repository_prefix: str) -> list[str]:
        images = self._call("list images", lambda: self.client.images.list())
        return sorted(tag for image in images for tag in image.tags
                      if tag.startswith(repository_prefix))

    def save_images(self, tags: list[str], path: str) -> None:
        api = self.client.api

        def run() -> None:
            # GET /images/get takes several names (layers shared by them are written once);
            # docker-py's get_image() takes one
            response = api._get(api._url("/images/get"), params={"names": tags}, stream=True)
            api._raise_for_status(response)
            with open(path, "wb") as f:
                for chunk in response.iter_content(chunk_size=1024 * 1024):
                    f.write(chunk)

        self._call("save images", run)

    def load_images(self, archive: Iterable[bytes]) -> list[str]:
        def run() -> list[str]:
            loaded: list[str] = []
            # an iterable body is sent chunked: the archive is never held in memory whole.
            # No empty chunk: requests before 2.29 (Debian bookworm's, a Pi's python3-requests)
            # sends it as the chunked body's end, and the engine hangs up on the rest
            for chunk in self.client.api.load_image(c for c in archive if c):
                if "error" in chunk:
                    raise RuntimeFailure(f"Docker refused to load images: {chunk['error']}",
                                         hint=DISK_FULL_HINT if _is_disk_full(chunk) else None)
                # one message may report several images, a line each
                for line in str(chunk.get("stream", "")).splitlines():
                    for prefix in ("Loaded image: ", "Loaded image ID: "):
                        if line.startswith(prefix):
                            loaded.append(line.removeprefix(prefix).strip())
            return loaded

        result: list[str] = self._call("load images", run)
        return result

    def image_id(self, tag: str) -> str | None:
        try:
            image = self._call("look up an image", lambda: self.client.images.get(tag))
        except docker.errors.NotFound:
            return None
        return str(image.id)

    def tag_image(self, image_id: str, tag: str) -> None:
        repository, _, version = tag.rpartition(":")
        done = self._call("tag an image", lambda: self.client.api.tag(
            image_id, repository, version, force=True))
        if not done:
            raise RuntimeFailure(f"Docker refused to tag {image_id} as {tag}.")

    def free_space(self) -> int | None:
        if not str(self.client.api.base_url).startswith("http+docker://local"):
            return None  # an engine elsewhere: its disk is not this machine's
        info = self._call("describe itself", lambda: self.client.info())
        try:
            return shutil.disk_usage(str(info.get("DockerRootDir", ""))).free
        except OSError:
            return None

    def image_size(self, tag: str) -> int:
        image = self._call("look up an image", lambda: self.client.images.get(tag))
        return int(image.attrs.get("Size", 0))

    def image_platform(self, tag: str) -> tuple[str, str | None]:
        image = self._call("look up an image", lambda: self.client.images.get(tag))
        return str(image.attrs.get("Architecture", "")), image.attrs.get("Variant") or None

    # containers ---------------------------------------------------------------------------
    def _info(self, c: Any) -> ContainerInfo:
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
        )

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        mounts = [
            DockerMount(m.target, m.source, type="volume" if m.volume else "bind",
                        read_only=m.read_only)
            for m in spec.mounts
        ]
        kwargs: dict[str, Any] = dict(
            image=spec.image, name=spec.name, command=spec.command, labels=spec.labels,
            user=spec.user, mounts=mounts, tmpfs=spec.tmpfs or None, environment=spec.environment,
            read_only=spec.read_only, cap_drop=["ALL"], cap_add=spec.cap_add or None,
            security_opt=["no-new-privileges:true"], mem_limit=spec.mem_limit,
            pids_limit=spec.pids_limit, hostname=spec.hostname, detach=True,
            ports={k: v for k, v in spec.ports.items()} or None,
            log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "2"}},
        )
        if spec.entrypoint is not None:
            kwargs["entrypoint"] = spec.entrypoint
        if spec.restart:
            kwargs["restart_policy"] = {"Name": spec.restart}
        if spec.healthcheck:
            hc = spec.healthcheck
            kwargs["healthcheck"] = {
                "test": hc["test"],
                "interval": _duration_ns(hc.get("interval", "30s")),
                "timeout": _duration_ns(hc.get("timeout", "5s")),
                "retries": int(str(hc.get("retries", 3))),
                "start_period": _duration_ns(hc.get("start_period", "5s")),
            }
        if spec.network:
            kwargs["network"] = spec.network
            if spec.ipv4_address:
                kwargs["networking_config"] = {
                    spec.network: self.client.api.create_endpoint_config(
                        ipv4_address=spec.ipv4_address
                    )
                }
        container = self._call(
            f"create container {spec.name}", lambda: self.client.containers.create(**kwargs)
        )
        for extra in spec.extra_networks:
            self._connect(extra, container)
        container.reload()
        return self._info(container)

    def _connect(self, network: str, container: Any) -> None:
        net = self._call("find a network", lambda: self.client.networks.get(network))
        self._call(f"connect to network {network}", lambda: net.connect(container))

    def _container(self, name: str) -> Any:
        return self._call("find a container", lambda: self.client.containers.get(name))

    def start(self, name: str) -> None:
        self._call(f"start container {name}", lambda: self._container(name).start())

    def stop(self, name: str, timeout: int = 10) -> None:
        self._call(f"stop container {name}", lambda: self._container(name).stop(timeout=timeout))

    def kill(self, name: str, signal: str = "SIGKILL") -> None:
        self._call(f"kill container {name}", lambda: self._container(name).kill(signal=signal))

    def remove(self, name: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._call(f"remove container {name}",
                       lambda: self._container(name).remove(force=True, v=False))

    def get(self, name: str) -> ContainerInfo | None:
        try:
            return self._info(self._container(name))
        except docker.errors.NotFound:
            return None

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        # List ids, then inspect one by one, skipping the ones that went away in between
        # (short-lived task containers do; containers.list() would raise NotFound for them).
        rows = self._call("list containers", lambda: self.client.api.containers(
            all=True, filters={"label": _label_filter(labels)}))
        infos = []
        for row in rows:
            try:
                infos.append(self._info(self._container(row["Id"])))
            except docker.errors.NotFound:
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
        result = self._call("run a command in a container",
                            lambda: self._container(name).exec_run(command, demux=False,
                                                                    user=user or ""))
        return int(result.exit_code), (result.output or b"").decode(errors="replace")

    def put_files(self, name: str, files: dict[str, tuple[bytes, int]], user: str) -> None:
        uid, _, gid = user.partition(":")
        archive = _tar(files, int(uid), int(gid or uid))
        self._call("copy files into a container",
                   lambda: self._container(name).put_archive("/", archive))

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
        docker_mounts = [
            DockerMount(m.target, m.source, type="volume" if m.volume else "bind",
                        read_only=m.read_only)
            for m in mounts
        ]
        container = self._call("create a task container", lambda: self.client.containers.create(
            image=image, command=command, entrypoint=[], user=user, mounts=docker_mounts,
            network_mode="none", cap_drop=["ALL"], cap_add=cap_add,
            security_opt=["no-new-privileges:true"], labels={LABEL_ROLE: "task"}, detach=True))
        try:
            if files:
                uid, _, gid = (user or "0:0").partition(":")
                archive = _tar(files, int(uid), int(gid or uid))
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

    # networks and volumes ------------------------------------------------------------------
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
            with contextlib.suppress(docker.errors.NotFound):
                self._call(f"remove network {name}", net.remove)

    def network_exists(self, name: str) -> bool:
        try:
            self._call("find a network", lambda: self.client.networks.get(name))
            return True
        except docker.errors.NotFound:
            return False

    def list_networks(self, labels: dict[str, str]) -> list[str]:
        nets = self._call("list networks", lambda: self.client.networks.list(
            filters={"label": _label_filter(labels)}))
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
            vol = self._call("find a volume", lambda: self.client.volumes.get(name))
            self._call(f"remove volume {name}", lambda: vol.remove(force=True))
        except docker.errors.NotFound:
            pass

    def list_volumes(self, labels: dict[str, str]) -> list[str]:
        vols = self._call("list volumes", lambda: self.client.volumes.list(
            filters={"label": _label_filter(labels)}))
        return [v.name for v in vols]
