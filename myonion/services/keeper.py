"""The directory keeper: one tor container per network that keeps the network's directory
current and a copy of it (:mod:`myonion.tor.directory`) in a volume that every new service's
tor of that network mounts read-only and starts from, so that a new service does not
download the directory itself (on the public network: megabytes, per service).

On the public network nothing else of ours runs a tor, so the first public service starts
the keeper (``myonion_directory``) and the last one to stop or go stops it again: no tor of
ours stays on the Tor network once nothing is shared. On the local test network the network's
client keeps the copy already; a keeper started there (``<network>_directory``) is preferred
by the services, which is how the tests prove the public network's keeper: the same container,
image, command and volumes, told only the test network's authorities by its include.

The keeper is a Tor *client* with no listener at all (no SOCKS, no control port, no onion
service), as tor's own user, read-only root, its own data (its state and guards) in a volume
no service mounts, and its copy (public documents only) in another. Its names hold a "_",
which no service name can (:data:`myonion.services.request.NAME_RE`).
"""

from __future__ import annotations

from myonion import config
from myonion.build import images
from myonion.build.render import TOR_UID
from myonion.errors import OptionError, RuntimeFailure
from myonion.runtime.base import (
    LABEL_NETWORK,
    LABEL_ROLE,
    LABEL_SERVICE,
    ContainerSpec,
    Mount,
    Runtime,
)
from myonion.services.context import TestnetPort
from myonion.testnet.layout import INCLUDE_FILE
from myonion.tor import directory

#: the role label of a keeper's container and volumes
ROLE = "directory"
#: where the keeper's tor keeps its own data (a volume of its own, mounted by nobody else)
DATA = "/var/lib/tor"
#: where the keeper writes the copy (the copy volume's ``directory/``), and where a service
#: mounts that volume read-only (its tor reads ``SEED_TARGET/directory``)
SEED_MOUNT = "/seed"
SEED_TARGET = "/var/lib/myonion-directory"
#: the test network's include, in a keeper on the local network (read-only)
INCLUDE_TARGET = "/etc/tor/torrc.d"
#: tor's options, on the command line: a client that listens on nothing and never goes
#: dormant (a dormant tor stops fetching the directory; a keeper sees no client activity)
TOR_OPTIONS = (("SocksPort", "0"), ("ControlPort", "0"), ("ClientOnly", "1"),
               ("DormantTimeoutEnabled", "0"), ("DormantCanceledByStartup", "1"),
               ("Log", "notice stdout"))


def name(testnet: TestnetPort | None) -> str:
    """The keeper's container (and copy volume) on the public network (``testnet`` None) or on
    the test network ``testnet``."""
    return "myonion_directory" if testnet is None else f"{testnet.network}_directory"


def data_volume(testnet: TestnetPort | None) -> str:
    """The volume of the keeper's own tor data (state, guards): no service mounts it."""
    return f"{name(testnet)}-tor"


def labels(testnet: TestnetPort | None) -> dict[str, str]:
    return {LABEL_ROLE: ROLE, LABEL_NETWORK: "tor" if testnet is None else "local"}


def tor_command(testnet: TestnetPort | None) -> list[str]:
    """The keeper's tor, all on its command line: no torrc on the public network (tor's
    defaults: the public authorities; the image has none), the test network's include as its
    torrc on the local one."""
    torrc = f"{INCLUDE_TARGET}/{INCLUDE_FILE}" if testnet is not None else "/etc/tor/torrc"
    options = [arg for option, value in TOR_OPTIONS for arg in (f"--{option}", value)]
    return ["tor", "--allow-missing-torrc", "--defaults-torrc", "/etc/tor/torrc-defaults",
            "-f", torrc, "--DataDirectory", f"{DATA}/data", *options]


def spec(image: str, testnet: TestnetPort | None) -> ContainerSpec:
    """The keeper's container on the public network (``testnet`` None: Docker's default
    bridge, the way every public service reaches the Tor network) or on ``testnet``."""
    mounts = [Mount(data_volume(testnet), DATA, volume=True),
              Mount(name(testnet), SEED_MOUNT, volume=True)]
    if testnet is not None:
        mounts.append(Mount(testnet.include_volume, INCLUDE_TARGET, read_only=True,
                            volume=True))
    return ContainerSpec(
        name=name(testnet), image=image, labels=labels(testnet),
        entrypoint=["/usr/bin/tini", "--"],
        command=directory.keeper_command(f"{DATA}/data", f"{SEED_MOUNT}/{directory.SUBDIR}",
                                         tor_command(testnet)),
        user=f"{TOR_UID}:{TOR_UID}", mounts=mounts,
        network=testnet.network if testnet is not None else None,
        read_only=True, mem_limit="256m", pids_limit=64, restart="unless-stopped",
        hostname="directory",
    )


