"""The Raspberry Pi's architectures, the long runs (marked heavy: ``scripts/test-heavy.sh``):

- an armhf site (32-bit Raspberry Pi OS on a Pi 2/3) through the onion, its processes ARM
  (ELF32) programs;
- the whole ``compose/pi-iot-gateway`` stack for arm64, the way a Pi with no mirror gets it:
  bundled on this machine (the laptop), then loaded and brought up by *a Pi's own myonion* —
  myonion running as an aarch64 program (Debian arm64's python3, under emulation; installed
  from the wheels scripts/pi-wheels.sh makes, with no index), which finds this machine to be
  arm64 by itself: no override, the architecture check is the real one. It
  talks to this machine's engine, which runs arm64 images through emulation: there is no arm64
  engine here. Its ``bundle load`` runs with no network at all, its ``up`` builds nothing.
  Then real clients on this host use it: mosquitto_pub publishes over TLS on the gateway's LAN
  port, curl reads the reading back from the (private) receiver's onion, OpenSSH logs in
  through the shell's private onion (with the admin client key) and ``uname -m`` there says
  aarch64.

The gateway is the current one (issue 20): no secret is written in its file, the Pi's myonion
makes one for every device at ``up`` and a CA of the gateway's own; the LAN speaks MQTT over
TLS only. So the secrets and the CA are read the way a user reads them (``myonion secrets
NAME --json --ca-file``), mosquitto_pub publishes as device kitchen with its own secret over TLS
pinned to that CA (plaintext is refused), and the readings are read back through the private
receiver's onion with the owner's client key.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from myonion import arch, deploy
from myonion.build import images
from myonion.cli import main
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.testnet import Testnet
from tests import archproof
from tests.integration.test_arch_arm64 import curl
from tests.integration.test_iot_gateway import mosquitto_pub, say
from tests.integration.test_ssh import ssh
from tests.ports import free_port
from tests.torclient import fresh_client

pytestmark = [pytest.mark.integration, pytest.mark.testnet, pytest.mark.emulated,
              pytest.mark.heavy]

ROOT = Path(__file__).resolve().parents[2]
RECEIVER, GATEWAY, SHELL = "piarch-receiver", "piarch-gateway", "piarch-shell"
#: the devices of compose/pi-iot-gateway, each with a secret myonion makes at the first ``up``
DEVICES = {"kitchen", "garden", "health"}
#: the folder of the wheels scripts/pi-wheels.sh makes (made afresh when not given)
WHEELS_ENV = "MYONION_PI_WHEELS"

def test_an_armhf_site_through_the_onion(real_manager: Manager, docker_runtime: DockerRuntime,
                                         emulated_base: Callable[[str], str],
                                         site_dir: Path) -> None:
    emulated_base("armhf")
    started = time.monotonic()
    view = real_manager.share("site", {"dir": str(site_dir)}, name="piarch-site32",
                              arch="armhf", timeout=300)
    print(f"armhf site: share → reachable {time.monotonic() - started:.1f} s; "
          f"timings {view.timings}")
    assert view.stage == "reachable" and view.arch == "armhf" and view.address
    record = real_manager.store.get("piarch-site32")
    assert record is not None and docker_runtime.image_platform(record.image) == ("arm", "v7")
    page = curl(real_manager.testnet.socks(), f"http://{view.address}/")
    assert page == (site_dir / "index.html").read_text()
    print(f"armhf site: curl through the onion {view.address}: {page.strip()}")
    found = archproof.assert_really(docker_runtime, container_name("piarch-site32"), "armhf")
    assert {"tini", "tor", "nginx"} <= {p.comm for p in found}
    assert all(os.path.basename(p.runner) == "qemu-arm-static" for p in found)


# --- the gateway, bundled here, loaded and run by a Pi's own myonion ---------------------------
def gateway_file(folder: Path, lan_port: int, http_port: int, public_key: str) -> Path:
    """compose/pi-iot-gateway/myonion.yaml with this test's names, its LAN ports (MQTT/TLS and
    HTTPS) free ones on loopback, and the bridge's memory limit raised by qemu-user's share
    (arch.EMULATION_MEMORY): the Pi's myonion here rightly takes itself for native, but the
    engine it talks to emulates arm64, and at 128m the emulated bridge is killed (measured:
    ~140 MiB idle under emulation, ~25 on its own; bench/results/pi_memory.md)."""
    text = (ROOT / "compose" / "pi-iot-gateway" / "myonion.yaml").read_text()
    for old, new in (("name: pi-iot-gateway", "name: piarch-gateway"),
                     ("\n  receiver:\n", f"\n  {RECEIVER}:\n"), ("${receiver.", f"${{{RECEIVER}."),
                     ("\n  gateway:\n", f"\n  {GATEWAY}:\n"), ("\n  shell:\n", f"\n  {SHELL}:\n"),
                     ("lan_port: 8883", f"lan_port: {lan_port}"),
                     ("lan_http_port: 8443", f"lan_http_port: {http_port}"),
                     ("lan_address: 0.0.0.0", "lan_address: 127.0.0.1"),
                     ("memory: 128m", f"memory: {arch.memory_limit('128m', 'arm64')}")):
        assert old in text, old
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "myonion.yaml").write_text(text)
    (folder / "authorized_keys").write_text(public_key)
    return folder / "myonion.yaml"


@pytest.fixture(scope="session")
def pi_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels a Pi with no network installs myonion from (scripts/pi-wheels.sh: myonion's
    own built from this tree, its dependencies for Python 3.11 on aarch64 downloaded)."""
    given = os.environ.get(WHEELS_ENV)
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("pi-wheels")
    subprocess.run([str(ROOT / "scripts" / "pi-wheels.sh"), str(out)], check=True,
                   timeout=600)
    return out


