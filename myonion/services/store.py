"""Per-service records: the desired configuration of each service, one JSON file each (0600).

Docker is the runtime truth (is it running? which container?); these records are what the user
asked for (template, options, network, mode), so a service can be re-created or started later.
A file lock serialises what makes and removes records (two CLI commands, or the GUI and the
CLI), a lock per record each change of one, and a lock per service whole operations on one
service (two ``stop``s, a ``stop`` during a ``start``).

Each record is written atomically (a temporary file, flushed, then renamed) together with a last
good copy (``service.json.bak``); a record that cannot be read is reported with its path and a
way out (``myonion repair``), never overwritten.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from myonion import arch as arches
from myonion import paths
from myonion.errors import StateError
from myonion.runtime.base import LABEL_MODE, LABEL_NETWORK, LABEL_TEMPLATE
from myonion.services.request import NAME_RE, Mode, ServiceRequest, check_name
from myonion.templates import TemplateSpec

log = logging.getLogger(__name__)
#: the last good copy of a record, beside it
BACKUP = "service.json.bak"
#: the lock of one record's changes (:meth:`StateStore.update`), beside it
RECORD_LOCK = ".record.lock"
#: how long an operation waits for another one on the same service before it gives up
LOCK_WAIT = 300.0
_NONE = type(None)
#: the JSON types of a record's fields (a record of other types is corrupt)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "template": (str,), "options": (dict,), "network": (str,), "mode": (str,),
    "image": (str,), "created": (int, float), "address": (str, _NONE), "stage": (str, _NONE),
    "reason": (str, _NONE), "timings": (dict,), "started_at": (str, _NONE), "private": (bool,),
    "expires_at": (int, float, _NONE), "balance_master": (str, _NONE),
    "deployment": (str, _NONE), "limits": (dict,), "arch": (str, _NONE),
}
#: the JSON types of the values inside a record's objects (``timings``, ``limits``)
_VALUE_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "timings": {"*": (int, float)}, "limits": {"memory": (str,), "pids": (int,)},
}


def _wrong_type(value: Any, types: tuple[type, ...]) -> bool:
    """``value`` is none of ``types`` (JSON's true/false are no numbers, though Python's
    bool is an int)."""
    return not isinstance(value, types) or (bool not in types and isinstance(value, bool))


@dataclass
class ServiceRecord:
    """What the user asked for when the service was created."""

    name: str
    template: str
    options: dict[str, Any]
    network: str  # "tor" or "local"
    mode: Mode
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
    #: a backend of an Onionbalance frontend: the master's onion address
    #: (see myonion.deploy.balance)
    balance_master: str | None = None
    #: the deployment (``myonion up -f FILE``) this service belongs to, or None
    deployment: str | None = None
    #: resource limits given by the user ({"memory": "128m", "pids": 64}); the rest default
    limits: dict[str, Any] = field(default_factory=dict)
    #: the architecture its image is built for (amd64, arm64, armhf); None: this machine's
    #: (a record made before myonion built for other architectures)
    arch: str | None = None

    def built_for(self) -> str:
        """The architecture of its image (a record made before myonion built for other
        architectures holds none: it is this machine's)."""
        return self.arch or arches.host()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceRecord:
        """A record from its JSON form; ValueError/TypeError if it is not one."""
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        for key, types in _FIELD_TYPES.items():
            if key in data and _wrong_type(data[key], types):
                raise ValueError(f"its field '{key}' has the wrong type")
        for key, inner in _VALUE_TYPES.items():
            for name, value in data.get(key, {}).items():
                allowed = inner.get(name, inner.get("*"))
                if allowed is None or _wrong_type(value, allowed):
                    raise ValueError(f"its field '{key}.{name}' has the wrong type")
        known = {f for f in cls.__dataclass_fields__}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record.mode = Mode(record.mode)  # ValueError: neither ephemeral nor persistent
        return record

    @classmethod
    def from_request(cls, request: ServiceRequest, name: str, stage: str | None = None,
                     **kept: Any) -> ServiceRecord:
        """The record of service ``name`` made from ``request`` (the one place records are
        made from what a user asked for); ``kept``: what a re-made service carries over
        from its earlier record (created, address, timings, started_at, balance_master)."""
        made: dict[str, Any] = dict(
            name=name, template=request.template.id, options=dict(request.options),
            network=request.network, mode=request.mode, stage=stage,
            private=bool(request.clients),
            expires_at=time.time() + request.ttl if request.ttl else None,
            deployment=request.deployment, limits=dict(request.limits),
            balance_master=request.balance_master, arch=request.arch)
        return cls(**{**made, **kept})

    @classmethod
    def from_labels(cls, name: str, labels: dict[str, str], **found: Any) -> ServiceRecord:
        """The record of a service known only by its container's labels (its template,
        network and mode; its options unknown); ``found``: what else is known of it."""
        mode = Mode.PERSISTENT if labels.get(LABEL_MODE) == Mode.PERSISTENT else Mode.EPHEMERAL
        return cls(name=name, template=labels.get(LABEL_TEMPLATE, "?"), options={},
                   network=labels.get(LABEL_NETWORK, "?"), mode=mode, **found)

    def request(self, template: TemplateSpec, clients: tuple[str, ...]) -> ServiceRequest:
        """The request this record was made from (its ``template`` and its clients' names
        given), to compare with another: what is kept is trusted, not checked again."""
        return ServiceRequest(template=template, options=self.options, network=self.network,
                              mode=self.mode, name=self.name, clients=clients,
                              limits=self.limits, deployment=self.deployment,
                              balance_master=self.balance_master)


class StateStore:
    """Reads and writes service records under ``<data>/services/<name>/service.json``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.services_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._lock_path = self.root / ".lock"
        #: per thread: the services whose lock it holds, and how often (re-entrant)
        self._held = threading.local()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's exclusive lock, for making or removing a record (re-entrant use
        is not supported)."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextmanager
    def _record_locked(self, name: str) -> Iterator[bool]:
        """Hold the lock of one record while it is read and written again; yields False
        (and locks nothing) when the service's directory is gone."""
        try:
            fd = os.open(self.root / check_name(name) / RECORD_LOCK,
                         os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            yield False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _held_counts(self) -> dict[str, int]:
        counts: dict[str, int] | None = getattr(self._held, "counts", None)
        if counts is None:
            counts = self._held.counts = {}
        return counts

    @contextmanager
    def service_locked(self, name: str, timeout: float = LOCK_WAIT,
                       on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the lock of one service for a whole operation (stop, start, rm, …), so two
        myonion commands (processes, or threads of the app) on it run one after the other.

        Re-entrant within a thread. Waits up to ``timeout`` seconds (calling ``on_wait`` once
        when it has to wait), then raises StateError.
        """
        counts = self._held_counts()
        if counts.get(name):
            counts[name] += 1
            try:
                yield
            finally:
                counts[name] -= 1
            return
        fd = os.open(self.root / f".{check_name(name)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            waited = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StateError(
                            f"Another myonion command is still working on service '{name}'.",
                            hint="Try again when it has finished.") from None
                    if not waited and on_wait is not None:
                        on_wait()
                    waited = True
                    time.sleep(0.05)
            counts[name] = 1
            try:
                yield
            finally:
                counts.pop(name, None)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def busy(self, name: str) -> bool:
        """True if another process or thread holds the service's lock right now."""
        try:
            with self.service_locked(name, timeout=0):
                return False
        except StateError:
            return True

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
            record = ServiceRecord.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise StateError(
                f"The record of service '{name}' at {path} cannot be read: {e}.",
                hint=f"`myonion repair {name}` makes it again (from its last good copy or its "
                "container's labels; its keys and data are kept), `myonion rm "
                f"{name}` removes the service. Nothing was changed.",
            ) from e
        if record.name != name:
            raise StateError(f"The record at {path} names service '{record.name}', not "
                             f"'{name}'.", hint=f"`myonion repair {name}` makes it again.")
        return record

    def backup(self, name: str) -> ServiceRecord | None:
        """The last good copy of a record, if there is one that can be read."""
        path = self.root / check_name(name) / BACKUP
        try:
            record = ServiceRecord.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return record if record.name == name else None

    def set_aside(self, name: str) -> Path | None:
        """Rename a record that cannot be read to ``service.json.broken-<time>`` (kept, for
        whoever wants to look at it); returns the new path, or None if there was no record."""
        path = self._file(name)
        if not path.exists():
            return None
        kept = path.with_name(f"service.json.broken-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(path, kept)
        return kept

    def _write(self, path: Path, text: str, durable: bool = True) -> None:
        """Write ``text`` to ``path`` atomically, 0600, under a name no other writer uses;
        ``durable``: on the disk before it replaces the old file."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise

    def put(self, record: ServiceRecord, durable: bool = True) -> None:
        """Write a record atomically (write to a temp file, then rename); ``durable`` False:
        without waiting for the disk (then :meth:`sync` it)."""
        path = self._file(record.name)
        self.service_dir(record.name)
        text = json.dumps(asdict(record), indent=2, sort_keys=True)
        self._write(path, text, durable)
        # the copy is wanted only if the record is spoilt later, not by a crash now (the
        # record is on the disk first), so it is not waited for: 20 shares at once queued
        # behind each other's waits for the disk while the engine wrote their containers
        self._write(path.with_name(BACKUP), text, durable=False)

    def sync(self, name: str) -> None:
        """Wait until a record written with ``durable=False`` is on the disk."""
        with suppress(FileNotFoundError):
            fd = os.open(self._file(name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def update(self, name: str, **changes: Any) -> ServiceRecord | None:
        """Change some fields of a record under its lock (changes of other records go on
        meanwhile); returns the new record, None if there is none."""
        with self._record_locked(name) as present:
            record = self.get(name) if present else None
            if record is None:
                return None
            for key, value in changes.items():
                setattr(record, key, value)
            self.put(record)
            return record

    def all(self) -> list[ServiceRecord]:
        """Every record that can be read (see :meth:`scan` for the others)."""
        return self.scan()[0]

    def scan(self) -> tuple[list[ServiceRecord], dict[str, StateError]]:
        """Every record that can be read, and the error of each one that cannot (by name)."""
        records: list[ServiceRecord] = []
        broken: dict[str, StateError] = {}
        for path in sorted(self.root.glob("*/service.json")):
            name = path.parent.name
            if not NAME_RE.match(name):
                continue
            try:
                record = self.get(name)
            except StateError as e:
                log.warning("%s", e.message)
                broken[name] = e
                continue
            if record is not None:
                records.append(record)
        return records, broken

    def remove(self, name: str) -> None:
        """Forget a service: its record and its directory (control socket, rendered config)."""
        import shutil

        directory = self.root / check_name(name)
        if directory.exists():
            with self._record_locked(name):  # not while it is being changed
                shutil.rmtree(directory)
