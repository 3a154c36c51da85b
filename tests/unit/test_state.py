from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from myonion.errors import OptionError, StateError
from myonion.services.request import check_name
from myonion.services.store import ServiceRecord, StateStore


def test_records_are_private(myonion_home: Path) -> None:
    store = StateStore()
    store.put(ServiceRecord("blog", "site", {}, "local", "ephemeral"))
    path = store.root / "blog" / "service.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.root / "blog").stat().st_mode) == 0o700
    assert store.get("blog") == ServiceRecord("blog", "site", {}, "local", "ephemeral",
                                              created=store.get("blog").created)  # type: ignore


def test_concurrent_updates_are_not_lost() -> None:
    store = StateStore()
    store.put(ServiceRecord("n", "site", {"count": 0}, "local", "ephemeral"))

    def bump() -> None:
        for _ in range(25):
            with store.locked():
                record = store.get("n")
                assert record is not None
                record.options["count"] += 1
                store.put(record)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("n").options["count"] == 100  # type: ignore[union-attr]


def test_corrupt_record_is_reported_not_overwritten() -> None:
    store = StateStore()
    store.service_dir("x")
    (store.root / "x" / "service.json").write_text("{not json")
    with pytest.raises(StateError, match="cannot be read"):
        store.get("x")
    assert (store.root / "x" / "service.json").read_text() == "{not json"


@pytest.mark.parametrize("bad", ["", "Blog", "a b", "../x", "-x", "x" * 41, "a/b"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(OptionError):
        check_name(bad)


def test_store_dir_mode_fixed(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir(mode=0o755)
    StateStore(root)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700


def test_a_record_changes_while_another_is_made_or_removed() -> None:
    """20 shares at once each change their own record before the engine starts them: that
    does not wait for the store's lock (held while a record is made or removed)."""
    store = StateStore()
    store.put(ServiceRecord("a", "site", {}, "local", "ephemeral"))
    done = threading.Event()
    with store.locked():
        worker = threading.Thread(target=lambda: (store.update("a", stage="starting"),
                                                  done.set()))
        worker.start()
        assert done.wait(5), "the change waited for the store's lock"
    worker.join()
    assert store.get("a").stage == "starting"  # type: ignore[union-attr]


def _changing(store: StateStore, name: str, stop: threading.Event,
              errors: list[BaseException]) -> None:
    while not stop.is_set():
        try:
            store.update(name, reason="changed")
        except BaseException as e:
            errors.append(e)


def test_changes_while_a_record_is_removed_do_not_bring_it_back() -> None:
    store = StateStore()
    for _ in range(20):
        store.put(ServiceRecord("gone", "site", {}, "local", "ephemeral"))
        stop = threading.Event()
        errors: list[BaseException] = []
        workers = [threading.Thread(target=_changing, args=(store, "gone", stop, errors))
                   for _ in range(3)]
        for w in workers:
            w.start()
        try:
            store.remove("gone")
        finally:
            stop.set()
            for w in workers:
                w.join()
        assert errors == []
        assert store.get("gone") is None
        assert not (store.root / "gone").exists()