@pytest.fixture(scope="session")
def pi_myonion(docker_runtime: DockerRuntime, emulated_base: Callable[[str], str],
               pi_wheels: Path) -> str:
    """A stand-in for a Pi's userland: Debian arm64 with python3 (the python layer) and
    python3-venv, as Raspberry Pi OS has them, and myonion installed the way
    docs/raspberry-pi.md says, from the wheels alone (``pip install --no-index``)."""
    emulated_base("arm64")
    python = images.python_image(docker_runtime, arch="arm64")
    files = {f"wheels/{w.name}": w.read_bytes() for w in sorted(pi_wheels.glob("*.whl"))}
    files["Dockerfile"] = (
        f"FROM {python}\nUSER 0:0\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y --no-install-recommends python3-venv "
        "&& rm -rf /var/lib/apt/lists/*\nCOPY wheels/ /wheels/\n"
        "RUN python3 -m venv /opt/myonion && /opt/myonion/bin/pip install --no-index "
        "--find-links /wheels myonion\nENTRYPOINT []\n").encode()
    digest = hashlib.sha256(b"".join(hashlib.sha256(n.encode() + files[n]).digest()
                                     for n in sorted(files))).hexdigest()[:16]
    tag = f"myonion-test/pi-myonion:{digest}"
    if not docker_runtime.image_exists(tag):
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        context.seek(0)
        docker_runtime.build(context, tag, {"org.myonion.test": "pi-myonion"},
                             lambda _line: None)
    assert docker_runtime.image_platform(tag) == ("arm64", "v8")
    return tag


