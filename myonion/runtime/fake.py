"""An in-memory Runtime for fast unit tests of myonion's own logic (no engine, no tor).

It keeps to the contract the real engine keeps (tests/contract runs one suite on both): missing
objects raise :class:`~myonion.errors.NoSuchObject`, a name is taken once, a command runs only
in a running container. It runs no programs: a command gets the answer a container would give
for the few this knows (``true``, ``false``, ``echo``, ``id -u``/``-g``, ``cat`` of files put
into the container), and every other one status 0 and no output. Like docker-py's client, it is
made of parts grouped by resource over one shared state.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from myonion.errors import BuildFailed, DockerUnavailable, NoSuchObject, RuntimeFailure
from myonion.runtime.base import ContainerInfo, ContainerSpec, Mount

#: the names Docker accepts for containers
NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")

Files = dict[str, tuple[bytes, int]]


def _readable(mode: int, owner: str, user: str) -> bool:
    """Whether ``user`` may read a file of ``owner`` and ``mode``: every container drops all
    capabilities, so not even root reads another user's file past its mode."""
    uid, _, gid = user.partition(":")
    owner_uid, _, owner_gid = owner.partition(":")
    if uid == owner_uid:
        return bool(mode & 0o400)
    if (gid or uid) == (owner_gid or owner_uid):
        return bool(mode & 0o040)
    return bool(mode & 0o004)


def answer(command: list[str], user: str, files: Files,
           owners: dict[str, str] | None = None) -> tuple[int, str]:
    """What a container answers to ``command`` run as ``user`` ("uid:gid") with ``files``
    (owned by ``owners[path]``, else by ``user``)."""
    uid, _, gid = user.partition(":")
    owners = owners or {}
    match command:
        case ["false"]:
            return 1, ""
        case ["echo", *words]:
            return 0, " ".join(words) + "\n"
        case ["id", "-u"]:
            return 0, f"{uid}\n"
        case ["id", "-g"]:
            return 0, f"{gid or uid}\n"
        case ["cat", *paths] if paths:
            missing = [p for p in paths if p not in files]
            if missing:
                return 1, f"cat: {missing[0]}: No such file or directory\n"
            denied = [p for p in paths if not _readable(files[p][1], owners.get(p, user), user)]
            if denied:
                return 1, f"cat: {denied[0]}: Permission denied\n"
            return 0, b"".join(files[p][0] for p in paths).decode(errors="replace")
    return 0, ""


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    """Docker's label filter: every key present, with the value unless that is ""."""
    return all(k in labels and (not v or labels[k] == v) for k, v in wanted.items())


def _from_line(context: IO[bytes]) -> str | None:
    """The image a build context's Dockerfile starts FROM (None if it names none)."""
    try:
        context.seek(0)
        with tarfile.open(fileobj=context, mode="r:") as tar:
            member = tar.extractfile("Dockerfile")
            text = member.read().decode() if member else ""
    except (tarfile.TarError, KeyError, OSError):
        return None
    for line in text.splitlines():
        if line.upper().startswith("FROM "):
            return line.split()[1]
    return None


def _add_config(configs: dict[str, bytes], config: bytes) -> str:
    image_id = f"sha256:{hashlib.sha256(config).hexdigest()}"
    configs[image_id] = config
    return image_id


@dataclass
class FakeEngine:
    """The state every part shares; ``fail_build`` / ``down`` simulate failures."""

    images: set[str] = field(default_factory=set)
    #: tag -> image ID; a tag added to ``images`` directly gets one of its own when asked
    image_ids: dict[str, str] = field(default_factory=dict)
    #: image ID -> its config (the ID is the config's sha256, as Docker's)
    configs: dict[str, bytes] = field(default_factory=dict)
    #: what free_space() answers (None: unknown)
    disk_free: int | None = 1 << 40
    containers: dict[str, tuple[ContainerSpec, ContainerInfo]] = field(default_factory=dict)
    networks: dict[str, dict[str, str]] = field(default_factory=dict)
    #: network name -> its subnet (when one was given)
    subnets: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    builds: list[str] = field(default_factory=list)
    tasks: list[list[str]] = field(default_factory=list)
    #: commands run in containers: (container name, command, user)
    execs: list[tuple[str, list[str], str | None]] = field(default_factory=list)
    #: files put into containers: container name -> path -> (content, mode)
    files: dict[str, Files] = field(default_factory=dict)
    #: who owns them ("uid:gid"): container name -> path -> owner
    owners: dict[str, dict[str, str]] = field(default_factory=dict)
    fail_build: bool = False
    down: bool = False
    #: Docker architectures (``arm64``, ``arm``) whose programs this engine runs (emulated);
    #: None: every one. A task's ``uname -m`` answers as its image's platform says.
    runs: set[str] | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _check(self) -> None:
        if self.down:
            raise DockerUnavailable("The Docker engine is not reachable (fake engine is down).")

    def ping(self) -> None:
        self._check()

    def free_space(self) -> int | None:
        return self.disk_free

    def image_exists(self, tag: str) -> bool:
        self._check()
        return tag in self.configs if tag.startswith("sha256:") else tag in self.images

    def image_id(self, tag: str) -> str | None:
        self._check()
        if tag not in self.images:
            return None
        if tag not in self.image_ids:
            # labelled as Docker labels what it makes on amd64
            config = json.dumps({"fake image": tag, "architecture": "amd64"}).encode()
            self.image_ids[tag] = _add_config(self.configs, config)
        return self.image_ids[tag]

    def image_platform(self, tag: str) -> tuple[str, str | None]:
        image_id = tag if tag.startswith("sha256:") else self.image_id(tag)
        if image_id is None or image_id not in self.configs:
            raise NoSuchObject(f"Docker refused to look up an image: No such image: {tag}.")
        config = json.loads(self.configs[image_id])
        return str(config.get("architecture", "amd64")), config.get("variant") or None

    def _need_image(self, image: str, what: str) -> None:
        if not self.image_exists(image):
            raise NoSuchObject(f"Docker refused to {what}: No such image: {image}.")


