"""Onionbalance on the fake runtime: a backend's torrc line and ob_config, the frontend's
configuration, `balance share/status/rm` and their bad input (nothing made)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from myonion import keys
from myonion.build import render
from myonion.cli import main
from myonion.deploy import balance
from myonion.errors import MyOnionError, NameInUse, OptionError, TorError
from myonion.manager import Manager, container_name
from myonion.runtime.base import Mount
from myonion.runtime.fake import FakeRuntime
from myonion.services import readiness
from myonion.services.context import ServiceContext
from myonion.services.store import ServiceRecord
from myonion.templates import TemplateRegistry, TemplateSpec


class RecordingRuntime(FakeRuntime):
    """The fake runtime, also keeping the files each one-off task wrote (keys, ob_config)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.task_files: list[dict[str, tuple[bytes, int]]] = []

    def run_task(self, image: str, command: list[str], mounts: list[Mount],
                 files: dict[str, tuple[bytes, int]] | None = None, user: str | None = None,
                 cap_add: list[str] | None = None, timeout: float = 300) -> tuple[int, str]:
        self.task_files.append(dict(files or {}))
        return super().run_task(image, command, mounts, files, user, cap_add, timeout)


@pytest.fixture
def runtime() -> RecordingRuntime:
    return RecordingRuntime(images={"myonion/base:bookworm"})


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("hello")
    return tmp_path


