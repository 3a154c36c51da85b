"""The public network's directory keeper (myonion.services.keeper) on a fake engine: the
container it is (parsed from its spec, never run here: no tor on the public network from
these machines), who starts and stops it, and what a new public service mounts of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from myonion.build.render import TOR_UID
from myonion.errors import OptionError
from myonion.manager import Manager, container_name
from myonion.runtime.fake import FakeRuntime
from myonion.services import keeper
from myonion.services.request import NAME_RE
from myonion.tor import directory
from tests.fakes import FakeTestnet


def tor_options(command: list[str]) -> dict[str, str]:
    """The keeper's tor command line (after the keeper script's arguments) as option → value."""
    assert command[:3] == ["bash", "-c", directory.KEEPER_SCRIPT]
    tor = command[6:]
    assert tor[0] == "tor"
    found: dict[str, str] = {}
    args = iter(tor[1:])
    for arg in args:
        assert arg.startswith("-"), tor
        found[arg.lstrip("-")] = "" if arg == "--allow-missing-torrc" else next(args)
    return found


def test_the_public_keeper_is_a_client_that_listens_on_nothing() -> None:
    spec = keeper.spec("myonion/tor:x", None)
    options = tor_options(spec.command or [])
    assert options["SocksPort"] == "0" and options["ControlPort"] == "0"
    assert options["ClientOnly"] == "1"
    # a keeper sees no client activity; a dormant tor stops fetching the directory
    assert options["DormantTimeoutEnabled"] == "0"
    # no torrc: tor's defaults, the public network's authorities; no onion service, no relay
    assert options["f"] == "/etc/tor/torrc" and "allow-missing-torrc" in options
    assert not any(k.startswith(("HiddenService", "ORPort", "DirAuthority", "TestingTor"))
                   for k in options)
    assert options["DataDirectory"] == f"{keeper.DATA}/data"
    assert spec.command is not None and spec.command[4:6] == [
        f"{keeper.DATA}/data", f"{keeper.SEED_MOUNT}/{directory.SUBDIR}"]
    # tor's own user, read-only root, Docker's default bridge (as public services), no ports
    assert spec.user == f"{TOR_UID}:{TOR_UID}" and spec.read_only and spec.network is None
    assert spec.ports == {} and spec.cap_add == [] and spec.restart == "unless-stopped"
    mounts = {m.target: m for m in spec.mounts}
    assert set(mounts) == {keeper.DATA, keeper.SEED_MOUNT}
    assert mounts[keeper.DATA].source == keeper.data_volume(None) != keeper.name(None)
    assert mounts[keeper.SEED_MOUNT].source == keeper.name(None)


def test_on_the_test_network_it_differs_only_in_its_authorities() -> None:
    net = FakeTestnet()
    public, local = keeper.spec("img", None), keeper.spec("img", net)
    assert tor_options(local.command or [])["f"] == f"{keeper.INCLUDE_TARGET}/testnet.conf"
    differ = {k for k, v in tor_options(public.command or []).items()
              if tor_options(local.command or []).get(k) != v}
    assert differ == {"f"}
    include = [m for m in local.mounts if m.source == net.include_volume]
    assert len(include) == 1 and include[0].read_only
    assert local.network == net.network and keeper.name(net) != keeper.name(None)


def test_no_service_can_be_named_like_the_keeper() -> None:
    for net in (None, FakeTestnet()):
        assert not NAME_RE.match(keeper.name(net).removeprefix("myonion-"))


def share_public(manager: Manager, site: Path, name: str) -> None:
    manager.share("site", {"dir": str(site)}, name=name, network="tor", wait=False)


@pytest.fixture
def unpinned(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The copy on, and no pin to the local network: these tests run on a fake engine, where
    no tor runs."""
    monkeypatch.delenv("MYONION_DIRECTORY_COPY", raising=False)
    monkeypatch.delenv("MYONION_NETWORK", raising=False)
    return monkeypatch


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("hi")
    return tmp_path


