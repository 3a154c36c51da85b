"""Who may use the test network's client: its rendered torrc, parsed into directives, and how
a kept network (or one made by an older myonion) gets a client guarded that way."""

from __future__ import annotations

import pytest

from myonion import errors
from myonion import testnet as tn
from myonion.runtime.base import LABEL_ROLE, ContainerSpec, Mount
from myonion.runtime.fake import FakeRuntime
from myonion.testnet import access as ta
from myonion.testnet import nodes as tn_nodes
from myonion.testnet import resume

ACCESS = ta.access_plan("10.213.9.0/24")
DIRAUTHS = [f"DirAuthority auth{i} orport=5000 no-v2 v3ident={'A' * 40} 10.213.4.20{i}:7000 "
            f"{'B' * 40}" for i in (1, 2, 3)]
#: every torrc option that opens a listening port (tor 0.4.9's manual)
LISTENERS = {"SocksPort", "ControlPort", "DirPort", "ORPort", "TransPort", "NATDPort",
             "DNSPort", "HTTPTunnelPort", "MetricsPort", "ExtORPort"}
#: the lines of a client made by myonion before the SOCKS port was guarded
OLD_SOCKS = "SocksPort 0.0.0.0:9050\nSocksPolicy accept private:*\nSocksPolicy reject *:*\n"


def _torrcs() -> dict[str, list[tuple[str, str]]]:
    nodes = tn.plan("10.213.4.0/24", access=ACCESS)
    files = tn.node_files(nodes, DIRAUTHS, "10.213.4.0/24", ACCESS)
    return {n.name: ta.parse_directives(files[f"/nodes/{n.name}/torrc"][0].decode())
            for n in nodes}


def _values(directives: list[tuple[str, str]], keyword: str) -> list[str]:
    return [v for k, v in directives if k == keyword]


def test_the_access_bridge_addresses() -> None:
    assert ta.Access("10.213.9.0/24", "10.213.9.1", "10.213.9.250") == ACCESS
    for bad in ("10.213.9.0/25", "fd00::/64"):
        with pytest.raises(errors.TestnetError, match="access bridge"):
            ta.access_plan(bad)


def test_the_client_listens_on_its_access_address_and_answers_its_gateway_only() -> None:
    client = _torrcs()["client"]
    assert _values(client, "SocksPort") == ["10.213.9.250:9050"]
    assert _values(client, "SocksPolicy") == ["accept 10.213.9.1/32", "reject *:*"]
    # no other way in: besides the SOCKS port, only a control port on the loopback of its
    # own container (for `docker exec`: see Testnet.forget_onions), with tor's cookie
    assert {k for k, _ in client} & LISTENERS == {"SocksPort", "ControlPort"}
    assert _values(client, "ControlPort") == [f"127.0.0.1:{tn.CLIENT_CONTROL_PORT}"]
    assert _values(client, "CookieAuthentication") == ["1"]
    assert _values(client, "ReachableAddresses") == ["accept 10.213.4.0/24:*, reject *:*"]
    assert _values(client, "ClientOnionAuthDir") == [tn.ONION_AUTH_DIR]


def test_relays_and_authorities_open_only_their_onion_router_ports() -> None:
    for name, directives in _torrcs().items():
        if name == "client":
            continue
        assert _values(directives, "SocksPort") == ["0"], name
        assert _values(directives, "ORPort") == [str(tn.OR_PORT)], name
        assert _values(directives, "ExitPolicy") == ["reject *:*"], name
        want = {"SocksPort", "ORPort"} | ({"DirPort"} if name.startswith("auth") else set())
        assert {k for k, _ in directives} & LISTENERS == want, name
        if name.startswith("auth"):
            assert _values(directives, "DirPort") == [str(tn.DIR_PORT)]


def test_a_client_needs_its_access_bridge() -> None:
    client = tn.plan("10.213.4.0/24")[-1]
    with pytest.raises(errors.TestnetError, match="access bridge"):
        tn.render_torrc(client, DIRAUTHS, "10.213.4.0/24")


def test_access_of_reads_the_guard_back_and_refuses_anything_else() -> None:
    nodes = tn.plan("10.213.4.0/24", access=ACCESS)
    text = tn.render_torrc(nodes[-1], DIRAUTHS, "10.213.4.0/24", ACCESS)
    assert ta.access_of(text) == ACCESS
    guarded = "\n".join(ta.socks_lines(ACCESS)) + "\n"
    for bad in (OLD_SOCKS,
                "",
                guarded.replace("reject *:*", "accept private:*"),
                guarded + "SocksPolicy accept 10.213.4.0/24\n",
                guarded + "SocksPort 0.0.0.0:9050\n",
                guarded.replace("10.213.9.1/32", "10.213.9.0/24"),
                guarded.replace("\nSocksPolicy reject *:*", ""),
                guarded.replace("10.213.9.250:9050", "10.213.9.7:9050")):
        assert ta.access_of(bad) is None, bad


