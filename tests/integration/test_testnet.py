"""The private Tor network on a real Docker engine: up, status, an onion service fetched through
the client's SOCKS port, no route out of the internal network, a failed start cleaned up, down.

One network serves the whole module (tests run in file order); the last tests take it down.
It is a test network of its own (NAME), so the default one that local-mode services (and other
people's sessions on this engine) use is never touched. Only loopback and our own containers
are ever addressed.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest

from myonion import errors, testnet
from myonion.build import images
from myonion.events import Event
from myonion.onion import is_valid as is_valid_onion
from myonion.runtime.base import LABEL_ROLE, ContainerSpec, Mount
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

NAME = "myonion-it-testnet"
PROBE = f"{NAME}-probe"


@dataclass
class Net:
    runtime: DockerRuntime
    testnet: testnet.Testnet
    first: testnet.TestnetStatus
    events: list[Event]
    seconds: float


@pytest.fixture(scope="module")
def net(docker_runtime: DockerRuntime,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    events: list[Event] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MYONION_HOME", str(tmp_path_factory.mktemp("testnet-home")))
        tn = testnet.Testnet(docker_runtime, events.append, name=NAME)
        start = time.monotonic()
        status = tn.up()
        seconds = time.monotonic() - start
        yield Net(docker_runtime, tn, status, events, seconds)
        _remove_probes(docker_runtime)
        tn.down()


def _remove_probes(runtime: DockerRuntime) -> None:
    for info in runtime.list_containers({LABEL_ROLE: "testnet-probe"}):
        if info.name.startswith(PROBE):
            runtime.remove(info.name)


def _run_probe(runtime: DockerRuntime, name: str, script: str, timeout: float = 30) -> str:
    """Run ``bash -c script`` in a container on the test network only; return its output."""
    spec = ContainerSpec(
        name=name, image=images.tor_image(runtime), labels={LABEL_ROLE: "testnet-probe"},
        entrypoint=["/usr/bin/tini", "--"], command=["bash", "-c", script],
        user="10001:10001", network=NAME, mem_limit="32m")
    runtime.remove(name)
    runtime.create(spec)
    try:
        runtime.start(name)
        deadline = time.monotonic() + timeout
        while (info := runtime.get(name)) is not None and info.running:
            assert time.monotonic() < deadline, f"probe {name} did not finish"
            time.sleep(0.1)
        return "\n".join(runtime.logs(name))
    finally:
        runtime.remove(name)


def _labelled_leftovers(runtime: DockerRuntime) -> list[str]:
    def ours(name: str) -> bool:
        return name == NAME or name.startswith(f"{NAME}-")

    left = [f"container {c.name}" for c in runtime.list_containers({LABEL_ROLE: ""})
            if c.labels.get(LABEL_ROLE, "").startswith("testnet") and ours(c.name)]
    left += [f"network {n}" for n in runtime.list_networks({LABEL_ROLE: testnet.ROLE_NETWORK})
             if ours(n)]
    left += [f"volume {v}" for v in runtime.list_volumes({LABEL_ROLE: testnet.ROLE_VOLUME})
             if ours(v)]
    return left


def test_up_has_consensus_and_a_bootstrapped_client(net: Net) -> None:
    st = net.first
    assert st.up and st.consensus and st.client_bootstrapped
    assert st.socks is not None and st.socks[0] == "127.0.0.1" and st.socks[1] > 0
    roles = [n.role for n in st.nodes]
    assert roles.count("authority") == 3 and roles.count("relay") == 3
    assert roles.count("client") == 1
    assert all(n.state == "running" for n in st.nodes)
    # relays must hold the whole directory; their own circuits (95 -> 100 %) may lag
    assert all((n.bootstrap or 0) >= (75 if n.role == "relay" else 100) for n in st.nodes)
    addresses = {ipaddress.ip_address(n.address or "") for n in st.nodes}
    subnet = ipaddress.ip_network(f"{st.nodes[0].address}/24", strict=False)
    assert len(addresses) == len(st.nodes) and all(a in subnet for a in addresses)
    # milestones in order, all measured
    order = ["network_created", "configured", "nodes_started", "consensus", "full_consensus",
             "relays_ready", "client_bootstrapped"]
    values = [st.timings[k] for k in order]
    assert values == sorted(values) and values[-1] < 240
    assert any(e.percent == 100 for e in net.events)
    print(f"\ntestnet up in {net.seconds:.1f} s: {st.timings}")


def test_status_from_a_fresh_object_and_up_again_is_quick(net: Net) -> None:
    st = testnet.Testnet(net.runtime, name=NAME).status()
    assert st.up and st.socks == net.first.socks
    assert st.to_dict()["socks"] == list(net.first.socks or ())
    start = time.monotonic()
    again = net.testnet.up()
    assert time.monotonic() - start < 5
    assert again.up and again.socks == net.first.socks
    assert net.testnet.is_up() and net.testnet.socks() == net.first.socks
    with pytest.raises(errors.TestnetError, match="already up with 3 authorities and 3 relays"):
        net.testnet.up(relays=4)


def test_every_tor_has_only_our_authorities(net: Net) -> None:
    nodes = [n.name for n in net.first.nodes]
    mounts = [Mount(f"{net.testnet.prefix}{n}", f"/nodes/{n}", read_only=True, volume=True)
              for n in nodes]
    mounts.append(Mount(net.testnet.include_volume, "/include", read_only=True, volume=True))
    files = [f"/nodes/{n}/torrc" for n in nodes] + [f"/include/{testnet.INCLUDE_FILE}"]
    script = "".join(f"echo '== {f}'; cat {f}; " for f in files)
    status, text = net.runtime.run_task(images.tor_image(net.runtime), ["bash", "-c", script],
                                        mounts, user="10001:10001")
    assert status == 0, text
    auth_addresses = {f"{n.address}:{testnet.DIR_PORT}" for n in net.first.nodes
                      if n.role == "authority"}
    sections = text.split("== ")[1:]
    assert len(sections) == len(files)
    for section in sections:
        lines = [line.strip() for line in section.splitlines()[1:]]
        assert "TestingTorNetwork 1" in lines, section
        dirauths = [line for line in lines if line.startswith("DirAuthority ")]
        assert {line.split()[5] for line in dirauths} == auth_addresses, section
        assert len(dirauths) == 3
        for word in ("AlternateDirAuthority", "FallbackDir", "UseBridges", "Bridge "):
            assert not any(line.startswith(word) for line in lines), section


def _onion_roundtrip(net: Net, suffix: str) -> float:
    """Start a throwaway onion service (tor and a perl HTTP responder, from the tor image) on
    the test network and fetch it from the host through the client's SOCKS port; seconds."""
    token = secrets.token_hex(8)
    body = f"myonion testnet probe {token}\n"
    server = (
        "use IO::Socket::INET; my $b = $ENV{BODY}; "
        "my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 8080, "
        "Listen => 8, ReuseAddr => 1) or die $!; "
        "while (my $c = $s->accept) { while (my $l = <$c>) { last if $l =~ /^\\r?$/ } "
        "print $c \"HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n"
        "Content-Length: \" . length($b) . \"\\r\\n\\r\\n$b\"; close $c }"
    )
    script = f"""set -eu
export BODY='{body}'
perl -e "$SERVER" &
mkdir -m 0700 /tmp/tor
cat > /tmp/torrc <<EOF
DataDirectory /tmp/tor
SocksPort 0
Log notice stderr
GeoIPFile /usr/share/myonion-empty-geoip
GeoIPv6File /usr/share/myonion-empty-geoip
HiddenServiceDir /tmp/tor/hs
HiddenServicePort 80 127.0.0.1:8080
%include /etc/tor/torrc.d/*.conf
EOF
tor -f /tmp/torrc &
for _ in $(seq 1 300); do
    if [ -s /tmp/tor/hs/hostname ]; then echo "ONION=$(cat /tmp/tor/hs/hostname)"; break; fi
    sleep 0.1
done
wait -n
"""
    name = f"{PROBE}-onion-{suffix}"
    rt = net.runtime
    rt.remove(name)
    rt.create(ContainerSpec(
        name=name, image=images.tor_image(rt), labels={LABEL_ROLE: "testnet-probe"},
        entrypoint=["/usr/bin/tini", "--"], command=["bash", "-c", script],
        user="10001:10001", network=net.testnet.network, environment={"SERVER": server},
        mounts=[Mount(net.testnet.include_volume, "/etc/tor/torrc.d", read_only=True, volume=True)],
        tmpfs={"/tmp": "size=16m,mode=1777"}, mem_limit="64m"))
    try:
        started = time.monotonic()
        rt.start(name)
        address = None
        while address is None:
            assert time.monotonic() - started < 30, "\n".join(rt.logs(name))
            for line in rt.logs(name):
                if line.startswith("ONION="):
                    address = line.removeprefix("ONION=").strip()
            time.sleep(0.1)
        assert is_valid_onion(address)
        response = fetch.http_get_retry(f"http://{address}/", net.testnet.socks(), timeout=90)
        seconds = time.monotonic() - started
        assert response.status == 200
        assert response.body.decode() == body
        return seconds
    except BaseException:
        print("\n".join(rt.logs(name)))
        raise
    finally:
        rt.remove(name)


