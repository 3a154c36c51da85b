"""Who may connect to a private service: its client keys added, removed, handed to a running
container and matched to a list, and the key the test network's tor client checks it with.

The keys themselves are kept by :class:`myonion.access.ClientStore` in the service directory.
"""

from __future__ import annotations

import contextlib

from myonion import keys
from myonion.access import ClientStore
from myonion.errors import MyOnionError, NameInUse
from myonion.events import Stage
from myonion.services import hostdirs
from myonion.services.context import ServiceContext, container_name, home_label
from myonion.services.store import ServiceRecord

#: what the entry script runs to hand tor the new client list (tor reloads it on SIGHUP)
RELOAD_CLIENTS = ["/usr/local/bin/myonion-entry", "--reload-clients"]


def store(ctx: ServiceContext, name: str) -> ClientStore:
    """The client keys of service ``name``."""
    return ClientStore(ctx.store.service_dir(name))


def testnet_key(name: str) -> str:
    """The name the test network's client keeps a service's client key under."""
    return f"{home_label()}-{name}"


def check_key(ctx: ServiceContext, name: str) -> keys.ClientKey | None:
    """A client key the manager can check a private service with (the first one kept)."""
    kept = store(ctx, name)
    for client in kept.names():
        key = kept.get(client)
        if key.private is not None:
            return key
    return None


def store_with(ctx: ServiceContext, name: str, client: str) -> ClientStore:
    """The client store of service ``name``, which must have a client named ``client``."""
    kept = store(ctx, name)
    if not kept.exists(client):
        raise MyOnionError(f"Service '{name}' has no client named '{client}'.",
                           hint=f"See its clients with `myonion clients ls {name}`.")
    return kept


def make(ctx: ServiceContext, name: str, clients: tuple[str, ...]) -> None:
    """A key each for the clients of a new service."""
    kept = store(ctx, name)
    for client in clients:
        kept.add(keys.generate_client_key(client))


def add(ctx: ServiceContext, record: ServiceRecord, client: str,
        public_key: str | None) -> keys.ClientKey:
    """Authorize a new client (a fresh x25519 pair, or the public key the user brings); the
    first one makes a public service private. A running service takes it at once."""
    name = record.name
    keys.check_client_name(client)
    kept = store(ctx, name)
    if kept.exists(client):
        raise NameInUse(f"Service '{name}' has a client named '{client}' already.",
                        hint=f"Remove it first with `myonion clients rm {name} {client}`, "
                        "or pick another name.")
    key = (keys.client_key_from_public(client, public_key) if public_key
           else keys.generate_client_key(client))
    kept.add(key)
    if not record.private:
        ctx.store.update(name, private=True)
    apply(ctx, record)
    ctx.report(Stage.PUBLISHED, f"Client '{client}' may now connect to '{name}'", name)
    return key


def remove(ctx: ServiceContext, record: ServiceRecord, client: str) -> None:
    """Revoke a client: new connections with its key fail; the address stays."""
    kept = store_with(ctx, record.name, client)
    kept.remove(client)
    apply(ctx, record)
    ctx.report(Stage.PUBLISHED, f"Client '{client}' can no longer connect to '{record.name}'"
               + ("" if kept.names() else "; nobody can until a client is added"), record.name)


def apply(ctx: ServiceContext, record: ServiceRecord) -> None:
    """Hand a running container the new client list and have tor reload it (SIGHUP); the
    test network's client gets the key it checks the service with."""
    name = record.name
    store(ctx, name).write_auth()
    info = ctx.runtime.get(container_name(name))
    if info is None or not info.running:
        return
    code, output = ctx.runtime.exec(container_name(name), RELOAD_CLIENTS)
    if code != 0:
        raise MyOnionError(f"Service '{name}' did not take the new client list.",
                           hint=f"Restart it: `myonion stop {name}` and `myonion start "
                           f"{name}`.", detail=output)
    if record.network == "local":
        key, address = check_key(ctx, name), hostdirs.read_address(ctx.control_dir(name))
        with contextlib.suppress(MyOnionError):
            if key is not None and address:
                ctx.testnet.authorize(testnet_key(name), key.auth_private_line(address))
            else:
                ctx.testnet.deauthorize(testnet_key(name))


def sync(ctx: ServiceContext, name: str, clients: tuple[str, ...]) -> None:
    """Make the kept client keys match ``clients``: kept ones keep their keys, new ones get
    one each; with none the service is public."""
    kept = store(ctx, name)
    for client in kept.names():
        if client not in clients:
            kept.remove(client)
    for client in clients:
        if not kept.exists(client):
            kept.add(keys.generate_client_key(client))
    if not clients:
        kept.clear()
        with contextlib.suppress(OSError):
            kept.auth_dir.rmdir()


def forget_on_testnet(ctx: ServiceContext, record: ServiceRecord | None) -> None:
    """The test network's client forgets the key it checked a removed service with."""
    if record is not None and record.private and record.network == "local":
        with contextlib.suppress(MyOnionError):
            ctx.testnet.deauthorize(testnet_key(record.name))
