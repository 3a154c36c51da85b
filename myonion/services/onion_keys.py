"""A service's onion key: read from its container or its volume (as tor's user: nobody else
in the container can read it), exported encrypted, and written into a persistent service's
tor volume (an import, a vanity key, a promoted service's key, a balanced backend's)."""

from __future__ import annotations

import base64
import binascii

from myonion import keys
from myonion.build.render import TOR_UID
from myonion.errors import MyOnionError
from myonion.runtime.base import Mount
from myonion.services import hostdirs
from myonion.services.containers import TOR_DIR, tor_volume
from myonion.services.context import ServiceContext, container_name
from myonion.services.request import Mode
from myonion.services.store import ServiceRecord

HS_DIR = f"{TOR_DIR}/hs"
SECRET_KEY_FILE = f"{HS_DIR}/hs_ed25519_secret_key"


def read(ctx: ServiceContext, record: ServiceRecord) -> keys.OnionKey:
    """The service's onion key: from the running container, or a persistent one's volume."""
    name = record.name
    command = ["base64", "-w0", SECRET_KEY_FILE]
    info = ctx.runtime.get(container_name(name))
    if info is not None and info.running:
        # as tor's user: nobody else in the container can read the key
        code, output = ctx.runtime.exec(container_name(name), command, user=hostdirs.tor_user())
    elif record.mode is Mode.PERSISTENT:
        code, output = ctx.runtime.run_task(
            record.image, command, [Mount(tor_volume(name), TOR_DIR, volume=True)],
            user=hostdirs.tor_user())
    else:
        raise MyOnionError(f"Service '{name}' is ephemeral and stopped: its key existed "
                           "only in memory and is gone.",
                           hint=f"Start it (`myonion start {name}`, a new address), or "
                           "keep the next one with `myonion promote`.")
    if code != 0:
        raise MyOnionError(f"The key of service '{name}' could not be read (has it been "
                           "started once?).", detail=output.strip()[-500:] or None)
    try:
        return keys.parse_secret_key_file(base64.b64decode(output.strip()))
    except (binascii.Error, ValueError) as e:
        raise MyOnionError(f"The key of service '{name}' could not be read.") from e


def install(ctx: ServiceContext, record: ServiceRecord, key: keys.OnionKey) -> None:
    """Write ``key`` into the (persistent) service's tor volume, replacing any key there; a
    balanced backend's HS directory also gets its master's address (``ob_config``)."""
    files = {
        f"{HS_DIR}/": (b"", 0o700),
        SECRET_KEY_FILE: (key.secret_file(), 0o600),
        f"{HS_DIR}/hs_ed25519_public_key": (key.public_file(), 0o600),
    }
    if record.balance_master:
        files[f"{HS_DIR}/ob_config"] = (
            f"MasterOnionAddress {record.balance_master}\n".encode(), 0o600)
    code, output = ctx.runtime.run_task(
        record.image, ["rm", "-f", f"{HS_DIR}/hostname"],
        [Mount(tor_volume(record.name), TOR_DIR, volume=True)], files=files,
        user=f"{TOR_UID}:{TOR_UID}")
    if code != 0:
        raise MyOnionError(f"The key could not be written for service '{record.name}'.",
                           detail=output.strip()[-500:] or None)