def test_onion_service_on_the_testnet_is_fetched_through_socks(net: Net) -> None:
    seconds = _onion_roundtrip(net, "first")
    print(f"\nonion service on the testnet fetched {seconds:.1f} s after docker start")


def test_no_way_out_of_the_testnet_network(net: Net) -> None:
    """A container on NETWORK reaches the test network's nodes, and nothing else.

    Probed: only addresses of this machine (the gateways of the access bridge and of docker0)
    and our own client container's address on the access bridge.
    """
    client = docker.from_env()
    inspected = client.networks.get(net.testnet.network).attrs
    assert inspected["Internal"] is True
    gateways = []
    for network in (net.testnet.access_network, "bridge"):
        for cfg in client.networks.get(network).attrs["IPAM"]["Config"] or []:
            subnet = ipaddress.ip_network(cfg["Subnet"])
            gateways.append(cfg.get("Gateway") or str(subnet.network_address + 1))
    info = net.runtime.get(f"{net.testnet.prefix}client")
    assert info is not None
    inside = info.ip_addresses[net.testnet.network]
    outside = [*gateways, info.ip_addresses[net.testnet.access_network]]
    script = "".join(
        f"if err=$(timeout 10 bash -c 'exec 3<>/dev/tcp/{ip}/{port}' 2>&1); "
        f"then echo 'REACHED {ip}'; else echo \"FAILED {ip}: $err\"; fi\n"
        for ip, port in [(inside, testnet.SOCKS_PORT), *[(ip, 9) for ip in gateways],
                         (outside[-1], testnet.SOCKS_PORT)])
    out = _run_probe(net.runtime, f"{PROBE}-route", script, timeout=60)
    assert f"REACHED {inside}" in out, out  # the client's SOCKS port on the test network
    for ip in outside:
        assert f"REACHED {ip}" not in out, out
        line = next(li for li in out.splitlines() if li.startswith(f"FAILED {ip}:"))
        assert "No route to host" in line or "Network is unreachable" in line, out


