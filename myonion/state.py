"""Per-service records: the desired configuration of each service, one JSON file each (0600).

Docker is the runtime truth (is it running? which container?); these records are what the user
asked for (template, options, network, mode), so a service can be re-created or started later.
A file lock serialises writers (two CLI commands, or the GUI and the CLI).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from myonion import paths
from myonion.errors import OptionError, StateError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid service name, else raise OptionError."""
    if not NAME_RE.match(name):
        raise OptionError(
            f"'{name}' is not a valid service name.",
            hint="Use 1-40 lower-case letters, digits and '-', starting with a letter or digit.",
        )
    return name


@dataclass
class ServiceRecord:
    """What the user asked for when the service was created."""

    name: str
    template: str
    options: dict[str, Any]
    network: str  # "tor" or "local"
    mode: str  # "ephemeral" or "persistent"
    image: str = ""
    created: float = field(default_factory=time.time)
    #: last address seen (persistent services keep it; ephemeral ones change on every start)
    address: str | None = None
    #: last readiness result, for `status` when the service was started elsewhere
    stage: str | None = None
    reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: Docker's StartedAt of the container run that ``stage`` describes
    started_at: str | None = None
    #: v3 client authorization: only clients with a key (see myonion.access) may connect
    private: bool = False
    #: Unix time the service ends at (its time to live), or None
    expires_at: float | None = None
    #: the deployment (``myonion up -f FILE``) this service belongs to, or None
    deployment: str | None = None
    #: resource limits given by the user ({"memory": "128m", "pids": 64}); the rest default
    limits: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class StateStore:
    """Reads and writes service records under ``<data>/services/<name>/service.json``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.services_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._lock_path = self.root / ".lock"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's exclusive lock (re-entrant use is not supported)."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def service_dir(self, name: str) -> Path:
        path = self.root / check_name(name)
        path.mkdir(exist_ok=True)
        os.chmod(path, 0o700)
        return path

    def _file(self, name: str) -> Path:
        return self.root / check_name(name) / "service.json"

    def exists(self, name: str) -> bool:
        return self._file(name).is_file()

    def get(self, name: str) -> ServiceRecord | None:
        path = self._file(name)
        if not path.is_file():
            return None
        try:
            return ServiceRecord.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise StateError(
                f"The record of service '{name}' at {path} cannot be read: {e}.",
                hint="Fix or remove that file; nothing else was changed.",
            ) from e

    def put(self, record: ServiceRecord) -> None:
        """Write a record atomically (write to a temp file, then rename)."""
        path = self._file(record.name)
        self.service_dir(record.name)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(record), f, indent=2, sort_keys=True)
        os.replace(tmp, path)

    def update(self, name: str, **changes: Any) -> ServiceRecord | None:
        """Change some fields of a record under the lock; returns the new record."""
        with self.locked():
            record = self.get(name)
            if record is None:
                return None
            for key, value in changes.items():
                setattr(record, key, value)
            self.put(record)
            return record

    def all(self) -> list[ServiceRecord]:
        records = []
        for path in sorted(self.root.glob("*/service.json")):
            record = self.get(path.parent.name)
            if record is not None:
                records.append(record)
        return records

    def remove(self, name: str) -> None:
        """Forget a service: its record and its directory (control socket, rendered config)."""
        import shutil

        directory = self.root / check_name(name)
        if directory.exists():
            shutil.rmtree(directory)
