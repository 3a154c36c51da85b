"""The forward template end to end, on the real engine and the local test network.

A target is what it resolves to: an HTTP server in a container of ours answers through the onion
(a separate tor client, the test network's), while targets that lead back to the machine, the
container itself or the test network's own client are refused by the relay at each connection —
even with the share-time name filter taken off, so the container's own check is what holds —
and the service's log says which address was refused and why."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator

import pytest

from myonion import targets, testnet
from myonion.build import images
from myonion.events import Stage
from myonion.manager import Manager, container_name
from myonion.runtime.base import ContainerSpec
from myonion.runtime.docker import DockerRuntime
from myonion.templates import TemplateSpec
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

TARGET = f"myonion-fwdtarget-{os.getpid()}"
MARKER = f"forwarded {os.getpid()}"


@pytest.fixture
def forward_image(docker_runtime: DockerRuntime, real_manager: Manager) -> str:
    return images.template_image(docker_runtime, real_manager.template("forward"),
                                 lambda event: None)


@pytest.fixture
def target(docker_runtime: DockerRuntime, forward_image: str) -> Iterator[str]:
    """A plain HTTP server on port 8000 of a container on the test network (ours; removed)."""
    script = (f"mkdir -p /tmp/www && echo '{MARKER}' > /tmp/www/index.html && "
              "exec python3 -m http.server 8000 --bind 0.0.0.0 --directory /tmp/www")
    docker_runtime.create(ContainerSpec(
        name=TARGET, image=forward_image, labels={"org.myonion.test": "forward-target"},
        entrypoint=["bash", "-c", script], command=[], user="10002:10002",
        tmpfs={"/tmp": "rw,nosuid,nodev,size=8m"}, network=testnet.NETWORK, hostname=TARGET))
    try:
        docker_runtime.start(TARGET)
        yield TARGET
    finally:
        docker_runtime.remove(TARGET)


@pytest.fixture
def no_name_filter(real_manager: Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    """The forward's share-time pattern on target_host taken off (for this test only), so
    names it refuses at once reach the container: the relay's own check must hold."""
    real = real_manager.registry.get

    def get(template_id: str) -> TemplateSpec:
        spec = real(template_id)
        if template_id != "forward":
            return spec
        options = tuple(dataclasses.replace(o, pattern=None) if o.name == "target_host" else o
                        for o in spec.options)
        return dataclasses.replace(spec, options=options)

    monkeypatch.setattr(real_manager.registry, "get", get)


def test_forward_reaches_a_service_elsewhere(real_manager: Manager,
                                             docker_runtime: DockerRuntime, target: str) -> None:
    started = time.monotonic()
    view = real_manager.share("forward", {"target_host": target, "target_port": 8000},
                              name="fwdtest", timeout=120)
    print(f"forward: share → reachable {time.monotonic() - started:.1f} s, "
          f"timings {view.timings}")
    assert view.stage == Stage.REACHABLE and view.address
    proxy = real_manager.testnet.socks()
    response = fetch.http_get(f"http://{view.address}/", proxy)
    assert response.status == 200 and response.body.decode().strip() == MARKER
    # python's http.server names itself: the visitor sees the target's answer, nothing added
    assert response.headers.get("Server", "").startswith("SimpleHTTP")
    assert fetch.http_get(f"http://{view.address}/missing", proxy).status == 404
    # healthy while the target answers: the relay's own check, run as the healthcheck is
    check = real_manager.template("forward").healthcheck["test"]
    code, out = docker_runtime.exec(container_name("fwdtest"), check[1:])
    assert code == 0, out
    # the relay listens on loopback only
    code, out = docker_runtime.exec(container_name("fwdtest"), [
        "bash", "-c", "awk 'NR>1 && $4==\"0A\" {print $2}' /proc/net/tcp"])
    assert "0100007F:1F90" in out.split() and all(a[6:8] == "7F" for a in out.split()), out
    # nothing the visitor sent is in the log
    logs = "\n".join(real_manager.logs("fwdtest"))
    assert "GET /" not in logs and "refused:" not in logs

    # the target gone: the onion still answers the connection, but no HTTP comes back
    docker_runtime.kill(target)
    code, out = docker_runtime.exec(container_name("fwdtest"), check[1:])
    assert code != 0
    with pytest.raises(fetch.FetchError):
        fetch.http_get(f"http://{view.address}/", proxy, timeout=30)
    real_manager.remove("fwdtest", purge=True)


def client_address(real_manager: Manager) -> str:
    nodes = real_manager.testnet.status().nodes
    address = next(n.address for n in nodes if n.role == "client")
    assert address
    return address


def refusals(real_manager: Manager, name: str) -> list[str]:
    return [line for line in real_manager.logs(name) if "refused:" in line]


def attempt(proxy: tuple[str, int], address: str, payload: bytes) -> bytes:
    """What comes back through the onion for ``payload``: b"" when the relay closed it."""
    sock = fetch.socks_connect(proxy, address, 80, timeout=60)
    got = b""
    try:
        sock.settimeout(30)
        sock.sendall(payload)
        while chunk := sock.recv(4096):
            got += chunk
        return got
    except ConnectionResetError:
        return got
    except TimeoutError:
        return got + b" (still open after 30 s)"
    finally:
        sock.close()


