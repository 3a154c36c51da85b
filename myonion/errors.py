"""The one exception family of myonion.

Every error's ``str()`` is a complete sentence a user can read; ``hint`` says what to do.

    MyOnionError
    ├── DockerUnavailable        the engine does not answer
    ├── RuntimeFailure           the engine refused an operation
    │   ├── BuildFailed          an image build failed (carries the log tail)
    │   ├── EmulationMissing     the engine cannot run another architecture's programs
    │   └── NoSuchObject         the engine has no such container, image, network or volume
    ├── TemplateError            unknown template, broken manifest
    ├── OptionError              a bad option value (nothing was built)
    ├── ServiceNotFound / NameInUse
    ├── StateError               the state directory is unusable
    ├── TorError                 tor did not become ready (carries the log tail)
    │   └── ServiceFailing       the onion answers but the service does not work
    ├── TestnetError             the private test network is down or broken
    └── FetchError               a fetch through tor failed
"""

from __future__ import annotations


class MyOnionError(Exception):
    """Base of every error myonion raises on purpose."""

    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        #: extra text for the user (a log tail), shown after the message
        self.detail = detail


class DockerUnavailable(MyOnionError):
    hint = "Start the Docker engine (e.g. `systemctl start docker` or `dockerd &`) and try again."


class RuntimeFailure(MyOnionError):
    pass


class BuildFailed(RuntimeFailure):
    pass


class EmulationMissing(RuntimeFailure):
    """Images of another architecture were asked for, and this engine cannot run them."""

    hint = ("Install qemu-user-static and binfmt-support (as root: "
            "`scripts/setup-host.sh --emulate ARCH`), or build on a machine of that "
            "architecture.")


class NoSuchObject(RuntimeFailure):
    """The engine has no container, image, network or volume of that name."""


class TemplateError(MyOnionError):
    hint = "Run `myonion templates` to see the templates that exist."


class OptionError(MyOnionError):
    pass


class ServiceNotFound(MyOnionError):
    hint = "Run `myonion ls` to see the services that exist."


class NameInUse(MyOnionError):
    hint = "Choose another --name, or remove the old service with `myonion rm NAME`."


class StateError(MyOnionError):
    pass


class TorError(MyOnionError):
    pass


class ServiceFailing(TorError):
    """The onion service is up, but the service behind it does not answer as it should."""


class TestnetError(MyOnionError):
    hint = "Start it with `myonion testnet up`."


class FetchError(MyOnionError):
    pass
