"""Who may reach a service, and for how long: its v3 client keys on the host, and TTLs.

A private service's authorized clients live in its service directory:

- ``clients/<name>.json`` (0600, directory 0700): the x25519 pair, so the client's line
  (``.auth_private``) can be shown again, e.g. as a QR code in the app;
- ``conf/authorized_clients/<name>.auth``: the public half only, which the container's entry
  script copies into tor's ``HiddenServiceDir/authorized_clients``.

A private service whose last client was removed stays private: tor treats an empty
``authorized_clients`` as "no client authorization", so a sealing key whose private half was
never kept takes the last client's place, and nobody can reach it until a client is added.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from myonion import keys
from myonion.errors import OptionError

SEAL = "_sealed"
AUTH_DIR = "authorized_clients"
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: a TTL shorter than this could end before the service is even reachable
MIN_TTL = 10.0
MAX_TTL = 366 * 86400.0


def parse_duration(text: str) -> float:
    """"90s", "10m", "2h", "1d", "1h30m" (or plain seconds) -> seconds; OptionError if bad."""
    value = str(text).strip().lower()
    seconds: float | None = None
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        seconds = float(value)
    elif value and _DURATION_RE.sub("", value).strip() == "":
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION_RE.findall(value))
    if seconds is None:
        raise OptionError(f"'{text}' is not a duration.",
                          hint="Write e.g. 90s, 10m, 2h, 1d or 1h30m.")
    return check_ttl(seconds)


def check_ttl(seconds: float) -> float:
    """``seconds`` if it is a time to live myonion gives (10 s to 366 days); OptionError if not."""
    if not MIN_TTL <= seconds <= MAX_TTL:
        raise OptionError(f"A time to live of {format_duration(seconds)} is out of range.",
                          hint="Give between 10s and 366d.")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as a short remaining time: 45s, 12m, 1h05m, 3d4h."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "forever"  # "99…9" seconds parse to infinity
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


@dataclass
class ClientInfo:
    """An authorized client as listings show it: never the private key."""

    name: str
    public: str  # "descriptor:x25519:BASE32"
    added: float
    has_private: bool

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "public": self.public, "added": self.added,
                "has_private": self.has_private}


class ClientStore:
    """The client keys of one service, under its service directory."""

    def __init__(self, service_dir: Path) -> None:
        self.dir = service_dir / "clients"
        self.auth_dir = service_dir / "conf" / AUTH_DIR

    def _ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.auth_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.auth_dir, 0o755)

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def exists(self, name: str) -> bool:
        return (self.dir / f"{name}.json").is_file()

    def get(self, name: str) -> keys.ClientKey:
        data = json.loads((self.dir / f"{name}.json").read_text())
        public = keys.client_key_from_public(name, data["public"]).public
        private = bytes.fromhex(data["private"]) if data.get("private") else None
        return keys.ClientKey(name=name, private=private, public=public)

    def info(self, name: str) -> ClientInfo:
        data = json.loads((self.dir / f"{name}.json").read_text())
        return ClientInfo(name=name, public=data["public"], added=data.get("added", 0.0),
                          has_private=bool(data.get("private")))

    def add(self, key: keys.ClientKey) -> None:
        """Keep ``key`` (its private half too, 0600) and authorize its public half."""
        self._ensure()
        data = {"name": key.name, "public": key.auth_line(),
                "private": key.private.hex() if key.private else None, "added": time.time()}
        path = self.dir / f"{key.name}.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
        self.write_auth()

    def remove(self, name: str) -> None:
        (self.dir / f"{name}.json").unlink(missing_ok=True)
        self.write_auth()

    def write_auth(self) -> None:
        """Make ``conf/authorized_clients`` match the kept clients (sealed when there are none)."""
        self._ensure()
        wanted = {f"{n}.auth": self.get(n).auth_line() for n in self.names()}
        if not wanted:
            sealed = self.auth_dir / f"{SEAL}.auth"
            if sealed.is_file():
                wanted = {sealed.name: sealed.read_text().strip()}  # keep the seal as it is
            else:
                # a fresh pair whose private half is dropped right here
                wanted = {sealed.name: keys.generate_client_key("sealed").auth_line()}
        for stale in self.auth_dir.glob("*.auth"):
            if stale.name not in wanted:
                stale.unlink()
        for filename, line in wanted.items():
            path = self.auth_dir / filename
            path.write_text(line + "\n")
            os.chmod(path, 0o644)

    def clear(self) -> None:
        """Forget every client (the service is being removed)."""
        for path in (*self.dir.glob("*.json"), *self.auth_dir.glob("*.auth")):
            path.unlink(missing_ok=True)
