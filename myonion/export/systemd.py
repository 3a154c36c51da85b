"""A deployment as a systemd unit (``myonion service install``): brought up at boot, after
Docker, and taken down (keys and data kept) when stopped."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from myonion.deploy.model import Deployment
from myonion.errors import MyOnionError

UNIT_DIR = Path("/etc/systemd/system")
#: what the unit passes on from the environment ``service install`` runs in
UNIT_ENVIRONMENT = ("MYONION_HOME", "MYONION_NETWORK", "MYONION_BASE_IMAGE", "MYONION_TOR_SOCKS",
                    "MYONION_ARCH")


def unit_name(deployment: Deployment) -> str:
    return f"myonion-{deployment.name}.service"


def _systemd_quote(word: str) -> str:
    """One argument of a systemd command line (quoted when needed; % escaped)."""
    word = word.replace("%", "%%")
    if word and not re.search(r"[\s\"'\\;$]", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def myonion_executable() -> str:
    """The absolute path of the running ``myonion`` command (beside this Python, else PATH)."""
    beside = Path(sys.executable).parent / "myonion"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("myonion")
    if found:
        return str(Path(found).resolve())
    raise MyOnionError("The myonion command was not found, so no unit can start it.",
                       hint="Install myonion (pip install .) so `myonion` is on the PATH.")


def systemd_unit(deployment: Deployment, executable: str,
                 environment: dict[str, str] | None = None) -> str:
    """A oneshot unit that brings the deployment up at boot (after Docker) and takes it down
    (keys and data kept) when stopped."""
    file = _systemd_quote(str(deployment.path))
    exe = _systemd_quote(executable)
    env = environment if environment is not None else {
        k: v for k, v in os.environ.items()
        if v and (k in UNIT_ENVIRONMENT or k.startswith("MYONION_BASE_IMAGE_"))}
    lines = [
        "[Unit]",
        f"Description=myonion deployment {deployment.name} (onion services)",
        "Requires=docker.service",
        "After=docker.service network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())),
        f"ExecStart={exe} up -f {file}" + (" --allow-outside" if deployment.allow_outside
                                           else ""),
        f"ExecStop={exe} down -f {file}",
        # the first start may build images
        "TimeoutStartSec=30min",
        "TimeoutStopSec=5min",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def install_unit(deployment: Deployment, text: str, unit_dir: Path = UNIT_DIR) -> Path:
    """Write the unit file (mode 0644) into ``unit_dir`` and return its path."""
    path = unit_dir / unit_name(deployment)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, 0o644)
    except OSError as e:
        raise MyOnionError(f"The unit {path} could not be written ({e.strerror}).",
                           hint="Run it as root (sudo), or print it with --dry-run.") from e
    return path

