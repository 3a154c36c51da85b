"""Which folders of the host may be shared, checked where a folder enters (a ``dir`` option).

A shared folder is mounted read-only into the service's container and served to anyone who
knows the address, so the choice matters:

- ``/`` and the system's own folders (``/etc``, ``/usr``, ``/var/lib``, ``/proc`` …) are refused,
  and so is anything inside the folders that hold configuration, devices, kernel state or
  other programs' data;
- a hidden folder (a ``.``-component anywhere in its path, such as ``~/.ssh``) is refused, as
  the web server refuses hidden files inside a shared folder;
- myonion's own data and configuration folders (onion keys, client keys), and any folder that
  contains them, are refused;
- a whole home folder is not refused but needs the user's explicit yes
  (:class:`WholeHomeFolder`): the CLI asks (or takes ``--yes``), the app shows a dialog.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from myonion import paths
from myonion.errors import OptionError

#: folders that are never shared, nor anything inside them
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
                "/proc", "/run", "/sbin", "/sys", "/usr", "/var/lib", "/var/log", "/var/cache",
                "/var/spool", "/var/backups", "/var/mail", "/snap")
#: folders that are never shared themselves (what is inside them may be, e.g. /var/www/site)
SYSTEM_FOLDERS = ("/", "/home", "/media", "/mnt", "/opt", "/srv", "/tmp", "/var", "/var/tmp",
                  "/lost+found")
HINT = "Share a folder made for it, e.g. ~/Public/site, holding only what visitors may see."


class WholeHomeFolder(OptionError):
    """The folder is a whole home folder: shared only when the user says yes explicitly."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is a whole home folder: everything in it that is not hidden "
                         "would be served to anyone who knows the address.",
                         hint="Share a folder made for it instead, or confirm that you mean "
                         "the whole home folder (`--yes`, or Yes in the app).")
        self.path = path


def _inside(path: Path, tree: str) -> bool:
    return path == Path(tree) or path.is_relative_to(tree)


def home_folders() -> set[Path]:
    """The home folders of people on this machine (root, the current user, uids from 1000)."""
    homes = {Path.home(), Path("/root")}
    homes.update(Path(p.pw_dir) for p in pwd.getpwall()
                 if p.pw_uid >= 1000 and p.pw_dir not in ("", "/"))
    return {h.resolve() for h in homes}


def check_shared_folder(option: str, path: Path) -> None:
    """Raise OptionError if ``path`` (resolved, an existing folder) may not be shared."""
    where = f"Option '{option}': {path}"
    if str(path) in SYSTEM_FOLDERS or any(_inside(path, t) for t in SYSTEM_TREES):
        raise OptionError(f"{where} is a system folder; sharing it would show this machine's "
                          "files to anyone who knows the address.", hint=HINT)
    if any(part.startswith(".") for part in path.parts[1:]):
        raise OptionError(f"{where} is a hidden folder (or inside one); hidden files and "
                          "folders are never served.", hint=HINT)
    for own in (paths.data_dir(), paths.config_dir()):
        own = own.resolve()
        if _inside(own, str(path)) or _inside(path, str(own)):
            raise OptionError(f"{where} holds myonion's own files (onion and client keys).",
                              hint=HINT)


def needs_confirmation(path: Path) -> bool:
    """True if ``path`` is a whole home folder (shared only with the user's explicit yes)."""
    return path in home_folders() or (path.parent == Path("/home") and path.is_dir())


def confirm_folder(option: str, path: str, confirmed: bool) -> None:
    """Raise :class:`WholeHomeFolder` for a whole home folder unless ``confirmed``."""
    if not confirmed and needs_confirmation(Path(path)):
        raise WholeHomeFolder(path)


def open_to_everyone(path: str) -> bool:
    """True if everyone may read ``path`` (a folder: list it and enter it)."""
    st = os.stat(path)
    wanted = 0o005 if stat.S_ISDIR(st.st_mode) else 0o004
    return st.st_mode & wanted == wanted
