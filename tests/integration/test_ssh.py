"""The ssh template end to end: OpenSSH's own client logs in through the test network."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from myonion.events import Stage
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime

pytestmark = [pytest.mark.integration, pytest.mark.testnet]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    if shutil.which("ssh") is None or shutil.which("nc") is None:
        pytest.fail("the ssh tests need OpenSSH's client and netcat-openbsd "
                    "(scripts/setup-host.sh installs them)", pytrace=False)
    made = {}
    for who in ("good", "wrong"):
        path = tmp_path / f"id_{who}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f",
                        str(path)], check=True)
        made[who] = path
    return made


def ssh(proxy: tuple[str, int], address: str, key: Path, known_hosts: Path, *command: str,
        user: str = "myonion", extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    host, port = proxy
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes",
         "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=60",
         "-o", f"ProxyCommand=nc -X 5 -x {host}:{port} %h %p", *extra,
         "-p", "22", f"{user}@{address}", *command],
        capture_output=True, text=True, timeout=120)


def test_ssh_login_with_key_only(real_manager: Manager, docker_runtime: DockerRuntime,
                                 keys: dict[str, Path], tmp_path: Path) -> None:
    public = keys["good"].with_suffix(".pub").read_text()
    started = time.monotonic()
    view = real_manager.share("ssh", {"authorized_keys": public}, name="sshtest",
                              persistent=True, timeout=120)
    reachable = time.monotonic() - started
    assert view.stage == Stage.REACHABLE and view.address
    print(f"ssh: share → reachable {reachable:.1f} s, timings {view.timings}")
    proxy = real_manager.testnet.socks()
    known = tmp_path / "known_hosts"

    ok = ssh(proxy, view.address, keys["good"], known, "echo", "hello", "from", "$(id -un)")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "hello from myonion\n"
    # the host key the client pinned is the one the service logged at its first start
    logs = "\n".join(docker_runtime.logs(container_name("sshtest")))
    assert "myonion-sshd: made a new host key" in logs
    assert "accepts 256 SHA256:" in logs

    wrong = ssh(proxy, view.address, keys["wrong"], known, "echo", "hello")
    assert wrong.returncode == 255 and "Permission denied (publickey)" in wrong.stderr
    assert wrong.stdout == ""
    # no other user (root included), and no password or keyboard-interactive prompt on offer
    root = ssh(proxy, view.address, keys["good"], known, "true", user="root")
    assert root.returncode == 255 and "Permission denied (publickey)" in root.stderr
    # port forwarding is refused
    fwd = ssh(proxy, view.address, keys["good"], known, extra=("-W", "127.0.0.1:2222"))
    assert fwd.returncode != 0 and "administratively prohibited" in fwd.stderr

    # the service listens on loopback only, as the unprivileged user
    code, out = docker_runtime.exec(container_name("sshtest"), ["bash", "-c", (
        "cat /proc/net/tcp | awk 'NR>1 {print $2, $4}'; for d in /proc/[0-9]*; do "
        "[ \"$(cat $d/comm)\" = sshd ] && awk '/^Uid:/ {print \"sshd\", $2}' $d/status; done")])
    assert code == 0
    listening = [line.split()[0] for line in out.splitlines() if line.endswith(" 0A")]
    # (127.0.0.11 is Docker's embedded DNS resolver; everything is on 127/8)
    assert "0100007F:08AE" in listening and all(a[6:8] == "7F" for a in listening), out
    # sshd and the logged-in user are the service's user (10002), not tor's (10001)
    assert {line for line in out.splitlines() if line.startswith("sshd")} == {"sshd 10002"}, out
    whoami = ssh(proxy, view.address, keys["good"], known, "id", "-u")
    assert whoami.stdout == "10002\n", whoami.stderr

    # persistent: the same address and the same host key after a restart
    pinned = known.read_text()
    real_manager.stop("sshtest")
    again = real_manager.start("sshtest", timeout=120)
    assert again.address == view.address
    after = ssh(proxy, again.address, keys["good"], known, "echo", "again")
    assert after.returncode == 0 and after.stdout == "again\n", after.stderr
    assert known.read_text() == pinned
    assert "made a new host key" not in "\n".join(
        docker_runtime.logs(container_name("sshtest"), tail=20))

    # the template's HEALTHCHECK command passes inside the container
    check = real_manager.template("ssh").healthcheck["test"]
    code, out = docker_runtime.exec(container_name("sshtest"), check[1:])
    assert code == 0, out

    real_manager.remove("sshtest", purge=True)
    assert not any(v.startswith("myonion-sshtest") for v in docker_runtime.list_volumes({}))
