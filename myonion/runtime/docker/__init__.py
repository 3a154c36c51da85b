"""The Docker engine behind the Runtime protocol; the only package that imports ``docker``.

docker-py's shape: a thin :class:`DockerRuntime` made of parts grouped by resource —
:mod:`~myonion.runtime.docker.containers`, :mod:`~myonion.runtime.docker.images` and
:mod:`~myonion.runtime.docker.networks` (with volumes) — over one connection whose errors
:mod:`~myonion.runtime.docker.engine` turns into myonion's.
"""

from __future__ import annotations

from myonion.runtime.docker.containers import ContainersMixin
from myonion.runtime.docker.images import ImagesMixin
from myonion.runtime.docker.networks import NetworksMixin

__all__ = ["DockerRuntime"]


class DockerRuntime(ContainersMixin, ImagesMixin, NetworksMixin):
    """Runtime on a real Docker engine (docker-py)."""