@pytest.fixture
def ready(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Services become ready at once (no tor on the fake runtime); returns who was waited for."""
    waited: list[str] = []

    def wait_ready(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
                   started: float, timeout: float, prove: bool = True) -> None:
        waited.append(record.name)
        ctx.store.update(record.name, stage="reachable")

    monkeypatch.setattr(readiness, "wait_ready", wait_ready)
    return waited


def test_a_backend_names_its_master(manager: Manager, runtime: RecordingRuntime,
                                    site: Path) -> None:
    master = keys.generate_onion_key().address
    view = manager.share("site", {"dir": str(site)}, name="web-b1", wait=False,
                         balance_master=master.upper())
    record = manager.store.get("web-b1")
    assert record is not None and record.balance_master == master
    # it is persistent with a key made for it (its address is known before it starts)
    assert view.mode == "persistent" and view.address and view.address != master
    torrc = (manager.store.root / "web-b1" / "conf" / "torrc").read_text()
    assert "\nHiddenServiceOnionbalanceInstance 1\n" in torrc
    assert "HiddenServicePort 80 127.0.0.1:8080" in torrc
    written = {path: data for files in runtime.task_files for path, (data, _) in files.items()}
    assert written["/var/lib/tor/hs/ob_config"] == f"MasterOnionAddress {master}\n".encode()
    assert keys.parse_secret_key_file(
        written["/var/lib/tor/hs/hs_ed25519_secret_key"]).address == view.address


def test_a_plain_service_is_no_backend(manager: Manager, runtime: RecordingRuntime,
                                       site: Path) -> None:
    manager.share("site", {"dir": str(site)}, name="plain", wait=False)
    torrc = (manager.store.root / "plain" / "conf" / "torrc").read_text()
    assert "Onionbalance" not in torrc
    assert not any("/var/lib/tor/hs/ob_config" in files for files in runtime.task_files)


@pytest.mark.parametrize("master", ["nope", "a" * 56 + ".onion", ""])
def test_a_bad_master_changes_nothing(manager: Manager, runtime: RecordingRuntime, site: Path,
                                      master: str) -> None:
    with pytest.raises(OptionError, match="Onionbalance master"):
        manager.share("site", {"dir": str(site)}, wait=False, balance_master=master)
    assert runtime.containers == {} and manager.store.all() == []


def test_a_backend_cannot_have_the_masters_key(manager: Manager, runtime: RecordingRuntime,
                                               site: Path) -> None:
    key = keys.generate_onion_key()
    with pytest.raises(OptionError, match="master's address"):
        manager.share("site", {"dir": str(site)}, wait=False, key=key,
                      balance_master=key.address)
    assert runtime.containers == {}


@pytest.mark.parametrize("network", ["local", "tor"])
def test_the_frontend_configuration(network: str) -> None:
    spec = TemplateRegistry().get("onionbalance")
    assert spec.balance_frontend
    a, b = keys.generate_onion_key().address, keys.generate_onion_key().address
    files = render.render_runtime_files(spec, {"name": "web", "network": network,
                                               "mode": "persistent"},
                                        spec.validate({"instances": f"{a}, {b}"}))
    import yaml

    config = yaml.safe_load(files["onionbalance.yaml"])
    assert config["myonion-testnet"] is (network == "local")
    assert config["status-socket-location"] == "/run/myonion/ctl/" + balance.STATUS_SOCKET
    (service,) = config["services"]
    assert service["key"] == "/var/lib/tor/hs/hs_ed25519_secret_key"
    assert [i["address"] for i in service["instances"]] == [a, b]
    # no onion service of its own: onionbalance publishes the master's descriptor
    assert "HiddenService" not in files["torrc"]
    assert "ControlSocket unix:/run/myonion/ctl/control.sock" in files["torrc"]
    with pytest.raises(OptionError):
        spec.validate({"instances": "not-an-onion"})


def test_balance_share_status_and_remove(manager: Manager, runtime: RecordingRuntime,
                                         site: Path, ready: list[str]) -> None:
    view = balance.share(manager, "site", {"dir": str(site)}, name="web", backends=3)
    assert ready == ["web-b1", "web-b2", "web-b3", "web"]  # backends first, then the frontend
    front = manager.store.get("web")
    assert front is not None and front.template == "onionbalance" and front.mode == "persistent"
    assert view.address == front.address
    records = [manager.store.get(f"web-b{i}") for i in (1, 2, 3)]
    addresses = [r.address for r in records if r is not None]
    assert len(set(addresses)) == 3 and view.address not in addresses
    assert all(r is not None and r.balance_master == view.address for r in records)
    assert front.options["instances"].split() == addresses
    assert balance.backends(manager, "web") == ["web-b1", "web-b2", "web-b3"]
    # the frontend's own status is not there (no onionbalance on the fake runtime): said so
    assert [b.name for b in view.backends] == ["web-b1", "web-b2", "web-b3"]
    assert all(b.listed is None for b in view.backends) and view.note
    # removed, the keys (the master's among them) stay until purged
    assert balance.remove(manager, "web") == ["web", "web-b1", "web-b2", "web-b3"]
    assert runtime.containers == {} and len(manager.store.all()) == 4
    assert {r.stage for r in manager.store.all()} == {"down"}
    assert {"myonion-web-tor", "myonion-web-b1-tor"} <= set(runtime.volumes)
    assert balance.remove(manager, "web", purge=True) == ["web", "web-b1", "web-b2", "web-b3"]
    assert manager.store.all() == [] and runtime.containers == {}
    assert not [v for v in runtime.volumes if v.startswith("myonion-web")]


@pytest.fixture
def status_socket(manager: Manager) -> Iterator[list[dict[str, Any]]]:
    """Serve onionbalance's status JSON on the frontend 'web''s status socket."""
    summaries: list[dict[str, Any]] = []
    ctl = manager.store.service_dir("web") / "ctl"
    ctl.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(ctl / balance.STATUS_SOCKET))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(json.dumps(summaries[-1] if summaries else {}).encode())

    threading.Thread(target=serve, daemon=True).start()
    yield summaries
    server.close()


def test_status_shows_which_backends_onionbalance_lists(
        manager: Manager, site: Path, ready: list[str],
        status_socket: list[dict[str, Any]]) -> None:
    view = balance.share(manager, "site", {"dir": str(site)}, name="web", backends=2)
    b1, b2 = view.backends
    now = balance_time(0)
    status_socket.append({"services": [{
        "onionAddress": view.address, "publishAttemptFirstDescriptor": now,
        "publishAttemptSecondDescriptor": now,
        "instances": [
            {"onionAddress": b1.address, "descriptorReceived": balance_time(-5),
             "introSetModified": balance_time(-60), "introPointsNum": 3},
            {"onionAddress": b2.address, "descriptorReceived": balance_time(-600),
             "introSetModified": balance_time(-900), "introPointsNum": 3},
        ]}]})
    shown = balance.status(manager, "web")
    one, two = shown.backends
    assert one.listed is True and one.intro_points == 3 and one.descriptor_age is not None
    assert two.listed is False and two.descriptor_age is not None and two.descriptor_age >= 600
    assert shown.published == {"first": now, "second": now} and shown.note is None
    # never fetched yet: not listed
    status_socket.append({"services": [{"onionAddress": view.address, "instances": [
        {"onionAddress": b1.address, "received": None}]}]})
    first, second = balance.status(manager, "web").backends
    assert first.listed is False and second.listed is False


def balance_time(offset: float) -> str:
    import datetime

    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def test_a_failing_backend_leaves_nothing_behind(manager: Manager, runtime: RecordingRuntime,
                                                 site: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    def wait_ready(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
                   started: float, timeout: float, prove: bool = True) -> None:
        if record.name == "web-b2":
            raise TorError("tor did not publish its descriptor within 1 s.")

    monkeypatch.setattr(readiness, "wait_ready", wait_ready)
    with pytest.raises(TorError):
        balance.share(manager, "site", {"dir": str(site)}, name="web", backends=2)
    assert manager.store.all() == [] and runtime.containers == {}
    assert [v for v in runtime.list_volumes({}) if v.startswith("myonion-web")] == []


def test_bad_balance_input_changes_nothing(manager: Manager, runtime: RecordingRuntime,
                                           site: Path, ready: list[str]) -> None:
    with pytest.raises(OptionError, match="out of range"):
        balance.share(manager, "site", {}, backends=0)
    with pytest.raises(OptionError, match="out of range"):
        balance.share(manager, "site", {}, backends=balance.MAX_BACKENDS + 1)
    with pytest.raises(OptionError, match="port 80"):
        balance.share(manager, "ssh", {})
    with pytest.raises(OptionError, match="frontend"):
        balance.share(manager, "onionbalance", {})
    with pytest.raises(OptionError):
        balance.share(manager, "site", {}, name="Bad Name")
    assert runtime.containers == {} and manager.store.all() == []
    manager.share("site", {"dir": str(site)}, name="web-b2", wait=False)
    with pytest.raises(NameInUse, match="web-b2"):
        balance.share(manager, "site", {}, name="web")
    assert [r.name for r in manager.store.all()] == ["web-b2"]
    # a service that is no frontend has no balance status
    with pytest.raises(MyOnionError, match="not a balanced service"):
        balance.status(manager, "web-b2")
    with pytest.raises(MyOnionError, match="not a balanced service"):
        balance.remove(manager, "web-b2")
    assert runtime.get(container_name("web-b2")) is not None


def test_cli_refuses_a_template_without_a_web_page(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["balance", "share", "ssh", "--backends", "2"])
    assert code == 1 and "port 80" in capsys.readouterr().err
    code = main(["balance", "share", "site", "--backends", "9"])
    assert code == 1 and "out of range" in capsys.readouterr().err


def test_cli_status_of_a_frontend_shows_its_backends(
        manager: Manager, site: Path, ready: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import myonion.cli

    monkeypatch.setattr(myonion.cli.common, "manager", lambda reporter=None: manager)
    balance.share(manager, "site", {"dir": str(site)}, name="web", backends=2)
    capsys.readouterr()
    assert main(["status", "web"]) == 0
    shown = capsys.readouterr().out
    assert "template: onionbalance" in shown and "web-b1" in shown and "web-b2" in shown
    assert main(["status", "--json", "web"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["template"] == "onionbalance"
    assert [b["name"] for b in data["balance"]["backends"]] == ["web-b1", "web-b2"]
    # a backend's status is the plain one
    assert main(["status", "--json", "web-b1"]) == 0
    assert "balance" not in json.loads(capsys.readouterr().out)
    assert main(["balance", "status", "web"]) == 0
    assert "web-b2" in capsys.readouterr().out
    assert main(["balance", "rm", "web"]) == 0
    assert "(its key and data kept)" in capsys.readouterr().out
    assert {r.stage for r in manager.store.all()} == {"down"}
    assert main(["balance", "rm", "--purge", "web"]) == 0
    assert manager.store.all() == []


def test_dos_defences_go_to_the_backends_not_the_frontend(
        manager: Manager, runtime: RecordingRuntime, site: Path, ready: list[str]) -> None:
    """The frontend's tor publishes no introduction points of its own, so it refuses the DoS
    options with a pointer to the backends; `balance share` puts them on every backend."""
    frontend = TemplateRegistry().get("onionbalance")
    instances = " ".join(keys.generate_onion_key().address for _ in range(2))
    for option, value in (("pow_defense", "true"), ("intro_dos_rate", "25")):
        with pytest.raises(OptionError, match=f"'{option}' does not apply to an Onionbalance "
                           "frontend") as caught:
            frontend.validate({"instances": instances, option: value})
        assert "myonion balance share" in (caught.value.hint or "")
    balance.share(manager, "site", {"dir": str(site), "pow_defense": "true",
                                    "intro_dos_rate": "25"}, name="web", backends=2)
    for each in ("web-b1", "web-b2"):
        record = manager.store.get(each)
        assert record is not None
        assert record.options["pow_defense"] is True and record.options["intro_dos_rate"] == 25
        torrc = (manager.store.service_dir(each) / "conf" / "torrc").read_text()
        assert "HiddenServicePoWDefensesEnabled 1" in torrc
        assert "HiddenServiceEnableIntroDoSRatePerSec 25" in torrc
    front = manager.store.get("web")
    assert front is not None and set(front.options) == {"instances"}