SOCKS5_HELLO = b"\x05\x01\x00"  # a SOCKS5 greeting: the test network's client would answer 05 00
HTTP_GET = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(("host", "port", "resolved", "reason"), [
    ("ip6-localhost", 8080, "::1", "loopback"),
    # Docker's /etc/hosts has no localhost6 and the internal test network no outside DNS
    ("localhost6", 8080, None, "does not resolve"),
    ("localhost", 8080, "127.0.0.1", "loopback"),
    ("myonion-testnet-client", testnet.SOCKS_PORT, "CLIENT", "a node of the test network"),
    ("CLIENT", testnet.SOCKS_PORT, "CLIENT", "a node of the test network"),
    ("myonion-fwdbad", 8080, "SELF", "this container's own address"),
])
def test_forward_refuses_what_is_not_what_it_seems(
        real_manager: Manager, docker_runtime: DockerRuntime, no_name_filter: None,
        host: str, port: int, resolved: str | None, reason: str) -> None:
    """Each target leads back to the machine, the container or the test network's client
    (which would answer SOCKS5 and tunnel anyone anywhere on the test network): the onion
    takes the connection, the relay refuses it and says so, nothing comes back."""
    client = client_address(real_manager)
    host = host.replace("CLIENT", client)
    # share would refuse it (its probe finds the target refused): start it without waiting,
    # to look at it from the visitor's side
    real_manager.share("forward", {"target_host": host, "target_port": port},
                       name="fwdbad", wait=False)
    deadline = time.monotonic() + 60
    while not (view := real_manager.status("fwdbad", live=False)).address:
        assert time.monotonic() < deadline, view
        time.sleep(0.2)
    checked = real_manager.check("fwdbad", timeout=120)
    assert not checked.reachable and checked.onion_up, checked
    assert checked.error and reason in checked.error and host in checked.error, checked
    info = docker_runtime.get(container_name("fwdbad"))
    assert info is not None
    own = info.ip_addresses.get(testnet.NETWORK, "?")
    before = len(refusals(real_manager, "fwdbad"))
    proxy = real_manager.testnet.socks()
    payload = SOCKS5_HELLO if port == testnet.SOCKS_PORT else HTTP_GET
    assert attempt(proxy, view.address, payload) == b""
    # the attempt reached the relay, which refused it: the address it resolved to, and why
    if resolved is None:
        expected = f"refused: {host}:{port} {reason}"
    else:
        resolved = resolved.replace("CLIENT", client).replace("SELF", own)
        expected = f"refused: {host}:{port} resolves to {resolved}, which is {reason}"
    deadline = time.monotonic() + 10
    while len(refusals(real_manager, "fwdbad")) <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = refusals(real_manager, "fwdbad")
    assert len(lines) > before and any(expected in line for line in lines), lines
    print(f"forward to {host}:{port}: {lines[-1]}")
    # the healthcheck goes through the same check: unhealthy, with the reason
    check = real_manager.template("forward").healthcheck["test"]
    code, out = docker_runtime.exec(container_name("fwdbad"), check[1:])
    assert code != 0 and expected in out, out
    real_manager.remove("fwdbad", purge=True)


def test_the_docker_host_is_refused_from_a_bridge(docker_runtime: DockerRuntime,
                                                  forward_image: str) -> None:
    """On Docker's default bridge (where a forward on the Tor network runs) the relay's view
    of its own network, read from the real /proc, refuses its gateway and this machine's
    addresses, unless this machine is allowed. Python only: no tor is started."""
    host = targets.host_addresses()
    script = (
        "import json, sys; sys.path.insert(0, '/usr/local/lib/myonion'); "
        "import forward_guard as g, ipaddress as i; "
        "v = g.read_local_view(); "
        f"h = tuple(i.ip_network(a) for a in {host!r}); "
        f"addrs = sorted(map(str, v.gateways | v.own)) + {host!r}; "
        "checks = {a: [g.refusal(a, g.Guard(host=h), v), "
        "g.refusal(a, g.Guard(host=h, allow_this_machine=True), v)] for a in addrs}; "
        "print(json.dumps({'checks': checks, 'gateways': sorted(map(str, v.gateways))}))")
    name = f"myonion-fwdbridge-{os.getpid()}"
    docker_runtime.create(ContainerSpec(
        name=name, image=forward_image, labels={"org.myonion.test": "forward-bridge"},
        entrypoint=["python3", "-c", script], command=[], user="10002:10002",
        network="bridge"))
    try:
        docker_runtime.start(name)
        deadline = time.monotonic() + 30
        while (info := docker_runtime.get(name)) and info.running and time.monotonic() < deadline:
            time.sleep(0.2)
        out = json.loads([line for line in docker_runtime.logs(name) if line.startswith("{")][-1])
    finally:
        docker_runtime.remove(name)
    checks = out["checks"]
    assert out["gateways"], out  # the bridge's gateway, read from /proc/net/route
    for gateway in out["gateways"]:
        assert "gateway" in checks[gateway][0] and checks[gateway][1] is None, out
    for address in host:
        if address not in out["gateways"]:
            assert "an address of this machine" in checks[address][0], out
            assert checks[address][1] is None, out
    own = [a for a, (why, _) in checks.items() if why and "own address" in why]
    assert own, out  # the container's own address, from /proc/net/fib_trie
    for address in own:
        assert checks[address][1] is not None, out  # allowing this machine never allows itself
