"""Who runs what in a service container, and which folders may be shared (fake runtime).

tor and the service are two users: the service's is never tor's (10001), so it cannot read
the onion key; a shared folder is read as its owner, so a folder only its owner may read is
served as it is; system, hidden and myonion's own folders are refused, a whole home folder
needs an explicit yes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from myonion import folders, keys, paths
from myonion.cli import main
from myonion.errors import OptionError
from myonion.folders import WholeHomeFolder
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_HOME, LABEL_SERVICE
from myonion.runtime.fake import FakeRuntime
from myonion.templates import TemplateRegistry

REGISTRY = TemplateRegistry()
DEVICES = "kitchen:kitchen-token-0123456789"


def folder(tmp_path: Path, mode: int, uid: int | None = None) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")
    os.chmod(site, mode)
    if uid is not None:
        if os.geteuid() != 0:
            pytest.skip("only root can give a folder to another owner")
        os.chown(site, uid, uid)
    return site


def users(runtime: FakeRuntime, name: str) -> tuple[str, str]:
    spec = runtime.containers[container_name(name)][0]
    return spec.environment["MYONION_TOR_USER"], spec.environment["MYONION_SERVICE_USER"]


def nginx_conf(manager: Manager, name: str) -> list[str]:
    text = (manager.store.root / name / "conf" / "nginx.conf").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and
            not line.strip().startswith("#")]


def test_a_folder_open_to_everyone_is_served_by_the_service_user(
        manager: Manager, runtime: FakeRuntime, tmp_path: Path) -> None:
    site = folder(tmp_path, 0o755, uid=0)
    manager.share("site", {"dir": str(site)}, name="open", wait=False)
    tor, service = users(runtime, "open")
    assert tor.startswith("10001:") and service == "10002:10002"
    assert "user root;" not in nginx_conf(manager, "open")


def test_a_folder_only_its_owner_reads_is_served_as_its_owner(
        manager: Manager, runtime: FakeRuntime, tmp_path: Path) -> None:
    site = folder(tmp_path, 0o700, uid=1000)
    manager.share("site", {"dir": str(site)}, name="mine", wait=False)
    assert users(runtime, "mine")[1] == "1000:10002"
    assert "user root;" not in nginx_conf(manager, "mine")


def test_roots_private_folder_is_served_by_root_without_capabilities(
        manager: Manager, runtime: FakeRuntime, tmp_path: Path) -> None:
    site = folder(tmp_path, 0o700, uid=0)
    manager.share("site", {"dir": str(site)}, name="rootish", wait=False)
    assert users(runtime, "rootish")[1] == "0:10002"
    conf = nginx_conf(manager, "rootish")
    # nginx cannot switch users without capabilities: one process, as root
    assert "user root;" in conf and "master_process off;" in conf


def test_a_private_folder_of_tors_uid_is_refused(manager: Manager, runtime: FakeRuntime,
                                                 tmp_path: Path) -> None:
    site = folder(tmp_path, 0o700, uid=10001)
    with pytest.raises(OptionError, match="tor's inside the container"):
        manager.share("site", {"dir": str(site)}, name="torish", wait=False)
    assert runtime.containers == {} and not manager.store.exists("torish")


def test_services_without_folders_run_as_the_service_user(manager: Manager,
                                                           runtime: FakeRuntime) -> None:
    manager.share("iot-receiver", {"devices": DEVICES}, name="recv", wait=False)
    tor, service = users(runtime, "recv")
    assert service == "10002:10002" and tor.split(":")[0] == "10001"


def test_onionbalance_runs_as_tors_user(manager: Manager, runtime: FakeRuntime) -> None:
    """The frontend holds the master key and talks to tor: tor's side, tor's user; it is the
    only template that may say so."""
    assert REGISTRY.get("onionbalance").service_is_tor
    assert not any(REGISTRY.get(t).service_is_tor for t in REGISTRY.ids() if t != "onionbalance")
    instances = " ".join(keys.generate_onion_key().address for _ in range(2))
    manager.share("onionbalance", {"instances": instances}, name="front", wait=False)
    tor, service = users(runtime, "front")
    spec = runtime.containers[container_name("front")][0]
    assert tor == service and spec.environment["MYONION_SERVICE_IS_TOR"] == "1"


@pytest.mark.parametrize("path", ["/", "/etc", "/usr/share/doc", "/proc/self", "/var/lib",
                                  "/home", "/var"])
def test_system_folders_are_refused(manager: Manager, runtime: FakeRuntime, path: str) -> None:
    if not Path(path).is_dir():
        pytest.skip(f"{path} is not a folder here")
    with pytest.raises(OptionError, match="system folder"):
        manager.share("site", {"dir": path}, name="sys", wait=False)
    assert runtime.containers == {} and runtime.builds == []


def test_hidden_and_myonions_own_folders_are_refused(manager: Manager, runtime: FakeRuntime,
                                                     tmp_path: Path) -> None:
    hidden = tmp_path / ".ssh"
    hidden.mkdir()
    with pytest.raises(OptionError, match="hidden folder"):
        manager.share("site", {"dir": str(hidden)}, name="h", wait=False)
    for own in (paths.data_dir(), paths.data_dir() / "services", paths.data_dir().parent):
        with pytest.raises(OptionError, match="myonion's own files"):
            manager.share("site", {"dir": str(own)}, name="own", wait=False)
    assert runtime.containers == {} and runtime.builds == []


def test_a_whole_home_folder_needs_a_yes(manager: Manager, runtime: FakeRuntime,
                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "alice"
    home.mkdir()
    os.chmod(home, 0o755)
    monkeypatch.setattr(folders, "home_folders", lambda: {home.resolve()})
    with pytest.raises(WholeHomeFolder):
        manager.share("site", {"dir": str(home)}, name="home", wait=False)
    assert runtime.containers == {} and not manager.store.exists("home")
    manager.share("site", {"dir": str(home)}, name="home", wait=False, whole_home=True)
    assert container_name("home") in runtime.containers


def test_the_cli_refuses_a_whole_home_folder_without_a_terminal(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    home = tmp_path / "bob"
    home.mkdir()
    monkeypatch.setattr(folders, "home_folders", lambda: {home.resolve()})
    code = main(["share", "site", "-o", f"dir={home}", "--no-wait"])
    err = capsys.readouterr().err
    assert code == 1 and "whole home folder" in err and "--yes" in err


def test_the_cli_refuses_the_root_folder(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["share", "site", "-o", "dir=/", "--no-wait"])
    err = capsys.readouterr().err
    assert code == 1 and "system folder" in err and "hint:" in err


def test_old_data_volumes_are_handed_to_the_service_user(manager: Manager,
                                                         runtime: FakeRuntime) -> None:
    """A volume made when tor and the service were one user (tor's) is given to the service's
    user when its container is made again; a new service's volumes need no such task."""
    manager.share("iot-receiver", {"devices": DEVICES}, name="fresh", wait=False)
    assert not [t for t in runtime.tasks if "chown -R" in " ".join(t)]
    runtime.create_volume(f"{container_name('old')}-data",
                          {LABEL_SERVICE: "old", LABEL_HOME: _home_label()})
    manager.share("iot-receiver", {"devices": DEVICES}, name="old", wait=False)
    chowns = [t for t in runtime.tasks if "chown -R" in " ".join(t)]
    assert len(chowns) == 1 and "10002:10002" in chowns[0][-1]
    assert '= 10001 ]' in chowns[0][-1]  # only what tor's uid still owns


def _home_label() -> str:
    from myonion.manager import home_label

    return home_label()


def test_only_a_tor_client_service_gets_tors_newnym_helper(manager: Manager,
                                                            runtime: FakeRuntime) -> None:
    """The bridge (a tor client) asks tor's side for fresh circuits through a FIFO on a tmpfs of
    tor's; other services get neither the FIFO nor the helper."""
    manager.share("iot-receiver", {"devices": DEVICES}, name="recv", wait=False)
    bridge = REGISTRY.get("mqtt-bridge")
    manager.share("mqtt-bridge", {"routes": bridge.option("routes").example,  # type: ignore[union-attr]
                                  "lan_users": "sensors:correct-horse-battery"},
                  name="bridge", wait=False)
    recv = runtime.containers[container_name("recv")][0]
    spec = runtime.containers[container_name("bridge")][0]
    assert "MYONION_NEWNYM" not in recv.environment and "/run/myonion/newnym" not in recv.tmpfs
    assert spec.environment["MYONION_NEWNYM"] == "1"
    assert "uid=10001" in spec.tmpfs["/run/myonion/newnym"] and "mode=0711" in \
        spec.tmpfs["/run/myonion/newnym"]
