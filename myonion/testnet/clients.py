"""The test network's client as the proofs use it: the keys of private (client-authorized)
services, given to it so ``check`` can reach them and taken away again, and its memory of
onion services, which it can be told to forget."""

from __future__ import annotations

from myonion.build import images
from myonion.errors import TestnetError
from myonion.runtime.base import Mount
from myonion.testnet.access import outdated
from myonion.testnet.context import LABEL_ACCESS, NetContext
from myonion.testnet.layout import CLIENT_CONTROL_PORT, DATA_DIR, ONION_AUTH_DIR, UID
from myonion.testnet.logs import tail

#: the event tor sends once it has forgotten (SETEVENTS SIGNAL)
DONE = "650 SIGNAL NEWNYM"


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


#: run in the client's container: tor's cookie, then SIGNAL NEWNYM on its loopback control
#: port (bash's /dev/tcp: the image has no other client), until tor says it has done it
#: (tor does it at most every 10 s and answers "250 OK" at once either way)
_FORGET = f"""set -e
cookie=$(od -An -tx1 -v {DATA_DIR}/control_auth_cookie | tr -d ' \\n')
exec 3<>/dev/tcp/127.0.0.1/{CLIENT_CONTROL_PORT}
printf 'AUTHENTICATE %s\\r\\nSETEVENTS SIGNAL\\r\\nSIGNAL NEWNYM\\r\\n' "$cookie" >&3
while IFS= read -r -t 15 line <&3; do
    echo "$line"
    case "$line" in
        "{DONE}"*) printf 'QUIT\\r\\n' >&3; exit 0 ;;
        [45]*) exit 1 ;;
    esac
done
exit 1
"""


def forget(ctx: NetContext) -> bool:
    """Make the client forget what it knows of onion services (descriptors, introduction
    points that failed, circuits it used: tor's NEWNYM), as a visitor who never came
    before; returns once it has (tor does it at most every 10 s: this may wait that long).

    A service started again at the same address has new introduction points, but an old
    one can still acknowledge an introduction for a while after its service stopped; a
    client that had the old descriptor then waits on that rendezvous for minutes, and so
    does every later request of it for that onion. False if the client cannot be told (a
    network made before its control port was)."""
    code, output = ctx.runtime.exec(client_container(ctx), ["bash", "-c", _FORGET])
    return code == 0 and DONE in output


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