class FakeImages(FakeEngine):
    """Images: builds succeed at once (unless ``fail_build``); save and load as Docker does."""

    def tag_image(self, image_id: str, tag: str) -> None:
        self._check()
        if image_id not in self.configs:
            raise NoSuchObject(f"Docker refused to tag an image: no such image {image_id}.")
        self.images.add(tag)
        self.image_ids[tag] = image_id

    def build(self, context: IO[bytes], tag: str, labels: dict[str, str],
              on_line: Callable[[str], None], nocache: bool = False) -> None:
        self._check()
        on_line("Step 1/2 : FROM fake")
        if self.fail_build:
            raise BuildFailed(f"Building image {tag} failed: fake failure.", detail="fake log")
        on_line("Step 2/2 : RUN true")
        parent = _from_line(context)
        architecture, variant = self.image_platform(parent) if parent in self.images else (
            "amd64", None)
        self.builds.append(tag)
        self.set_platform(tag, architecture, variant, what="built")

    def import_image(self, tar_path: str, tag: str) -> None:
        # as Docker 20.10 on amd64: an import is labelled amd64 whatever its files are
        self.set_platform(tag, "amd64", None, what="imported")

    def set_platform(self, tag: str, architecture: str, variant: str | None,
                     what: str = "given") -> None:
        """Make ``tag`` an image (a new one) whose metadata names this platform."""
        config = {"fake image": tag, "how": what, "n": next(self._ids),
                  "architecture": architecture, **({"variant": variant} if variant else {})}
        self.images.add(tag)
        self.image_ids[tag] = _add_config(self.configs, json.dumps(config).encode())

    def remove_image(self, tag: str) -> None:
        if tag.startswith("sha256:"):
            self.configs.pop(tag, None)
            for other in [t for t, i in self.image_ids.items() if i == tag]:
                self.remove_image(other)
        self.images.discard(tag)
        self.image_ids.pop(tag, None)

    def list_images(self, repository_prefix: str) -> list[str]:
        return sorted(t for t in self.images if t.startswith(repository_prefix))

    def image_size(self, tag: str) -> int:
        return 1000

    def save_images(self, tags: list[str], path: str) -> None:
        """A ``docker save`` archive (the classic layout) of the tags' images."""
        self._check()
        missing = [t for t in tags if t not in self.images]
        if missing:
            raise RuntimeFailure(f"Docker refused to save images: no such image {missing[0]}.")
        by_id: dict[str, list[str]] = {}
        for tag in tags:
            by_id.setdefault(str(self.image_id(tag)), []).append(tag)
        files: dict[str, bytes] = {}
        entries = []
        for image_id, image_tags in by_id.items():
            digest = image_id.removeprefix("sha256:")
            files[f"{digest}.json"] = self.configs[image_id]
            files[f"{digest}/layer.tar"] = f"fake layer of {image_id}".encode()
            entries.append({"Config": f"{digest}.json", "RepoTags": image_tags,
                            "Layers": [f"{digest}/layer.tar"]})
        files["manifest.json"] = json.dumps(entries).encode()
        with tarfile.open(path, "w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    def load_images(self, archive: Iterable[bytes]) -> list[str]:
        """Load as Docker does: every image manifest.json lists, tagged as it says."""
        self._check()
        data = b"".join(archive)
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                def read(name: str) -> bytes:
                    f = tar.extractfile(name)
                    assert f is not None
                    return f.read()

                loaded: list[str] = []
                for entry in json.loads(read("manifest.json")):
                    for layer in entry["Layers"]:
                        read(layer)
                    image_id = _add_config(self.configs, read(entry["Config"]))
                    for tag in entry.get("RepoTags") or []:
                        self.images.add(tag)
                        self.image_ids[tag] = image_id
                    loaded += entry.get("RepoTags") or [image_id]
        except (tarfile.TarError, KeyError, ValueError) as e:
            raise RuntimeFailure(f"Docker refused to load images: {e}.") from e
        return loaded


class FakeContainers(FakeEngine):
    """Containers and one-off tasks: states change at once; commands get :func:`answer`'s."""

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        self._check()
        if not NAME_RE.fullmatch(spec.name):
            raise RuntimeFailure(f"Docker refused to create container {spec.name}: "
                                 "invalid container name.")
        if spec.name in self.containers:
            raise RuntimeFailure(f"Docker refused to create container {spec.name}: in use.")
        self._need_image(spec.image, f"create container {spec.name}")
        for m in spec.mounts:
            if m.volume and m.source not in self.volumes:
                self.volumes[m.source] = {}
        networks = [spec.network or "bridge", *spec.extra_networks]
        info = ContainerInfo(id=f"{next(self._ids):064x}", name=spec.name, image=spec.image,
                             status="created", exit_code=0, labels=dict(spec.labels),
                             ip_addresses={net: "" for net in networks})
        self.containers[spec.name] = (spec, info)
        return info

    def _info(self, name: str) -> ContainerInfo:
        self._check()
        if name not in self.containers:
            raise NoSuchObject(f"Docker refused to find container {name}: "
                               f"No such container: {name}.")
        return self.containers[name][1]

    def start(self, name: str) -> None:
        info = self._info(name)
        info.status, info.exit_code = "running", 0

    def stop(self, name: str, timeout: int = 10) -> None:
        info = self._info(name)
        if info.running:
            info.status, info.exit_code = "exited", 0

    def kill(self, name: str, signal: str = "SIGKILL") -> None:
        info = self._info(name)
        if not info.running:
            raise RuntimeFailure(f"Docker refused to kill container {name}: it is not running.")
        info.status, info.exit_code = "exited", 137

    def remove(self, name: str) -> None:
        self.containers.pop(name, None)

    def get(self, name: str) -> ContainerInfo | None:
        self._check()
        entry = self.containers.get(name)
        return entry[1] if entry else None

    def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        self._check()
        return [info for _, info in self.containers.values() if _matches(info.labels, labels)]

    def logs(self, name: str, tail: int | None = None, follow: bool = False) -> Iterator[str]:
        self._info(name)
        return iter(["fake log line"])

    def exec(self, name: str, command: list[str], user: str | None = None) -> tuple[int, str]:
        info = self._info(name)
        if not info.running:
            raise RuntimeFailure(f"Docker refused to run a command in container {name}: "
                                 "it is not running.")
        self.execs.append((name, list(command), user))
        spec = self.containers[name][0]
        return answer(command, user or spec.user or "0:0", self.files.get(name, {}),
                      self.owners.get(name, {}))

    def put_files(self, name: str, files: Files, user: str) -> None:
        self._info(name)
        if self.containers[name][0].read_only:
            raise RuntimeFailure("Docker refused to copy files into a container: container "
                                 "rootfs is marked read-only.")
        self.files.setdefault(name, {}).update(files)
        self.owners.setdefault(name, {}).update(dict.fromkeys(files, user))

    def run_task(self, image: str, command: list[str], mounts: list[Mount],
                 files: Files | None = None, user: str | None = None,
                 cap_add: list[str] | None = None, timeout: float = 300) -> tuple[int, str]:
        self._check()
        self._need_image(image, "create a task container")
        self.tasks.append(command)
        if command == ["uname", "-m"]:
            architecture, _ = self.image_platform(image)
            if self.runs is not None and architecture not in self.runs:
                return 1, "exec /usr/bin/uname: exec format error\n"
            machine = {"amd64": "x86_64", "arm64": "aarch64", "arm": "armv7l"}
            return 0, machine.get(architecture, architecture) + "\n"
        return answer(command, user or "0:0", files or {})  # the task's files are its user's


class FakeNetworks(FakeEngine):
    """Networks and named volumes, with their labels."""

    def create_network(self, name: str, internal: bool, subnet: str | None,
                       labels: dict[str, str], options: dict[str, str] | None = None,
                       swarm: bool = False) -> None:
        self._check()
        if name in self.networks:
            raise RuntimeFailure(f"Docker refused to create network {name}: network with name "
                                 f"{name} already exists.")
        self.networks[name] = dict(labels)
        if subnet:
            self.subnets[name] = subnet

    def remove_network(self, name: str) -> None:
        self.networks.pop(name, None)
        self.subnets.pop(name, None)

    def network_exists(self, name: str) -> bool:
        return name in self.networks

    def list_networks(self, labels: dict[str, str]) -> list[str]:
        return [n for n, lab in self.networks.items() if _matches(lab, labels)]

    def used_subnets(self) -> list[str]:
        return list(self.subnets.values())

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.volumes[name] = dict(labels)

    def remove_volume(self, name: str) -> None:
        self.volumes.pop(name, None)

    def list_volumes(self, labels: dict[str, str]) -> list[str]:
        return [v for v, lab in self.volumes.items() if _matches(lab, labels)]


@dataclass
class FakeRuntime(FakeContainers, FakeImages, FakeNetworks):
    """Records what was asked of it; ``fail_build`` / ``down`` simulate failures."""
