"""Client keys for the test network's client: the keys of private (client-authorized)
services, given to it so ``check`` can reach them, and taken away again."""

from __future__ import annotations

from myonion.build import images
from myonion.errors import TestnetError
from myonion.runtime.base import Mount
from myonion.testnet.access import outdated
from myonion.testnet.context import LABEL_ACCESS, NetContext
from myonion.testnet.layout import DATA_DIR, ONION_AUTH_DIR, UID
from myonion.testnet.logs import tail


def authorize(ctx: NetContext, key: str, auth_private_line: str) -> None:
    """Give the test network's client the key of a private onion service (the content of
    a ``.auth_private`` file), so it can reach it; ``key`` names the file (one per
    service). Tor reads its ClientOnionAuthDir again on SIGHUP."""
    client = client_container(ctx)
    # through a task container on the client's volume: the client's root file system is
    # read-only (Docker then refuses to copy in), and an exec would show the key in argv
    name = f"{key}.auth_private"
    status, output = ctx.runtime.run_task(
        images.tor_image(ctx.runtime, ctx.reporter), ["true"],
        [Mount(client, "/node", volume=True)],
        files={f"/node/{ONION_AUTH_DIR.removeprefix(DATA_DIR + '/')}/{name}": (
            auth_private_line.encode() + b"\n", 0o600)}, user=f"{UID}:{UID}")
    if status != 0:
        raise TestnetError("The test network's client could not be given a client key.",
                           detail=tail(output.splitlines()))
    ctx.runtime.kill(client, "SIGHUP")


def deauthorize(ctx: NetContext, key: str) -> None:
    """Take a key given with :func:`authorize` away again (nothing if there is none)."""
    client = client_container(ctx)
    code, _ = ctx.runtime.exec(client, ["rm", "-f", f"{ONION_AUTH_DIR}/{key}.auth_private"])
    if code == 0:
        ctx.runtime.kill(client, "SIGHUP")


def client_container(ctx: NetContext) -> str:
    """The name of the running client's container (which is also its volume's)."""
    name = f"{ctx.prefix}client"
    info = ctx.runtime.get(name)
    if info is None or not info.running:
        raise TestnetError("The local Tor test network is not up.",
                           hint="Start it with `myonion testnet up`.")
    if LABEL_ACCESS not in info.labels:
        raise outdated()  # never hand a key to a client every container can use
    return name
