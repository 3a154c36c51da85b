"""The connection to the Docker engine, and how its errors become myonion's.

Every call to docker-py goes through :meth:`DockerEngine._call`: a refusal becomes a
:class:`~myonion.errors.RuntimeFailure` (:class:`~myonion.errors.NoSuchObject` when the object
does not exist), a connection problem :class:`~myonion.errors.DockerUnavailable`, each raised
``from`` docker-py's exception.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import docker.errors

from myonion.errors import DockerUnavailable, NoSuchObject, RuntimeFailure

log = logging.getLogger(__name__)
T = TypeVar("T")

#: what the engine (or a build step in it) says when the disk under its data root is full
DISK_FULL = "no space left on device"
DISK_FULL_HINT = (
    "The disk the Docker engine keeps its images and containers on is full. See what uses it "
    "with `docker system df`, free space (`myonion prune` removes images of older myonion "
    "template versions that no service uses; `docker image prune` dangling ones), then try "
    "again.")


def is_disk_full(*texts: object) -> bool:
    """True if any of ``texts`` is the engine saying its disk is full."""
    return any(DISK_FULL in str(text).lower() for text in texts)


def unreachable(e: Exception) -> DockerUnavailable:
    return DockerUnavailable(f"The Docker engine is not reachable ({e}).")


def duration_ns(value: object) -> int:
    """'30s' / '2m' / 5 → nanoseconds, as Docker's healthcheck wants them."""
    text = str(value)
    units = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(float(text) * 10**9)


def tar_of(files: dict[str, tuple[bytes, int]], user: str) -> bytes:
    """A tar of ``files`` owned by ``user`` ("uid:gid"); a path ending in "/" is a directory."""
    uid, _, gid = user.partition(":")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(path.strip("/"))
            info.mode, info.uid, info.gid = mode, int(uid), int(gid or uid)
            if path.endswith("/"):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def label_filter(labels: dict[str, str]) -> list[str]:
    """Docker's label filter for ``labels`` (a value of "" matches any value)."""
    return [f"{k}={v}" if v else k for k, v in labels.items()]


def local_session(client: docker.DockerClient) -> docker.DockerClient:
    """``client``, told not to look for proxy settings in the environment on every call
    when its engine is on this machine (a socket, which no proxy stands before): requests
    walked the whole environment twice per call: ~20 % of a share's CPU in Python,
    profiled."""
    if str(client.api.base_url).startswith("http+docker://"):
        client.api.trust_env = False
    return client


class DockerEngine:
    """The client (connected on first use) and the one place its errors are translated."""

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = local_session(docker.from_env(timeout=120))
            except docker.errors.DockerException as e:
                raise unreachable(e) from e
        return self._client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, with docker-py's errors as myonion's (``what``: "start container x")."""
        try:
            return fn()
        except docker.errors.NotFound as e:
            raise NoSuchObject(f"Docker refused to {what}: {e.explanation or e}.") from e
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"Docker refused to {what}: {e.explanation or e}.",
                                 hint=DISK_FULL_HINT if is_disk_full(e) else None) from e
        except docker.errors.DockerException as e:
            raise unreachable(e) from e
        except OSError as e:  # socket errors from requests/urllib3 subclass OSError
            raise unreachable(e) from e

    def ping(self) -> None:
        """Raise DockerUnavailable if the engine does not answer."""
        try:
            self.client.ping()
        except (docker.errors.DockerException, OSError) as e:
            raise unreachable(e) from e

    def free_space(self) -> int | None:
        """Bytes free under the engine's data root; None for an engine on another machine."""
        if not str(self.client.api.base_url).startswith("http+docker://local"):
            return None  # an engine elsewhere: its disk is not this machine's
        info: dict[str, Any] = self._call("describe itself", lambda: self.client.info())
        try:
            return shutil.disk_usage(str(info.get("DockerRootDir", ""))).free
        except OSError:
            return None