def test_parse_directives_drops_comments_and_splits_on_whitespace() -> None:
    assert ta.parse_directives("# c\n\n  SocksPolicy\taccept 1.2.3.4/32 \nLog notice stderr\n"
                               "SafeLogging\n") == [
        ("SocksPolicy", "accept 1.2.3.4/32"), ("Log", "notice stderr"), ("SafeLogging", "")]


def test_the_client_container_is_on_the_access_bridge_at_its_fixed_address() -> None:
    net = tn.Testnet(FakeRuntime())
    nodes = tn.plan("10.213.4.0/24", access=ACCESS)
    spec = tn_nodes.spec(net, nodes[-1], "image", 3, 3, ACCESS)
    assert (spec.network, spec.ipv4_address, spec.extra_networks) == (
        tn.ACCESS_NETWORK, "10.213.9.250", [tn.NETWORK])
    assert spec.ports == {tn.SOCKS_KEY: ("127.0.0.1", 0)}
    assert spec.labels[tn.LABEL_ACCESS] == "10.213.9.0/24"
    relay = tn_nodes.spec(net, nodes[3], "image", 3, 3, ACCESS)
    assert (relay.network, relay.ipv4_address, relay.extra_networks, relay.ports) == (
        tn.NETWORK, "10.213.4.211", [], {})
    assert tn.LABEL_ACCESS not in relay.labels


# --- a kept network, and one made by an older myonion --------------------------------------
class VolumeRuntime(FakeRuntime):
    """A fake whose task containers read and write files of named volumes."""

    def __init__(self) -> None:
        super().__init__()
        self.images |= {"i", "image"}
        self.volume_files: dict[tuple[str, str], bytes] = {}

    def run_task(self, image: str, command: list[str], mounts: list[Mount],
                 files: dict[str, tuple[bytes, int]] | None = None, user: str | None = None,
                 cap_add: list[str] | None = None, timeout: float = 300) -> tuple[int, str]:
        self.tasks.append(command)
        for path, (content, _) in (files or {}).items():
            mount = next(m for m in mounts if path.startswith(m.target + "/"))
            self.volume_files[(mount.source, path.removeprefix(mount.target + "/"))] = content
        if command[0] == "cat":
            mount = next(m for m in mounts if command[1].startswith(m.target + "/"))
            name = command[1].removeprefix(mount.target + "/")
            return 0, self.volume_files.get((mount.source, name), b"").decode()
        return 0, ""


def _kept(client_labels: dict[str, str] | None,
          client_torrc: str) -> tuple[VolumeRuntime, tn.Testnet]:
    """A kept default network: bridge, volumes, an authority's torrc, the include, and a
    client container with ``client_labels`` (none if None) whose torrc is ``client_torrc``."""
    runtime = VolumeRuntime()
    net = tn.Testnet(runtime, reporter=lambda event: None)
    runtime.create_network(tn.NETWORK, True, "10.213.4.0/24", {LABEL_ROLE: tn.ROLE_NETWORK})
    runtime.create_network(tn.ACCESS_NETWORK, False, None, {LABEL_ROLE: tn.ROLE_NETWORK})
    nodes = tn.plan("10.213.4.0/24", access=ACCESS)
    runtime.volume_files[(nodes[0].volume, "torrc")] = tn.render_torrc(
        nodes[0], DIRAUTHS, "10.213.4.0/24").encode()
    runtime.volume_files[(tn.INCLUDE_VOLUME, tn.INCLUDE_FILE)] = tn.render_include(
        DIRAUTHS).encode()
    runtime.volume_files[(nodes[-1].volume, "torrc")] = client_torrc.encode()
    if client_labels is not None:
        info = runtime.create(ContainerSpec(name=nodes[-1].container, image="i", labels={
            LABEL_ROLE: "testnet-client", tn.LABEL_NODE: "client", **client_labels}))
        info.ip_addresses = {tn.NETWORK: "10.213.4.2", tn.ACCESS_NETWORK: "172.19.0.2"}
    return runtime, net


def test_a_guarded_client_keeps_its_bridge() -> None:
    layout = tn.plan(tn.ANY_SUBNET)
    runtime, net = _kept({tn.LABEL_ACCESS: ACCESS.subnet}, "")
    assert resume.kept_access(net, "image", layout) == ACCESS
    assert runtime.tasks == []  # from the label: nothing read, nothing made again
    # its container gone: read back from its torrc, the bridge kept
    text = tn.render_torrc(tn.plan("10.213.4.0/24", access=ACCESS)[-1], DIRAUTHS,
                           "10.213.4.0/24", ACCESS)
    runtime, net = _kept(None, text)
    assert resume.kept_access(net, "image", layout) == ACCESS
    assert runtime.tasks == [["cat", "/volume/torrc"]]


