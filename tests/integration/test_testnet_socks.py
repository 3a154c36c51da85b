"""The test network's client answers this machine's loopback only (issue 14).

It holds the client key of every private service, so a container on the test network must not
use its SOCKS port. From inside a local-mode service (a shared site) and from a container placed
like a service that publishes a LAN port (on the test network *and* its access bridge), every
address the client has is tried with a SOCKS5 greeting. Each attempt reaches the client and is
refused there: where tor does not listen, the client's kernel answers "connection refused"
(its listening sockets are read from inside it: the SOCKS port on its access address and,
for `docker exec`, a control port on its own loopback, which a service is refused too);
where it does, tor closes the connection
without a SOCKS reply and logs "Denying socks connection from untrusted address". The site is
still fetched from this machine, through the published port.

The module makes a test network of its own (NAME), so its client is always rendered by the code
under test, and the default one (shared, maybe made earlier) is never touched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from myonion import testnet as tn
from myonion.build import images
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_ROLE, ContainerSpec
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.testnet.access import access_plan

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

NAME = "myonion-it-socks"

#: tries a SOCKS5 greeting on port 9050 of every address given; one line per address:
#: "SOCKS <ip> rc=<status> <what happened>", rc 3 when the connection was not made
SOCKS_TRY = r"""
for ip in "$@"; do
  out=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/9050" || exit 3
    printf "\x05\x01\x00" >&3
    echo "reply=[$(head -c 2 <&3 | od -An -tx1 | tr -d " \n")]"' "$ip" 2>&1)
  echo "SOCKS $ip rc=$? $(echo $out)"
done
"""
LINE_RE = re.compile(r"^SOCKS (\S+) rc=(\d+) (.*)$", re.MULTILINE)
DENIED = "Denying socks connection from untrusted address {}."


@pytest.fixture(scope="module")
def net(docker_runtime: DockerRuntime,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tn.Testnet]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MYONION_HOME", str(tmp_path_factory.mktemp("socks-home")))
        network = tn.Testnet(docker_runtime, name=NAME)
        network.up()
        try:
            yield network
        finally:
            network.down()


@pytest.fixture
def manager(docker_runtime: DockerRuntime, net: tn.Testnet) -> Iterator[Manager]:
    """The real manager, its local-mode services on this module's test network."""
    manager = Manager(runtime=docker_runtime, store=StateStore(), testnet=net)
    yield manager
    for view in manager.list():
        manager.remove(view.name)


def _attempts(output: str) -> dict[str, tuple[int, str]]:
    return {ip: (int(rc), what) for ip, rc, what in LINE_RE.findall(output)}


def _client(runtime: DockerRuntime, net: tn.Testnet) -> tuple[str, dict[str, str], str]:
    """The client's container name, its address on each network, and its access gateway."""
    info = runtime.get(f"{net.prefix}client")
    assert info is not None and info.running
    assert tn.LABEL_ACCESS in info.labels, info.labels
    return info.name, dict(info.ip_addresses), access_plan(info.labels[tn.LABEL_ACCESS]).gateway


def _listeners(runtime: DockerRuntime, container: str) -> set[str]:
    """The TCP ports listened on inside a container ("ip:port"), but Docker's own DNS."""
    code, text = runtime.exec(container, ["cat", "/proc/net/tcp"])
    assert code == 0, text
    found = set()
    for line in text.splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state != "0A":
            continue
        address, port = local.split(":")
        ip = ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
        if ip != "127.0.0.11":
            found.add(f"{ip}:{int(port, 16)}")
    return found


def _denied(runtime: DockerRuntime, client: str, ip: str) -> int:
    return sum(DENIED.format(ip) in line for line in runtime.logs(client))


def test_a_local_mode_service_cannot_use_the_client(
        manager: Manager, net: tn.Testnet, docker_runtime: DockerRuntime, site_dir: Path) -> None:
    view = manager.share("site", {"dir": str(site_dir)}, name="socks-probe", timeout=90)
    client, addresses, _ = _client(docker_runtime, net)
    inside, bridge = addresses[net.network], addresses[net.access_network]
    code, output = docker_runtime.exec(container_name("socks-probe"),
                                       ["bash", "-c", SOCKS_TRY, "bash", inside, bridge])
    print(output)
    assert code == 0, output
    tried = _attempts(output)
    assert set(tried) == {inside, bridge}, output
    # reached the client, whose kernel refused: tor listens on its access address only
    assert tried[inside][0] == 3 and "Connection refused" in tried[inside][1], output
    # and its control port (for `docker exec`: Testnet.forget_onions) is on its own loopback
    assert _listeners(docker_runtime, client) == {f"{bridge}:{tn.SOCKS_PORT}",
                                                  f"127.0.0.1:{tn.CLIENT_CONTROL_PORT}"}
    code, output = docker_runtime.exec(container_name("socks-probe"), [
        "bash", "-c", 'timeout 10 bash -c "exec 3<>/dev/tcp/$0/$1" 2>&1; echo "rc=$?"',
        inside, str(tn.CLIENT_CONTROL_PORT)])
    assert "Connection refused" in output and "rc=0" not in output, output
    # the access bridge is not even reachable from the test network
    assert tried[bridge][0] == 3, output
    assert re.search("No route to host|Network is unreachable", tried[bridge][1]), output

    # this machine still fetches it, through the published port
    response = manager.fetch(f"http://{view.address}/", timeout=60)
    assert response.status == 200
    assert response.body.decode() == (site_dir / "index.html").read_text()


def test_a_service_on_the_access_bridge_cannot_use_the_client(
        net: tn.Testnet, docker_runtime: DockerRuntime) -> None:
    """Placed like a local-mode service that publishes a LAN port (see the manager's
    container spec): on the test network, and on the access bridge at an address of its own."""
    client, addresses, gateway = _client(docker_runtime, net)
    inside, bridge = addresses[net.network], addresses[net.access_network]
    _, published = net.socks()
    name = "myonion-it-socks-lan"
    docker_runtime.remove(name)
    probe = ContainerSpec(
        name=name, image=images.tor_image(docker_runtime), labels={LABEL_ROLE: "testnet-probe"},
        entrypoint=["/usr/bin/tini", "--"], command=["sleep", "120"], user="10001:10001",
        network=net.network, extra_networks=[net.access_network], mem_limit="32m")
    docker_runtime.create(probe)
    try:
        docker_runtime.start(name)
        info = docker_runtime.get(name)
        assert info is not None
        own = info.ip_addresses[net.access_network]
        before = _denied(docker_runtime, client, own)
        script = SOCKS_TRY + (
            f"timeout 10 bash -c 'exec 3<>/dev/tcp/{gateway}/{published}' 2>&1 "
            "&& echo 'PUBLISHED reached' || echo 'PUBLISHED refused'\n")
        code, output = docker_runtime.exec(name, ["bash", "-c", script, "bash", inside, bridge])
        print(output)
        assert code == 0, output
        tried = _attempts(output)
        assert tried[inside][0] == 3 and "Connection refused" in tried[inside][1], output
        # tor took the connection and closed it without a SOCKS reply ...
        assert tried[bridge][0] == 0 and "reply=[]" in tried[bridge][1], output
        # ... because of who asked
        deadline = time.monotonic() + 10
        while _denied(docker_runtime, client, own) == before:
            assert time.monotonic() < deadline, "\n".join(docker_runtime.logs(client))
            time.sleep(0.2)
        # and the published port is on this machine's loopback, not on the bridge's gateway
        assert "PUBLISHED refused" in output, output
    finally:
        docker_runtime.remove(name)
    assert net.is_up()