def on_the_pi(image: str, home: Path, folder: Path, *args: str, network: str) -> str:
    """Run ``myonion ARGS`` as an aarch64 program (installed from the wheels, see
    :func:`pi_myonion`) on this engine;
    its output. ``network``: "none" (no network at all) or "host" (this host's, for tor's
    SOCKS port of the test network)."""
    command = ["docker", "run", "--rm", f"--network={network}",
               "-v", "/var/run/docker.sock:/var/run/docker.sock",
               "-v", f"{home}:{home}", "-v", f"{folder}:{folder}",
               "-e", f"MYONION_HOME={home}", "-e", "MYONION_NETWORK=local",
               "-w", str(folder), image, "/opt/myonion/bin/python", "-c",
               "import platform, sys; from myonion.cli import main; "
               "print('myonion runs as', platform.machine(), file=sys.stderr); "
               "sys.exit(main())", *args]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    say(f"on the Pi: myonion {' '.join(args)} ({time.monotonic() - started:.0f} s)\n"
        f"{done.stderr.strip()}\n{done.stdout.strip()}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "myonion runs as aarch64" in done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def ssh_key(tmp_path: Path) -> Path:
    if shutil.which("ssh") is None or shutil.which("nc") is None:
        pytest.fail("this test needs OpenSSH's client and netcat-openbsd "
                    "(scripts/setup-host.sh installs them)", pytrace=False)
    key = tmp_path / "id_pi"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pi-admin", "-f",
                    str(key)], check=True)
    return key


@pytest.fixture
def gateway_down(real_manager: Manager, tmp_path: Path) -> Iterator[Path]:
    pi = tmp_path / "pi"
    yield pi
    if (pi / "myonion.yaml").exists():
        deploy.down(real_manager, pi / "myonion.yaml", purge=True)