def test_an_older_client_is_made_again_for_this_machine_only() -> None:
    old = tn.render_torrc(tn.plan("10.213.4.0/24", access=ACCESS)[-1], DIRAUTHS,
                          "10.213.4.0/24", ACCESS)
    old = old.replace("\n".join(ta.socks_lines(ACCESS)), OLD_SOCKS.strip())
    runtime, net = _kept({}, old)
    st = net.status()
    assert st.outdated and not st.up and st.to_dict()["outdated"] is True
    with pytest.raises(errors.TestnetError, match="older myonion") as caught:
        net.socks()
    assert "myonion testnet up" in (caught.value.hint or "")
    runtime.start("myonion-testnet-client")
    with pytest.raises(errors.TestnetError, match="older myonion"):
        net.authorize("web", "descriptor:x25519:KEY")  # no key for a client anyone can use
    layout = tn.plan(tn.ANY_SUBNET)

    access = resume.kept_access(net, "image", layout)
    assert "myonion-testnet-client" not in runtime.containers  # made again by _resume
    assert access == ta.access_plan("10.213.0.0/24")  # a bridge on a subnet of our choice
    text = runtime.volume_files[("myonion-testnet-client", "torrc")].decode()
    torrc = ta.parse_directives(text)
    assert _values(torrc, "SocksPort") == ["10.213.0.250:9050"]
    assert _values(torrc, "SocksPolicy") == ["accept 10.213.0.1/32", "reject *:*"]
    assert [f"DirAuthority {v}" for v in _values(torrc, "DirAuthority")] == DIRAUTHS
    assert _values(torrc, "ReachableAddresses") == ["accept 10.213.4.0/24:*, reject *:*"]
    assert ("myonion-testnet-client", "onion-auth/") in runtime.volume_files


def test_an_older_client_is_not_replaced_under_a_service_on_its_bridge() -> None:
    runtime, net = _kept({}, OLD_SOCKS)
    lan = runtime.create(ContainerSpec(name="myonion-broker", image="i", labels={}))
    lan.ip_addresses = {tn.NETWORK: "10.213.4.3", tn.ACCESS_NETWORK: "172.19.0.3"}
    with pytest.raises(errors.TestnetError, match="myonion-broker still use") as caught:
        resume.kept_access(net, "image", tn.plan(tn.ANY_SUBNET))
    assert "myonion rm" in (caught.value.hint or "")
    assert "myonion-testnet-client" in runtime.containers
    assert tn.ACCESS_NETWORK in runtime.networks


def test_testnet_status_says_an_older_client_must_be_closed(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from myonion import cli
    from myonion.cli import testnet as cli_testnet

    _, net = _kept({}, OLD_SOCKS)
    monkeypatch.setattr(cli_testnet, "_testnet", lambda *args, **kwargs: net)
    assert cli.main(["testnet", "status"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "up: no" in out
    assert "answers SOCKS from every container" in out and "`myonion testnet up`" in out


class LogRuntime(FakeRuntime):
    """A fake engine whose containers log what a test says, counting the reads."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, list[str]] = {}
        self.reads: list[str] = []

    def logs(self, name: str, tail: int | None = None, follow: bool = False):  # type: ignore[override]
        self.reads.append(name)
        return iter(self.lines.get(name, []))


def _running_net() -> tuple[LogRuntime, tn.Testnet, list[tn.Node]]:
    runtime = LogRuntime()
    runtime.images.add("image")
    net = tn.Testnet(runtime, reporter=lambda event: None)
    runtime.create_network(tn.NETWORK, True, "10.213.4.0/24", {LABEL_ROLE: tn.ROLE_NETWORK})
    nodes = tn.plan("10.213.4.0/24", access=ACCESS)
    for node in nodes:
        spec = tn_nodes.spec(net, node, "image", 3, 3, ACCESS)
        runtime.create(spec)
        runtime.start(node.container)
        runtime.lines[node.container] = ["[notice] Bootstrapped 100% (done): Done"]
    for node in nodes[:3]:
        runtime.lines[node.container].append("[notice] Published ns consensus")
    client = runtime.get(nodes[-1].container)
    assert client is not None
    client.ports = {tn.SOCKS_KEY: ("127.0.0.1", 39050)}
    return runtime, net, nodes


def test_a_node_seen_done_is_not_read_again_in_the_same_run() -> None:
    runtime, net, nodes = _running_net()
    relay = nodes[3].container
    runtime.lines[relay] = ["[notice] Bootstrapped 75% (enough_dirinfo): Loaded"]
    assert {n.name: n.bootstrap for n in net.status().nodes}[nodes[3].name] == 75
    assert sorted(runtime.reads) == sorted(n.container for n in nodes)
    runtime.reads.clear()
    runtime.lines[relay].append("[notice] Bootstrapped 100% (done): Done")
    assert {n.name: n.bootstrap for n in net.status().nodes}[nodes[3].name] == 100
    assert runtime.reads == [relay]  # the others were done already
    runtime.reads.clear()
    assert net.status().up and runtime.reads == []
    # a container started again is another run: its log is read again
    runtime.stop(relay)
    runtime.start(relay)
    info = runtime.get(relay)
    assert info is not None
    info.started_at = "later"
    net.status()
    assert runtime.reads == [relay]


def test_socks_asks_the_engine_about_the_client_only() -> None:
    runtime, net, nodes = _running_net()
    assert net.socks() == ("127.0.0.1", 39050) and runtime.reads == []
    runtime.stop(nodes[-1].container)
    with pytest.raises(errors.TestnetError, match="not up"):
        net.socks()
