"""Client authorization and time to live: the manager's own logic on the fake runtime."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from myonion import access, keys
from myonion.errors import MyOnionError, NameInUse, OptionError, ServiceNotFound
from myonion.manager import Manager, container_name
from myonion.runtime.fake import FakeRuntime
from myonion.services import clients as client_keys
from tests.fakes import FakeTestnet


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("hello")
    return tmp_path


def share(manager: Manager, site: Path, **kw: object) -> str:
    view = manager.share("site", {"dir": str(site)}, wait=False, **kw)  # type: ignore[arg-type]
    return view.name


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45", 45),
    ("1.5h", 5400), ("2H", 7200)])
def test_durations(text: str, seconds: float) -> None:
    assert access.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "1h-5m", "-10m", "5s", "400d", "h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(OptionError):
        access.parse_duration(text)


def test_remaining_time_is_short_and_readable() -> None:
    assert [access.format_duration(s) for s in (0, 45, 125, 900, 3900, 90061)] == [
        "0s", "45s", "2m05s", "15m", "1h05m", "1d1h"]


def test_private_from_the_first_second(manager: Manager, site: Path) -> None:
    name = share(manager, site, clients=["alice", "bob"])
    view = manager.status(name)
    assert view.private and view.clients == 2
    conf = manager.store.root / name / "conf" / "authorized_clients"
    lines = {p.name: p.read_text().strip() for p in conf.glob("*.auth")}
    assert set(lines) == {"alice.auth", "bob.auth"}
    assert all(line.startswith("descriptor:x25519:") and len(line) == 18 + 52
               for line in lines.values())
    # the private halves stay on the host, 0600 in a 0700 directory, never in a view
    kept = manager.store.root / name / "clients"
    assert mode(kept) == 0o700 and mode(kept / "alice.json") == 0o600
    alice = manager.client_key(name, "alice")
    assert alice.private and lines["alice.auth"] == alice.auth_line()
    shown = json.dumps(view.to_dict()) + json.dumps([c.to_dict() for c in manager.clients(name)])
    assert alice.private.hex() not in shown and keys.client_keys._b32(alice.private) not in shown
    assert [c.name for c in manager.clients(name)] == ["alice", "bob"]


def test_clients_add_and_rm(manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    name = share(manager, site)
    assert not manager.status(name).private
    key = manager.client_add(name, "carol")
    assert manager.status(name).private  # the first client makes it private
    with pytest.raises(NameInUse):
        manager.client_add(name, "carol")
    with pytest.raises(OptionError):
        manager.client_add(name, "Carol Smith")
    own = keys.generate_client_key("dave")
    manager.client_add(name, "dave", public_key=own.auth_line())
    assert manager.client_key(name, "dave").private is None  # we never had it
    with pytest.raises(MyOnionError, match="never here"):
        manager.client_line(name, "dave")
    conf = manager.store.root / name / "conf" / "authorized_clients"
    assert sorted(p.name for p in conf.glob("*.auth")) == ["carol.auth", "dave.auth"]
    manager.client_remove(name, "carol")
    manager.client_remove(name, "dave")
    # with no clients left it stays closed: a seal whose private half nobody has
    sealed = list(conf.glob("*.auth"))
    assert [p.name for p in sealed] == [f"{access.SEAL}.auth"]
    assert sealed[0].read_text().strip() != key.auth_line()
    manager.client_add(name, "erin")
    assert [p.name for p in conf.glob("*.auth")] == ["erin.auth"]  # the seal is gone
    manager.client_remove(name, "erin")
    assert [p.name for p in conf.glob("*.auth")] == [f"{access.SEAL}.auth"]
    assert manager.status(name).private and manager.status(name).clients == 0
    with pytest.raises(MyOnionError, match="no client named"):
        manager.client_remove(name, "carol")
    with pytest.raises(ServiceNotFound):
        manager.client_add("nosuch", "x")


def test_bad_public_key_changes_nothing(manager: Manager, site: Path) -> None:
    name = share(manager, site)
    with pytest.raises(keys.KeyFileError):
        manager.client_add(name, "mallory", public_key="descriptor:x25519:NOTAKEY")
    assert manager.clients(name) == [] and not manager.status(name).private


def test_duplicate_clients_are_refused_before_anything_is_built(
        manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    with pytest.raises(OptionError):
        share(manager, site, clients=["alice", "alice"])
    assert runtime.containers == {} and manager.list() == []


def test_rm_takes_the_check_key_from_the_test_network(manager: Manager, testnet: FakeTestnet,
                                                      site: Path) -> None:
    name = share(manager, site, clients=["alice"])
    testnet.authorized[f"otherhome-{name}"] = "another setup's line"
    testnet.authorized[client_keys.testnet_key(name)] = "line"
    manager.remove(name, purge=True)
    assert client_keys.testnet_key(name) not in testnet.authorized
    assert f"otherhome-{name}" in testnet.authorized  # another home's key is not touched


def test_ttl_is_state_and_ends_the_service(manager: Manager, runtime: FakeRuntime,
                                           site: Path) -> None:
    eph = share(manager, site, name="short", ttl=60)
    per = share(manager, site, name="kept", ttl=60, persistent=True)
    views = {v.name: v for v in manager.list()}
    assert 55 < (views["short"].remaining or 0) <= 60
    spec, _ = runtime.containers[container_name(per)]
    assert spec.restart == "on-failure"  # it ends with status 0 and must stay ended
    expires = manager.store.root / per / "conf" / "expires"
    assert abs(int(expires.read_text()) - (time.time() + 60)) < 5
    # a new Manager (another process, after a restart of myonion) sees the deadline pass
    for name in (eph, per):
        manager.store.update(name, expires_at=time.time() - 1)
    later = Manager(runtime=runtime, testnet=manager.testnet)
    names = {v.name: v for v in later.list()}
    assert "short" not in names and container_name(eph) not in runtime.containers
    assert not runtime.list_volumes({"org.myonion.service": eph})
    assert names["kept"].state == "stopped" and names["kept"].reason == \
        "its time to live ran out"
    assert names["kept"].remaining is None and not expires.exists()
    assert runtime.list_volumes({"org.myonion.service": per})  # its key is kept


def test_ttl_out_of_range_is_refused(manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    with pytest.raises(OptionError):
        share(manager, site, ttl=1)
    assert runtime.containers == {}
