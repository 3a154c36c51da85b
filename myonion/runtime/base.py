"""What myonion needs from a container engine, independent of Docker's API."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Protocol

#: label keys put on everything myonion creates
LABEL = "org.myonion"
LABEL_SERVICE = f"{LABEL}.service"
LABEL_TEMPLATE = f"{LABEL}.template"
LABEL_MODE = f"{LABEL}.mode"
LABEL_NETWORK = f"{LABEL}.network"
LABEL_ROLE = f"{LABEL}.role"
#: which myonion data directory a service belongs to (independent setups share one engine)
LABEL_HOME = f"{LABEL}.home"
#: the deployment (``myonion up -f FILE``) a service belongs to
LABEL_DEPLOYMENT = f"{LABEL}.deployment"


@dataclass
class Mount:
    """A bind mount (``source`` is a host path) or a named volume (``volume=True``)."""

    source: str
    target: str
    read_only: bool = False
    volume: bool = False


#: environment variables by which a service container's entry script learns the two users it
#: starts tor and the service as ("uid:gid" each; see containers/_runtime/myonion-entry)
ENV_TOR_USER = "MYONION_TOR_USER"
ENV_SERVICE_USER = "MYONION_SERVICE_USER"


@dataclass
class ContainerSpec:
    """Everything needed to create one container."""

    name: str
    image: str
    labels: dict[str, str]
    command: list[str] | None = None
    #: replaces the image's ENTRYPOINT when given ([] clears it)
    entrypoint: list[str] | None = None
    user: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    tmpfs: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    ipv4_address: str | None = None
    #: extra networks to connect after creation (e.g. a bridge for a published port)
    extra_networks: list[str] = field(default_factory=list)
    #: container port ("9050/tcp") → (host ip, host port); host port 0 means any free one
    ports: dict[str, tuple[str, int]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    cap_add: list[str] = field(default_factory=list)
    read_only: bool = True
    mem_limit: str | None = "256m"
    pids_limit: int | None = 128
    restart: str | None = None  # "unless-stopped", "on-failure", None
    healthcheck: dict[str, object] | None = None
    hostname: str | None = None

    def side_user(self, side: str) -> str:
        """The "uid:gid" that ``side`` ("tor" or "service") of a service container runs as
        (set for its entry script), else the container's user."""
        key = ENV_TOR_USER if side == "tor" else ENV_SERVICE_USER
        return self.environment.get(key) or self.user or "0:0"


@dataclass
class ContainerInfo:
    """A container as the engine sees it now."""

    id: str
    name: str
    image: str
    status: str  # created | running | restarting | exited | paused | dead
    exit_code: int
    labels: dict[str, str]
    started_at: str = ""
    health: str | None = None
    ip_addresses: dict[str, str] = field(default_factory=dict)
    ports: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: the engine killed it at its memory limit (the last time it stopped)
    oom_killed: bool = False

    @property
    def running(self) -> bool:
        return self.status == "running"


class EngineAPI(Protocol):
    """The engine itself."""

    def ping(self) -> None:
        """Raise DockerUnavailable if the engine does not answer."""

    def free_space(self) -> int | None:
        """Bytes free on the disk the engine keeps its images on; None if that is unknown (an
        engine on another machine)."""


class ImagesAPI(Protocol):
    """Images: build, import, tag, save, load, list and remove."""

    def image_exists(self, tag: str) -> bool: ...

    def build(
        self, context: IO[bytes], tag: str, labels: dict[str, str], on_line: Callable[[str], None],
        nocache: bool = False,
    ) -> None:
        """Build an image from a tar context, streaming each log line to ``on_line``
        (``nocache``: build every step afresh)."""

    def import_image(self, tar_path: str, tag: str) -> None:
        """Import a root filesystem tarball as an image (``docker import``)."""

    def remove_image(self, tag: str) -> None: ...

    def list_images(self, repository_prefix: str) -> list[str]:
        """The tags ("repo:tag") of every image whose repository starts with the prefix."""
        ...

    def save_images(self, tags: list[str], path: str) -> None:
        """Write the images ``tags`` (with every layer they need, shared ones once) to a tar
        file at ``path``, as ``docker save`` does."""

    def load_images(self, archive: Iterable[bytes]) -> list[str]:
        """Load the images of a ``docker save`` tar stream, as the engine reads it (tags
        included); returns what it reports loaded: tags, or image IDs of untagged images."""

    def image_id(self, tag: str) -> str | None:
        """The ID (``sha256:…``) of the image a tag points to; None if there is no such tag."""

    def tag_image(self, image_id: str, tag: str) -> None:
        """Point ``tag`` ("repository:tag") at the image ``image_id`` (moving it if it
        pointed elsewhere)."""

    def image_size(self, tag: str) -> int: ...

    def image_platform(self, tag: str) -> tuple[str, str | None]:
        """The architecture and variant an image's metadata names (``("arm64", "v8")``); the
        engine runs it as that, whatever its files are."""
        ...

class ContainersAPI(Protocol):
    """Containers and one-off task containers."""

    def create(self, spec: ContainerSpec) -> ContainerInfo: ...

    def start(self, name: str) -> None: ...

    def stop(self, name: str, timeout: int = 10) -> None: ...

    def kill(self, name: str, signal: str = "SIGKILL") -> None: ...

    def remove(self, name: str) -> None:
        """Remove a container (forcefully) if it exists."""

    def get(self, name: str) -> ContainerInfo | None: ...

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        """Containers (running or not) that carry all of ``labels`` (a value of "" matches any)."""

    def logs(self, name: str, tail: int | None = None, follow: bool = False) -> Iterator[str]: ...

    def exec(self, name: str, command: list[str], user: str | None = None) -> tuple[int, str]:
        """Run ``command`` in a running container (as ``user``, "uid:gid"; by default the
        container's user) and return (exit status, output)."""

    def put_files(self, name: str, files: dict[str, tuple[bytes, int]], user: str) -> None:
        """Copy ``files`` (absolute path -> (content, mode); a path ending in "/" is a
        directory) into a running or stopped container, owned by ``user`` ("uid:gid")."""

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
        """Run a one-off container with no network and return (exit status, output).

        ``files`` maps absolute paths to (content, mode) put into the container (owned by
        ``user``) before it starts, e.g. into its mounted volumes. The container is removed.
        """


class NetworksAPI(Protocol):
    """Networks and named volumes."""

    def create_network(
        self,
        name: str,
        internal: bool,
        subnet: str | None,
        labels: dict[str, str],
        options: dict[str, str] | None = None,
        swarm: bool = False,
    ) -> None:
        """Create a bridge network; ``options`` are driver options (e.g. no IP masquerade).
        ``swarm``: an attachable overlay network instead, which both plain containers and
        Docker Swarm services can join (the engine must be a swarm manager)."""

    def remove_network(self, name: str) -> None: ...

    def network_exists(self, name: str) -> bool: ...

    def list_networks(self, labels: dict[str, str]) -> list[str]: ...

    def create_volume(self, name: str, labels: dict[str, str]) -> None: ...

    def remove_volume(self, name: str) -> None: ...

    def list_volumes(self, labels: dict[str, str]) -> list[str]: ...

    def used_subnets(self) -> list[str]: ...


class Runtime(EngineAPI, ImagesAPI, ContainersAPI, NetworksAPI, Protocol):
    """The container engine as myonion uses it, in parts grouped by resource (as docker-py's
    client is). Errors are MyOnionError subclasses: NoSuchObject for a container, image,
    network or volume that does not exist (see tests/contract, which holds both runtimes to
    this)."""