def _include(net: Net) -> str:
    runtime = net.runtime
    status, text = runtime.run_task(
        images.tor_image(runtime), ["cat", f"/include/{testnet.INCLUDE_FILE}"],
        [Mount(net.testnet.include_volume, "/include", read_only=True, volume=True)])
    assert status == 0, text
    return text


def test_stopped_or_removed_nodes_come_back_with_the_same_keys(net: Net) -> None:
    before = _include(net)
    for name in ("relay2", "client"):
        net.runtime.stop(f"{net.testnet.prefix}{name}", timeout=5)
    net.runtime.remove(f"{net.testnet.prefix}auth3")  # made again from its volume
    assert not net.testnet.is_up()
    with pytest.raises(errors.TestnetError, match="not up"):
        net.testnet.socks()
    start = time.monotonic()
    st = net.testnet.up()
    assert st.up and st.client_bootstrapped
    assert "resume_client_bootstrapped" in st.timings
    assert time.monotonic() - start < 60
    assert _include(net) == before  # same authorities: services keep working
    print(f"\nresumed in {time.monotonic() - start:.1f} s: {st.timings}")
    seconds = _onion_roundtrip(net, "resumed")
    print(f"onion service on the resumed testnet fetched {seconds:.1f} s after docker start")


def test_down_refuses_while_another_container_uses_the_network(net: Net) -> None:
    name = f"{PROBE}-foreign"
    rt = net.runtime
    rt.remove(name)
    rt.create(ContainerSpec(
        name=name, image=images.tor_image(rt), labels={},  # not ours: like a service
        entrypoint=["/usr/bin/tini", "--"], command=["sleep", "60"],
        user="10001:10001", network=net.testnet.network, mem_limit="16m"))
    try:
        with pytest.raises(errors.TestnetError, match=f"still used by {name}") as caught:
            net.testnet.down()
        assert "myonion rm" in (caught.value.hint or "")
        assert net.testnet.is_up()  # nothing was removed
    finally:
        rt.remove(name)


def test_a_failed_up_leaves_nothing_behind(net: Net) -> None:
    net.testnet.down()
    assert _labelled_leftovers(net.runtime) == []
    with pytest.raises(errors.TestnetError) as caught:
        net.testnet.up(timeout=7)
    assert "in time" in caught.value.message
    assert caught.value.detail and "[notice]" in caught.value.detail
    assert _labelled_leftovers(net.runtime) == []


def test_down_removes_everything_and_is_idempotent(net: Net) -> None:
    net.testnet.down()
    net.testnet.down()
    assert _labelled_leftovers(net.runtime) == []
    assert not net.runtime.network_exists(net.testnet.network)
    assert not net.testnet.is_up()
    st = net.testnet.status()
    assert not st.up and st.nodes == [] and st.socks is None
    with pytest.raises(errors.TestnetError, match="not up") as caught:
        net.testnet.socks()
    assert "testnet up" in (caught.value.hint or "")


def test_with_the_network_down_commands_say_so_and_what_to_do(
        net: Net, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """After down: `fetch` through the test network, and `testnet status`, through the CLI."""
    from myonion import cli
    from myonion.manager import Manager
    from myonion.services.store import StateStore

    assert not net.testnet.is_up()
    manager = Manager(runtime=net.runtime, store=StateStore(), testnet=net.testnet)
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    from myonion.keys import generate_onion_key

    onion = f"http://{generate_onion_key().address}/"
    capsys.readouterr()
    code = cli.main(["fetch", onion, "--timeout", "5"])
    err = " ".join(capsys.readouterr().err.split())
    print(err)
    assert code == 1 and "Traceback" not in err
    assert "The local Tor test network is not up" in err
    assert "hint: Start it with `myonion testnet up`" in err
    code = cli.main(["testnet", "status", "--name", NAME])
    out = capsys.readouterr().out
    assert code == 0 and "up: no" in out