def ensure(runtime: Runtime, testnet: TestnetPort | None = None) -> str:
    """Start the keeper of a network if it does not run (made, with its volumes, if missing)
    and return its copy volume. It does not wait: a service made before the copy is there
    downloads its own directory, as without a keeper."""
    if testnet is None and config.pinned_network() == "local":
        raise OptionError("This environment pins the local test network (MYONION_NETWORK=local); "
                          "the public network's directory keeper is refused.",
                          hint="Unset MYONION_NETWORK on a machine that may use Tor.")
    image = images.tor_image(runtime)
    found = runtime.get(name(testnet))
    if found is not None and found.image != image:
        runtime.remove(name(testnet))  # made by an older myonion: its volumes stay
        found = None
    if found is None:
        for volume in (data_volume(testnet), name(testnet)):
            runtime.create_volume(volume, labels(testnet))
        # the copy's folder, tor's user's, in a volume whose root stays root's
        runtime.run_task(image, ["true"], [Mount(name(testnet), SEED_MOUNT, volume=True)],
                         files={f"{SEED_MOUNT}/{directory.SUBDIR}/": (b"", 0o755)},
                         user=f"{TOR_UID}:{TOR_UID}")
        runtime.create(spec(image, testnet))
        runtime.start(name(testnet))
    elif not found.running:
        runtime.start(name(testnet))
    return name(testnet)


def running(runtime: Runtime, testnet: TestnetPort | None = None) -> bool:
    """Whether the keeper of a network runs."""
    found = runtime.get(name(testnet))
    return found is not None and found.running


def seed_for(runtime: Runtime, network: str, testnet: TestnetPort | None) -> str | None:
    """The copy volume a new service of ``network`` ("tor" or "local") mounts, if any: the
    public network's keeper (started when it does not run); on the local network, a keeper of
    the test network if one runs (else the service reads the client's copy in the include).
    None with the copy turned off."""
    if not directory.enabled():
        return None
    if network == "tor":
        return ensure(runtime)
    return name(testnet) if testnet is not None and running(runtime, testnet) else None


def stop_if_unused(runtime: Runtime, network: str) -> bool:
    """After a service of ``network`` stopped or went: stop the public network's keeper once
    no public service's container runs (a stopped keeper keeps its volumes; the next public
    share starts it). True if it was stopped."""
    if network != "tor" or not running(runtime):
        return False
    for info in runtime.list_containers({LABEL_NETWORK: "tor"}):
        if LABEL_SERVICE in info.labels and info.running:
            return False
    runtime.stop(name(None))
    return True


def remove(runtime: Runtime, testnet: TestnetPort | None = None) -> list[str]:
    """Remove a network's keeper with its volumes (public documents and its own tor state:
    nothing a user made). Returns the volumes kept because a service's container still
    mounts them (the copy; removed by a later ``remove`` once those services are gone)."""
    runtime.remove(name(testnet))
    kept = []
    for volume in (name(testnet), data_volume(testnet)):
        try:
            runtime.remove_volume(volume)
        except RuntimeFailure:
            kept.append(volume)  # in use: Docker refuses
    return kept


def describe(runtime: Runtime, testnet: TestnetPort | None = None) -> dict[str, object]:
    """What ``myonion directory status`` shows: the keeper's container state ("absent",
    "running", "exited", ...) and, while it runs, its copy's consensus time and relay count."""
    found = runtime.get(name(testnet))
    result: dict[str, object] = {"name": name(testnet),
                                 "state": "absent" if found is None else found.status}
    if found is not None and found.running:
        consensus = f"{SEED_MOUNT}/{directory.SUBDIR}/cached-microdesc-consensus"
        code, output = runtime.exec(name(testnet), [
            "sh", "-c", f"sed -n 's/^valid-after //p' {consensus} | head -1; "
                        f"grep -c '^r ' {consensus}"])
        lines = output.split()
        if code == 0 and len(lines) == 3:
            result["valid_after"] = f"{lines[0]} {lines[1]}"
            result["relays"] = int(lines[2])
    return result
