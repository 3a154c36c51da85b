"""Container runtimes: the protocol, the Docker implementation and a fake for unit tests."""

from myonion.runtime.base import ContainerInfo, ContainerSpec, Runtime

__all__ = ["ContainerInfo", "ContainerSpec", "Runtime", "default_runtime"]


def default_runtime() -> Runtime:
    """The real runtime (Docker), connected from the environment (DOCKER_HOST or the socket)."""
    from myonion.runtime.docker import DockerRuntime

    return DockerRuntime()
