"""A record that is corrupt or half-written, and two commands at once on one service.

- ``ls`` still lists every service (the broken one with the reason and the way out), ``status``
  gives a clear error naming the file, never a traceback; ``repair`` makes the record again from
  its last good copy or from the container's labels; keys and volumes are never touched.
- Operations on one service run one after the other (a per-service file lock), whether they
  come from threads of one process (the app) or from several processes.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import pytest

from myonion import cli
from myonion.errors import StateError
from myonion.manager import Manager, container_name
from myonion.runtime.fake import FakeRuntime
from myonion.services.store import BACKUP, ServiceRecord, StateStore
from tests.fakes import FakeTestnet

CORRUPTIONS = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "garbage": lambda text: "\x00\xff garbage \x01",
    "not an object": lambda text: "[1, 2, 3]",
    "wrong types": lambda text: json.dumps({**json.loads(text), "options": "x"}),
    "missing fields": lambda text: json.dumps({"name": "blog"}),
    "another name": lambda text: json.dumps({**json.loads(text), "name": "other"}),
    # JSON's true is a Python int: a number field must refuse it as it refuses "x"
    "true for a number": lambda text: json.dumps({**json.loads(text), "created": True}),
    "true for a time to live": lambda text: json.dumps({**json.loads(text), "expires_at": True}),
    "true for a timing": lambda text: json.dumps({**json.loads(text),
                                                  "timings": {"bootstrapped": True}}),
    "true for a pids limit": lambda text: json.dumps({**json.loads(text),
                                                      "limits": {"pids": True}}),
    "a number for a memory limit": lambda text: json.dumps({**json.loads(text),
                                                            "limits": {"memory": 64}}),
    "limits not an object": lambda text: json.dumps({**json.loads(text), "limits": "64m"}),
    "a number for a deployment": lambda text: json.dumps({**json.loads(text),
                                                          "deployment": 1}),
}


@pytest.fixture
def two(manager: Manager, runtime: FakeRuntime, tmp_path: Path) -> Manager:
    """Two persistent sites: 'blog' (to be corrupted) and 'shop'."""
    (tmp_path / "index.html").write_text("hi")
    for name in ("blog", "shop"):
        manager.share("site", {"dir": str(tmp_path)}, name=name, persistent=True, wait=False,
                      clients=["alice"])
    return manager


def corrupt(manager: Manager, how: str, backup_too: bool = False) -> Path:
    path = manager.store.root / "blog" / "service.json"
    text = path.read_text()
    path.write_bytes(CORRUPTIONS[how](text).encode("utf-8", "surrogateescape")
                     if how != "garbage" else b"\x00\xff garbage \x01")
    if backup_too:
        (path.parent / BACKUP).write_text("{")
    return path


def volumes_and_keys(manager: Manager, runtime: FakeRuntime) -> tuple[set[str], set[str]]:
    kept = {p.name for p in (manager.store.root / "blog" / "clients").iterdir()}
    return set(runtime.volumes), kept


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_a_broken_record_is_reported_and_repaired(two: Manager, runtime: FakeRuntime,
                                                  how: str) -> None:
    before = two.store.get("blog")
    kept_before = volumes_and_keys(two, runtime)
    path = corrupt(two, how)
    # ls lists both; the broken one with its file and the way out
    views = {v.name: v for v in two.list()}
    assert set(views) == {"blog", "shop"}
    assert views["shop"].stage != "failed"
    assert views["blog"].stage == "failed" and str(path) in (views["blog"].reason or "")
    assert "myonion repair blog" in (views["blog"].reason or "")
    assert views["blog"].state == "running"  # Docker's truth is still shown
    # status: a clear error naming the file and the way out
    with pytest.raises(StateError) as raised:
        two.status("blog")
    assert str(path) in raised.value.message and "repair" in (raised.value.hint or "")
    # nothing was changed by reading
    assert volumes_and_keys(two, runtime) == kept_before
    # repair: from the last good copy, exactly as it was
    view = two.repair("blog")
    assert two.store.get("blog") == before
    assert view.name == "blog" and view.state == "running"
    assert list(path.parent.glob("service.json.broken-*")), "the broken file is kept"
    assert volumes_and_keys(two, runtime) == kept_before
    assert container_name("blog") in runtime.containers


def test_repair_from_the_containers_labels(two: Manager, runtime: FakeRuntime) -> None:
    kept_before = volumes_and_keys(two, runtime)
    corrupt(two, "truncated", backup_too=True)
    two.repair("blog")
    record = two.store.get("blog")
    assert record is not None
    assert (record.template, record.mode, record.network) == ("site", "persistent", "local")
    assert record.private and record.image
    assert volumes_and_keys(two, runtime) == kept_before
    # and the service can be stopped and started again
    assert two.stop("blog").state == "stopped"
    assert two.start("blog", wait=False).state == "running"


def test_nothing_to_rebuild_from_is_a_clear_error(two: Manager, runtime: FakeRuntime) -> None:
    corrupt(two, "garbage", backup_too=True)
    runtime.containers.pop(container_name("blog"))
    with pytest.raises(StateError, match="cannot be made again"):
        two.repair("blog")
    # what to keep of it is unknown: a plain remove refuses and says what to do ...
    with pytest.raises(StateError, match="what to keep of it is unknown") as refused:
        two.remove("blog")
    assert "--purge" in str(refused.value.hint) and "repair" in str(refused.value.hint)
    # ... and it can still be removed on purpose
    two.remove("blog", purge=True)
    assert [v.name for v in two.list()] == ["shop"]


def test_cli_ls_status_and_repair(two: Manager, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: two)
    path = corrupt(two, "truncated")
    assert cli.main(["ls"]) == 0
    captured = capsys.readouterr()
    assert "blog" in captured.out and "shop" in captured.out
    assert str(path) in captured.err.replace("\n", "") and "Traceback" not in captured.err
    assert cli.main(["status", "blog"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error:") and "Traceback" not in captured.err
    assert "myonion repair blog" in captured.err.replace("\n", " ")
    assert cli.main(["repair", "blog"]) == 0
    assert cli.main(["status", "blog"]) == 0


def test_a_half_written_temp_file_is_ignored(two: Manager) -> None:
    """A write cut off before its rename leaves a temp file; the record itself is whole."""
    directory = two.store.root / "blog"
    (directory / ".service.json.abc.tmp").write_text('{"name": "bl')
    assert {v.name for v in two.list()} == {"blog", "shop"}
    assert two.status("blog").stage != "failed"


class SlowRuntime(FakeRuntime):
    """Stop and start take a while and record when they ran, to see any overlap."""

    def __init__(self) -> None:
        super().__init__(images={"myonion/base:bookworm"})
        self.spans: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    def _slow(self, what: str) -> None:
        begin = time.monotonic()
        time.sleep(0.05)
        with self._lock:
            self.spans.append((what, begin, time.monotonic()))

    def stop(self, name: str, timeout: int = 10) -> None:
        self._slow("stop")
        super().stop(name, timeout)

    def start(self, name: str) -> None:
        self._slow("start")
        super().start(name)


def test_commands_on_one_service_run_one_after_the_other(tmp_path: Path) -> None:
    runtime = SlowRuntime()
    manager = Manager(runtime=runtime, store=StateStore(), testnet=FakeTestnet())
    (tmp_path / "index.html").write_text("hi")
    manager.share("site", {"dir": str(tmp_path)}, name="blog", wait=False)
    errors: list[BaseException] = []

    def run(action: str) -> None:
        # each thread its own manager and store, as two processes would have
        other = Manager(runtime=runtime, store=StateStore(), testnet=FakeTestnet())
        try:
            if action == "stop":
                other.stop("blog")
            else:
                other.start("blog", wait=False)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    runtime.spans.clear()
    threads = [threading.Thread(target=run, args=(a,))
               for a in ("stop", "stop", "start", "stop", "start", "start")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    spans = sorted(runtime.spans, key=lambda s: s[1])
    assert len(spans) >= 3
    for (_, _, end), (_, begin, _) in itertools.pairwise(spans):
        assert begin >= end, f"two operations overlapped: {spans}"
    record = manager.store.get("blog")
    assert record is not None and record.name == "blog"
    json.loads((manager.store.root / "blog" / "service.json").read_text())


def test_a_second_command_waits_then_gives_a_clear_error(manager: Manager,
                                                          tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hi")
    manager.share("site", {"dir": str(tmp_path)}, name="blog", wait=False)
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with StateStore().service_locked("blog"):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        assert manager.store.busy("blog")
        with pytest.raises(StateError, match="still working on service 'blog'"), \
                manager.store.service_locked("blog", timeout=0.2):
            pass
    finally:
        release.set()
        holder.join()
    assert not manager.store.busy("blog")
    assert manager.stop("blog").state == "stopped"


def test_concurrent_writes_never_corrupt_a_record() -> None:
    """Writers that do not take the lock (put) use temp files of their own: every read sees a
    whole record, and no writer fails."""
    store = StateStore()
    store.put(ServiceRecord("n", "site", {"i": 0}, "local", "ephemeral"))
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(k: int) -> None:
        try:
            for i in range(40):
                store.put(ServiceRecord("n", "site", {"i": i, "k": k}, "local", "ephemeral"))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def read() -> None:
        while not stop.is_set():
            try:
                assert store.get("n") is not None
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)
                return

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(k,)) for k in range(6)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert errors == []
    assert not list((store.root / "n").glob("*.tmp"))
    # the last good copy is a whole record too (of one of the writers: they did not lock)
    backup = store.backup("n")
    assert backup is not None and backup.name == "n" and backup.options["i"] == 39
