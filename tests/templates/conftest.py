"""Template tests render and validate; they never talk to a Docker engine."""

from tests.noengine import no_docker_engine  # noqa: F401