def test_the_first_public_share_starts_the_keeper_and_mounts_its_copy(
        manager: Manager, runtime: FakeRuntime, site: Path,
        unpinned: pytest.MonkeyPatch) -> None:
    share_public(manager, site, "pub")
    found = runtime.get(keeper.name(None))
    assert found is not None and found.running
    spec = runtime.containers[container_name("pub")][0]
    seed = [m for m in spec.mounts if m.source == keeper.name(None)]
    assert len(seed) == 1 and seed[0].read_only and seed[0].target == keeper.SEED_TARGET
    assert spec.environment[directory.ENVIRONMENT] == f"{keeper.SEED_TARGET}/{directory.SUBDIR}"
    # the keeper's own state is not the service's to read
    assert keeper.data_volume(None) not in {m.source for m in spec.mounts}


def test_turned_off_no_keeper_and_no_copy(manager: Manager, runtime: FakeRuntime, site: Path,
                                          unpinned: pytest.MonkeyPatch) -> None:
    unpinned.setenv("MYONION_DIRECTORY_COPY", "0")
    share_public(manager, site, "pub")
    assert runtime.get(keeper.name(None)) is None
    spec = runtime.containers[container_name("pub")][0]
    assert directory.ENVIRONMENT not in spec.environment


def test_it_stops_when_no_public_service_runs_and_comes_back_with_the_next(
        manager: Manager, runtime: FakeRuntime, site: Path,
        unpinned: pytest.MonkeyPatch) -> None:
    share_public(manager, site, "one")
    share_public(manager, site, "two")
    manager.share("site", {"dir": str(site)}, name="lan", network="local", wait=False)
    manager.stop("one")
    assert keeper.running(runtime)  # "two" still runs
    manager.remove("two", purge=True)
    assert not keeper.running(runtime)  # a local service does not keep it on
    assert runtime.get(keeper.name(None)) is not None  # stopped, its volumes kept
    assert keeper.name(None) in runtime.volumes
    manager.start("one", wait=False)
    share_public(manager, site, "three")
    assert keeper.running(runtime)


def test_a_local_service_uses_a_running_keeper_of_its_network(
        manager: Manager, runtime: FakeRuntime, testnet: FakeTestnet, site: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MYONION_DIRECTORY_COPY", raising=False)
    manager.share("site", {"dir": str(site)}, name="a", network="local", wait=False)
    spec = runtime.containers[container_name("a")][0]
    assert spec.environment[directory.ENVIRONMENT].startswith("/etc/tor/torrc.d/")
    keeper.ensure(runtime, testnet)
    manager.share("site", {"dir": str(site)}, name="b", network="local", wait=False)
    spec = runtime.containers[container_name("b")][0]
    assert spec.environment[directory.ENVIRONMENT] == f"{keeper.SEED_TARGET}/{directory.SUBDIR}"
    assert keeper.remove(runtime, testnet) == []
    assert keeper.name(testnet) not in runtime.volumes


def test_the_pin_to_the_local_network_refuses_the_public_keeper(
        runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYONION_NETWORK", "local")
    with pytest.raises(OptionError, match="MYONION_NETWORK=local"):
        keeper.ensure(runtime)
    assert runtime.get(keeper.name(None)) is None and runtime.volumes == {}


def test_a_keeper_of_an_older_tor_image_is_made_again_with_its_volumes(
        runtime: FakeRuntime, unpinned: pytest.MonkeyPatch) -> None:
    keeper.ensure(runtime)
    found = runtime.get(keeper.name(None))
    assert found is not None
    current = found.image
    found.image = "myonion/tor:older"
    removed: list[str] = []
    unpinned.setattr(runtime, "remove_volume", removed.append)
    keeper.ensure(runtime)
    found = runtime.get(keeper.name(None))
    assert found is not None and found.image == current and found.running
    assert removed == []