def test_the_pi_gateway_bundled_here_runs_from_a_pis_own_myonion(
        real_manager: Manager, docker_runtime: DockerRuntime, pi_myonion: str, ssh_key: Path,
        tmp_path: Path, gateway_down: Path, myonion_home: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("mosquitto_pub") is None or shutil.which("openssl") is None:
        pytest.fail("scripts/setup-host.sh installs mosquitto-clients and openssl", pytrace=False)
    laptop, pi = tmp_path / "laptop", gateway_down
    port = free_port()
    file = gateway_file(laptop, port, free_port(), ssh_key.with_suffix(".pub").read_text())
    # the laptop: builds what is missing, bundles it for a 64-bit Pi
    monkeypatch.setattr("myonion.cli.common.manager", lambda reporter=None: real_manager)
    started = time.monotonic()
    assert main(["bundle", "--arch", "arm64", "-f", str(file), "-o", str(tmp_path / "gw.tar")]) == 0
    made = capsys.readouterr().err
    with capsys.disabled():
        print(f"\nlaptop: bundle made in {time.monotonic() - started:.0f} s: {made.strip()}")
    tags = [t for t in made.partition("(")[2].rstrip(")\n").split(", ")]
    assert len(tags) == 5 and all(t.endswith("-arm64") for t in tags), tags
    # the Pi has not got the gateway's own images (the base and the tor layer other tests
    # share stay): the bundle brings them
    gone = [t for t in tags if t.split("/")[1].split(":")[0] in (
        "iot-receiver", "mqtt-bridge", "ssh")]
    for tag in gone:
        docker_runtime.client.images.remove(tag, force=False, noprune=True)
    assert not any(docker_runtime.image_exists(t) for t in gone)
    pi.mkdir()
    shutil.copy(tmp_path / "gw.tar", pi / "gw.tar")
    loaded = on_the_pi(pi_myonion, myonion_home, pi, "bundle", "load", "gw.tar", "--to", ".",
                       network="none")
    assert "loaded 5 arm64 images" in loaded
    assert all(docker_runtime.image_exists(t) for t in gone)
    # the SSH key file the deployment names comes along with the file (it is no image)
    shutil.copy(laptop / "authorized_keys", pi / "authorized_keys")
    up = on_the_pi(pi_myonion, myonion_home, pi, "up", "-f", "myonion.yaml", network="host")
    # "[building] … Preparing the image" is said either way; a build says "Building …"
    assert "Building" not in up and "Built " not in up, up
    for service in (RECEIVER, GATEWAY, SHELL):
        assert f"{service}: create" in up
        view = real_manager.status(service)
        assert view.arch == "arm64" and view.stage == "reachable", view
        with capsys.disabled():  # its uname -m and programs, in the test's report
            archproof.assert_really(docker_runtime, container_name(service), "arm64")
    secret, ca = gateway_secrets(capsys, pi / "myonion.yaml", tmp_path / "ca.crt")
    use_the_gateway(real_manager, docker_runtime, port, secret, ca, ssh_key, tmp_path)


def gateway_secrets(capsys: pytest.CaptureFixture[str], file: Path,
                    ca: Path) -> tuple[dict[str, str], Path]:
    """The device secrets the Pi's myonion made for the gateway at ``up``, and its CA written
    to ``ca``, as a user gets them: ``myonion secrets GATEWAY --json --ca-file CA``. The
    secrets are the gateway's own (not the receiver's tokens) and written nowhere in the
    file."""
    def secrets(*args: str) -> dict[str, Any]:
        capsys.readouterr()
        status = main(["secrets", *args, "--json"])
        captured = capsys.readouterr()
        assert status == 0, captured.err[-3000:]
        shown: dict[str, Any] = json.loads(captured.out)
        return shown

    shown = secrets(GATEWAY, "--ca-file", str(ca))
    secret = {d["device"]: d["secret"] for d in shown["devices"]}
    assert set(secret) == DEVICES and all(len(s) == 32 for s in secret.values()), secret
    fingerprint = subprocess.run(["openssl", "x509", "-in", str(ca), "-noout", "-fingerprint",
                                  "-sha256"], capture_output=True, text=True, check=True).stdout
    assert shown["tls"]["fingerprint"] == "SHA256:" + fingerprint.split("=")[1].strip()
    made = {d["device"]: d["secret"] for d in secrets(RECEIVER)["devices"]}
    tokens = set(made.values())
    assert set(made) == DEVICES and not tokens & set(secret.values()), made
    assert not any(s in file.read_text() for s in [*secret.values(), *tokens])
    say(f"gateway: secrets made by the Pi's myonion for {sorted(secret)}; "
        f"CA {shown['tls']['fingerprint']}")
    return secret, ca


def use_the_gateway(manager: Manager, runtime: DockerRuntime, port: int,
                    secret: dict[str, str], ca: Path, key: Path, tmp_path: Path) -> None:
    """Real clients: mosquitto_pub over TLS on the LAN port (as device kitchen, with its
    secret; plaintext refused), curl through the private receiver's onion with the owner's
    key, OpenSSH through the shell's private onion with the admin's."""
    reading = {"temp": 21.5, "from": "arm64"}
    plain = mosquitto_pub(port, "kitchen", secret["kitchen"], {"via": "plaintext"})
    assert plain[0] != 0, plain
    sent = mosquitto_pub(port, "kitchen", secret["kitchen"], reading, cafile=str(ca))
    assert sent[0] == 0, sent
    receiver, shell = manager.address(RECEIVER), manager.address(SHELL)
    net = manager.testnet
    assert isinstance(net, Testnet)
    lines = {"owner": manager.client_line(RECEIVER, "owner"),
             "admin": manager.client_line(SHELL, "admin")}
    with fresh_client(runtime, net, lines) as client:
        deadline, readings = time.monotonic() + 180, list[Any]()
        while time.monotonic() < deadline and not readings:
            body = curl(client.socks, f"http://{receiver}/api/v1/readings/kitchen")
            readings = [r["data"] for r in json.loads(body)["readings"]]
            time.sleep(2)
        assert readings == [reading]
        say(f"gateway: MQTT/TLS on 127.0.0.1:{port} (plaintext refused: exit {plain[0]}) → "
            f"bridge → onion → private receiver: {readings}")
        page = curl(client.socks, f"http://{receiver}/")
        assert "Pi readings" in page
        login = ssh(client.socks, shell, key, tmp_path / "known_hosts", "uname", "-m", ";",
                    "id", "-un")
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == ["aarch64", "myonion"], login.stdout
    say(f"gateway: ssh through the shell's private onion: uname -m; id -un → "
        f"{login.stdout.split()}")
