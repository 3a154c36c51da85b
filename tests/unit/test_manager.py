"""The manager's own logic on the fake runtime: validation, naming, container specs, cleanup."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from myonion import keys
from myonion.errors import (
    BuildFailed,
    DockerUnavailable,
    MyOnionError,
    NameInUse,
    OptionError,
    ServiceNotFound,
)
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_SERVICE
from myonion.runtime.fake import FakeRuntime
from myonion.services.store import StateStore
from tests.ports import free_port


def share(manager: Manager, site: Path, **kw: object) -> str:
    view = manager.share("site", {"dir": str(site)}, wait=False, **kw)  # type: ignore[arg-type]
    return view.name


def test_share_creates_a_hardened_container(manager: Manager, runtime: FakeRuntime,
                                            site: Path) -> None:
    name = share(manager, site, name="blog")
    spec, info = runtime.containers[container_name(name)]
    assert info.status == "running"
    assert spec.read_only
    # the container starts as root with four capabilities only, to start tor and the service
    # as two different unprivileged users (the service can never read the onion key)
    assert spec.user == "0:0" and sorted(spec.cap_add) == ["KILL", "SETGID", "SETPCAP", "SETUID"]
    tor_uid = spec.environment["MYONION_TOR_USER"].split(":")[0]
    service_uid = spec.environment["MYONION_SERVICE_USER"].split(":")[0]
    assert tor_uid == "10001" and service_uid not in ("0", tor_uid)
    assert "MYONION_SERVICE_IS_TOR" not in spec.environment
    assert spec.ports == {}  # nothing published on the host
    assert spec.labels[LABEL_SERVICE] == "blog"
    assert spec.mem_limit and spec.pids_limit
    # the shared folder is mounted read-only, the onion key only in memory (ephemeral)
    assert any(m.source == str(site) and m.read_only for m in spec.mounts)
    assert "uid=10001" in spec.tmpfs["/var/lib/tor"]
    assert not any(m.volume and m.target == "/var/lib/tor" for m in spec.mounts)
    # local network: the test network's settings come from a read-only include
    assert any(m.target == "/etc/tor/torrc.d" and m.read_only for m in spec.mounts)
    torrc = (manager.store.root / "blog" / "conf" / "torrc").read_text()
    assert "HiddenServicePort 80 127.0.0.1:8080" in torrc


def test_persistent_keeps_key_in_a_volume(manager: Manager, runtime: FakeRuntime,
                                          site: Path) -> None:
    name = share(manager, site, persistent=True)
    spec, _ = runtime.containers[container_name(name)]
    assert "/var/lib/tor" not in spec.tmpfs
    assert any(m.volume and m.target == "/var/lib/tor" for m in spec.mounts)
    assert spec.restart == "unless-stopped"


def test_names_default_to_template_and_never_collide(manager: Manager, site: Path) -> None:
    assert share(manager, site) == "site"
    assert share(manager, site) == "site-2"
    with pytest.raises(NameInUse):
        share(manager, site, name="site")


def test_a_container_left_without_a_record_keeps_its_name(
        manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    share(manager, site, name="left")
    (manager.store.root / "left" / "service.json").unlink()  # the container alone is left
    with pytest.raises(NameInUse, match="'left'"):
        share(manager, site, name="left")
    assert manager.store.get("left") is None


def test_a_named_share_asks_the_engine_nothing_under_the_stores_lock(
        manager: Manager, runtime: FakeRuntime, site: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Shares at once take the store's lock in turn: an engine call under it (slow while
    the engine starts the others' containers) made each of 20 wait for all before it."""
    import fcntl

    asked_under_lock: list[str] = []
    get = runtime.get

    def watched(name: str) -> object:
        fd = os.open(manager.store.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            asked_under_lock.append(name)
        finally:
            os.close(fd)
        return get(name)

    monkeypatch.setattr(runtime, "get", watched)
    share(manager, site, name="quick")
    assert asked_under_lock == []
    assert manager.store.get("quick") is not None


def test_bad_input_changes_nothing(manager: Manager, runtime: FakeRuntime, tmp_path: Path) -> None:
    with pytest.raises(OptionError):
        manager.share("site", {"dir": str(tmp_path / "missing")}, wait=False)
    with pytest.raises(OptionError):
        manager.share("site", {}, name="Bad Name", wait=False)
    with pytest.raises(OptionError, match="refused"):
        manager.share("site", {}, network="tor", wait=False)
    assert runtime.containers == {} and runtime.builds == []
    assert manager.store.all() == []


def test_failed_build_leaves_nothing_behind(manager: Manager, runtime: FakeRuntime,
                                            site: Path) -> None:
    runtime.fail_build = True
    with pytest.raises(BuildFailed):
        share(manager, site, name="blog")
    assert runtime.containers == {} and manager.store.all() == []
    assert not (manager.store.root / "blog").exists()


def test_docker_down_is_reported(manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    runtime.down = True
    with pytest.raises(DockerUnavailable):
        share(manager, site)


def test_images_are_built_once(manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    share(manager, site)
    share(manager, site)
    assert len(runtime.builds) == 2  # the tor layer and the site image, once each


def test_testnet_is_started_when_needed(manager: Manager, testnet: object, site: Path) -> None:
    testnet.running = False  # type: ignore[attr-defined]
    share(manager, site)
    assert testnet.calls == ["up"]  # type: ignore[attr-defined]


def test_ls_lists_from_docker(manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    share(manager, site, name="a")
    share(manager, site, name="b", persistent=True)
    views = {v.name: v for v in manager.list()}
    assert set(views) == {"a", "b"}
    assert views["a"].state == "running" and views["b"].mode == "persistent"
    runtime.kill(container_name("a"))
    assert {v.name: v.state for v in manager.list()}["a"] == "failed"
    runtime.remove(container_name("b"))
    assert {v.name: v.state for v in manager.list()}["b"] == "missing"


def test_stop_start_rm(manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    name = share(manager, site, name="blog", persistent=True)
    assert manager.stop(name).state == "stopped"
    assert manager.start(name, wait=False).state == "running"
    manager.remove(name, purge=True)
    assert runtime.containers == {}
    assert not any(v.startswith("myonion-blog") for v in runtime.volumes)
    assert manager.store.all() == []
    with pytest.raises(ServiceNotFound):
        manager.status(name)


def test_address_needs_a_running_service(manager: Manager, site: Path) -> None:
    name = share(manager, site)
    ctl = manager.store.root / name / "ctl"
    addr = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion"
    (ctl / "hostname").write_text(addr + "\n")
    assert manager.address(name) == addr
    manager.stop(name)
    assert manager.status(name).address is None  # ephemeral: gone with the stop


def test_other_homes_are_not_listed_and_orphans_can_be_removed(
        manager: Manager, runtime: FakeRuntime, site: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    share(manager, site, name="mine")
    (manager.store.root / "mine" / "service.json").unlink()  # the record is lost
    assert [v.name for v in manager.list()] == ["mine"]
    home = os.environ["MYONION_HOME"]
    monkeypatch.setenv("MYONION_HOME", str(tmp_path / "other"))
    other = Manager(runtime=runtime, store=StateStore(), testnet=manager.testnet)
    assert other.list() == []
    with pytest.raises(ServiceNotFound):
        other.remove("mine")
    monkeypatch.setenv("MYONION_HOME", home)
    manager.remove("mine", purge=True)
    assert runtime.containers == {}


def test_secret_options_are_hidden_in_views(manager: Manager) -> None:
    devices = "kitchen:kitchen-t0k3n-for-tests\ngarden"
    manager.share("iot-receiver", {"devices": devices}, name="iot", wait=False)
    shown = manager.status("iot").options
    assert shown["devices"] == "(hidden)" and shown["max_body"] == 65536
    # the service itself still gets the real value; garden, given without a token, got one
    kept = manager.store.get("iot").options["devices"]  # type: ignore[union-attr]
    assert kept.startswith("kitchen:kitchen-t0k3n-for-tests\ngarden:")
    generated = kept.rpartition(":")[2]
    assert len(generated) == 32
    views = repr([v.to_dict() for v in manager.list()]) + repr(manager.status("iot").to_dict())
    assert "t0k3n" not in views and generated not in views
    rendered = (manager.store.root / "iot" / "conf" / "devices").read_text()
    assert "kitchen:kitchen-t0k3n-for-tests" in rendered and f"garden:{generated}" in rendered


BRIDGE = {"routes": "kitchen http://" + "a" * 55 + "d.onion/api/v1/readings/kitchen "
          "kitchen-t0k3n-for-tests", "devices": "kitchen:broker-pw-for-tests"}


@pytest.mark.parametrize("network", ["local", "tor"])
def test_a_port_is_published_only_when_the_template_option_asks(
        manager: Manager, runtime: FakeRuntime, network: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MYONION_NETWORK", raising=False)
    manager.share("mqtt-bridge", BRIDGE, name="quiet", network=network, wait=False)
    spec, _ = runtime.containers[container_name("quiet")]
    assert spec.ports == {} and spec.extra_networks == []
    port = free_port()
    manager.share("mqtt-bridge", {**BRIDGE, "lan_port": str(port)}, name="lan",
                  network=network, wait=False)
    spec, _ = runtime.containers[container_name("lan")]
    # loopback unless an address is asked for
    assert spec.ports == {"1883/tcp": ("127.0.0.1", port)}
    # the internal test network cannot publish: the test network's access bridge can
    assert spec.extra_networks == (["myonion-testnet-access"] if network == "local" else [])
    assert spec.network == ("myonion-testnet" if network == "local" else None)
    wide = free_port("0.0.0.0")
    manager.share("mqtt-bridge", {**BRIDGE, "lan_port": wide, "lan_address": "0.0.0.0"},
                  name="wide", network=network, wait=False)
    assert runtime.containers[container_name("wide")][0].ports == {
        "1883/tcp": ("0.0.0.0", wide)}


def test_a_bad_lan_address_changes_nothing(manager: Manager, runtime: FakeRuntime) -> None:
    with pytest.raises(OptionError, match="'lan_address' must be an IP address"):
        manager.share("mqtt-bridge", {**BRIDGE, "lan_port": "1883", "lan_address": "pi.local"},
                      name="bad", wait=False)
    assert runtime.containers == {} and manager.list() == []


def test_a_host_port_in_use_is_refused_before_anything_is_made(
        manager: Manager, runtime: FakeRuntime) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OptionError, match=f"Port {port} on 127.0.0.1 is in use already"):
            manager.share("mqtt-bridge", {**BRIDGE, "lan_port": port}, name="busy", wait=False)
    assert runtime.containers == {} and runtime.builds == [] and manager.list() == []
    # an address this machine does not have (TEST-NET-3, never assigned to a host)
    with pytest.raises(OptionError, match=r"on 203\.0\.113\.7 cannot be used"):
        manager.share("mqtt-bridge", {**BRIDGE, "lan_port": port, "lan_address": "203.0.113.7"},
                      name="busy", wait=False)


def test_published_ports_are_shown(manager: Manager, runtime: FakeRuntime) -> None:
    port = free_port()
    manager.share("mqtt-bridge", {**BRIDGE, "lan_port": str(port)}, name="lan", wait=False)
    spec, info = runtime.containers[container_name("lan")]
    info.ports = dict(spec.ports)  # what Docker reports once it has published them
    assert manager.status("lan").published == {"1883/tcp": f"127.0.0.1:{port}"}


def test_an_ephemeral_services_new_address_after_a_restart_is_said(
        manager: Manager, runtime: FakeRuntime, site: Path) -> None:
    """A container made anew (a crash loop, the engine) gives an ephemeral service a new key:
    the view says so, with the old address, until the service is checked again."""
    name = share(manager, site, name="eph")
    old, new = keys.generate_onion_key().address, keys.generate_onion_key().address
    manager.store.update(name, address=old, started_at="before")
    (manager.store.service_dir(name) / "ctl" / "hostname").write_text(new + "\n")
    view = manager.status(name, live=False)
    assert view.address == new and view.previous_address == old
    assert view.reason and "gone for good" in view.reason and old in view.reason
    # the same address as recorded: nothing to say
    manager.store.update(name, address=new)
    assert manager.status(name, live=False).previous_address is None


def test_device_tokens_are_read_by_the_running_receiver_as_its_user(
        manager: Manager, runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "Tq5kWz8RmN2vLx7cPb4H"  # unique to this test, never published
    manager.share("iot-receiver", {"devices": f"kitchen:{token}\ngarden"}, name="iot", wait=False)
    printed = f"garden:GeneratedToken0123456789\nkitchen:{token}\n"
    calls: list[tuple[str, list[str], str | None]] = []

    def exec_(name: str, command: list[str], user: str | None = None) -> tuple[int, str]:
        calls.append((name, command, user))
        return 0, printed

    monkeypatch.setattr(runtime, "exec", exec_)
    assert manager.device_tokens("iot") == {"garden": "GeneratedToken0123456789",
                                            "kitchen": token}
    assert calls == [(container_name("iot"), ["iot-receiver", "tokens"], "10002:10002")]
    manager.stop("iot")
    with pytest.raises(MyOnionError, match="not running"):
        manager.device_tokens("iot")


def test_only_a_receiver_has_device_tokens(manager: Manager, site: Path) -> None:
    share(manager, site, name="blog")
    with pytest.raises(MyOnionError, match="not an IoT receiver"):
        manager.device_tokens("blog")
