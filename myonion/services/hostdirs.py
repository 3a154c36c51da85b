"""Who owns what on the host: the users tor and a service run as, a service's control and
configuration directories, the secret files handed to the service's user, and the one-off
root tasks that do for an ordinary host user what only root may (chown).

Run by root on the host, os.chown does it. An ordinary host user (one in the ``docker`` group,
as the desktop app's user) cannot chown, so a one-off root container with only the capability
it needs does; the control directory's group is then that user's group (tor runs with it), so
the user reads the hostname and cookie and uses the socket, but anything in the directory is
changed through such a task (:func:`in_control_dir`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from myonion import folders, onion
from myonion.build import images
from myonion.build.render import SERVICE_UID, TOR_UID
from myonion.errors import MyOnionError, OptionError
from myonion.runtime.base import Mount, Runtime
from myonion.templates import TemplateSpec

#: what a service's tor and entry script leave in its control directory
CONTROL_LEFTOVERS = ("control.sock", "control.authcookie", "hostname", "hold")


def tor_user() -> str:
    """tor runs as uid 10001; its group is a non-root host user's own, so that user reads the
    control socket, cookie and address (root: tor's own group)."""
    gid = os.getegid()
    return f"{TOR_UID}:{gid if gid != 0 else TOR_UID}"


def service_user(template: TemplateSpec, values: Mapping[str, Any]) -> str:
    """The "uid:gid" a service runs as: never tor's user, so it cannot read the onion key.

    A service that reads a folder of the host (the site's ``dir``) runs as that folder's
    owner, so a folder only its owner may read is served as it is (nothing copied, no mode
    changed): when the owner is root or tor's uid and the folder is open to everyone, the
    ordinary service user is enough. Onionbalance's frontend is tor's own helper (it holds the
    master key and talks to tor), so it runs as tor's user. Raises OptionError for a folder
    that only tor's uid could read."""
    if template.service_is_tor:
        return tor_user()
    default = f"{SERVICE_UID}:{SERVICE_UID}"
    for mount in template.mounts:
        path = values.get(mount.option)
        if not path:
            continue
        st = os.stat(path)
        open_to_all = folders.open_to_everyone(path)
        if st.st_uid == TOR_UID:
            if open_to_all:
                return default
            raise OptionError(
                f"{path} belongs to uid {TOR_UID}, which is tor's inside the container, "
                "and others may not read it.",
                hint=f"Let others read it (chmod -R o+rX {path}) or share a copy owned by you.")
        if st.st_uid == 0 and open_to_all:
            return default
        return f"{st.st_uid}:{SERVICE_UID}"
    return default


def _task_failed(code: int, output: str, message: str) -> None:
    if code != 0:
        raise MyOnionError(message, detail=output.strip()[-500:] or None)


def prepare_control_dir(runtime: Runtime, ctl: Path, image: str, name: str) -> None:
    """The directory tor puts its control socket, cookie and hostname in: the container
    user's (see :func:`tor_user`), 0750, which tor insists on for a control socket."""
    ctl.mkdir(exist_ok=True)
    uid, _, gid = tor_user().partition(":")
    if os.geteuid() == 0:
        os.chown(ctl, int(uid), int(gid))
        os.chmod(ctl, 0o750)
        return
    code, output = runtime.run_task(
        image, ["sh", "-c", f"chown {uid}:{gid} /ctl && chmod 0750 /ctl"],
        [Mount(str(ctl), "/ctl")], user="0:0", cap_add=["CHOWN", "FOWNER"])
    _task_failed(code, output, f"The control directory of service '{name}' could not be "
                 "handed to its container's user.")


def in_control_dir(runtime: Runtime, ctl: Path, name: str, remove: tuple[str, ...] = (),
                   create: tuple[str, ...] = ()) -> None:
    """Remove and create (empty) files in a service's control directory: directly as
    root, else through a one-off container running as the directory's owner."""
    if os.geteuid() == 0 or not ctl.exists() or ctl.stat().st_uid == os.geteuid():
        for filename in remove:
            (ctl / filename).unlink(missing_ok=True)
        for filename in create:
            (ctl / filename).touch()
        return
    script = " && ".join([f"rm -f {' '.join(f'/ctl/{f}' for f in remove) or '/ctl/.none'}",
                          *(f": > /ctl/{f}" for f in create)])
    code, output = runtime.run_task(images.tor_image(runtime), ["sh", "-c", script],
                                    [Mount(str(ctl), "/ctl")], user=tor_user())
    _task_failed(code, output, f"The control directory of service '{name}' could not be "
                 "tidied up.")


def clear_control_dir(runtime: Runtime, ctl: Path, name: str, hold: bool = False) -> None:
    """Remove what an earlier run left in the control directory; ``hold``: and leave the
    file that makes the entry script start tor with its network disabled."""
    in_control_dir(runtime, ctl, name, remove=CONTROL_LEFTOVERS,
                   create=("hold",) if hold else ())


def empty_control_dir(runtime: Runtime, ctl: Path) -> None:
    """Empty a control directory that tor's user made things in (so it can be removed)."""
    if ctl.is_dir() and os.geteuid() != 0 and ctl.stat().st_uid != os.geteuid():
        runtime.run_task(images.tor_image(runtime), ["find", "/ctl", "-mindepth", "1", "-delete"],
                         [Mount(str(ctl), "/ctl")], user=tor_user())


def hand_to_service_user(runtime: Runtime, conf: Path, filenames: list[str], image: str,
                         user: str) -> None:
    """Give the (0600) runtime files that hold secrets to the service's ``user``, so it
    alone can read them in the container (and only root on the host); tor needs none of
    them."""
    if not filenames:
        return
    uid, _, gid = user.partition(":")
    if os.geteuid() == 0:
        for filename in filenames:
            os.chown(conf / filename, int(uid), int(gid))
        return
    code, output = runtime.run_task(
        image, ["chown", f"{uid}:{gid}", *(f"/conf/{f}" for f in filenames)],
        [Mount(str(conf), "/conf")], user="0:0", cap_add=["CHOWN"])
    _task_failed(code, output, "The service's secret configuration files could not be handed "
                 "to its container's user.")


def migrate_data_volumes(runtime: Runtime, name: str, image: str, volumes: dict[str, str],
                         user: str) -> None:
    """Hand data volumes made by an older myonion, when tor and the service were one user
    (tor's, 10001), to the service's ``user``, so the service keeps its data (readings, a
    queue, SSH host keys) and tor's user keeps only the onion key. Only changes what is
    still owned by tor's uid. ``volumes``: each volume's name → its template's name for it."""
    if not volumes:
        return
    script = (f'for d in /v/*; do [ "$(stat -c %u "$d")" = {TOR_UID} ] && '
              f'chown -R {user} "$d"; done; true')
    code, output = runtime.run_task(
        image, ["sh", "-c", script],
        [Mount(source, f"/v/{short}", volume=True) for source, short in volumes.items()],
        user="0:0", cap_add=["CHOWN", "DAC_READ_SEARCH", "FOWNER"])
    _task_failed(code, output, f"The data of service '{name}' could not be handed to its "
                 "service's user.")


def read_address(ctl: Path) -> str | None:
    """The onion address tor wrote into the control directory, if it is one."""
    try:
        text = (ctl / "hostname").read_text().strip()
    except OSError:
        return None
    return text if onion.is_valid(text) else None
