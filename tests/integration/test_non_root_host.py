"""myonion run by an ordinary host user (a member of the ``docker`` group, as on a Pi), not root:
share, ls, check, stop/start and rm through the real CLI, on the real engine and test network.

Root on the host hands a service's control directory and its secret files to the container's
user with chown; an ordinary user cannot, so one-off root containers do it. This test runs the
CLI as such a user and checks that the service serves, that the secret file is 0600 and the
container's, that the user can still read the address and talk to tor, and that ``rm`` leaves
nothing behind (no directory it could not delete).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from myonion.runtime.docker import DockerRuntime
from tests.inside import SERVICE_UID
from tests.integration.conftest import IN_CI

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

USER = "myonion-it-user"
TOKEN = "NonRootToken-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class HostUser:
    name: str
    uid: int
    gid: int
    home: Path
    myonion: Path  # the command, in a virtualenv the user can run

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
               "MYONION_HOME": str(self.home / "myonion"), "MYONION_NETWORK": "local",
               "LANG": "C.UTF-8"}
        return subprocess.run(["runuser", "-u", self.name, "--", "env", "-i",
                               *(f"{k}={v}" for k, v in env.items()), str(self.myonion), *args],
                              capture_output=True, text=True, timeout=timeout)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must run the non-root test: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def host_user(docker_runtime: DockerRuntime, testnet_session: object) -> Iterator[HostUser]:
    if os.geteuid() != 0:
        _unavailable("making a host user needs root")
    socket_group = grp.getgrgid(os.stat("/var/run/docker.sock").st_gid).gr_name
    if socket_group == "root":
        _unavailable("the Docker socket belongs to group root, so no other user can use it")
    made = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "-G", socket_group, USER], check=True)
        made = True
    entry = pwd.getpwnam(USER)
    home = Path(tempfile.mkdtemp(prefix="myonion-it-user-"))
    # myonion installed as a user of a Pi would have it: the system's python3 (this session's
    # interpreter may live where other users cannot go), in a virtualenv they can read
    venv = Path(tempfile.mkdtemp(prefix="myonion-it-venv-"))
    try:
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)], check=True,
                       timeout=600)
        subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        os.chmod(home, 0o700)
        yield HostUser(USER, entry.pw_uid, entry.pw_gid, home, venv / "bin" / "myonion")
    finally:
        # the user's services, should a test have failed half-way
        for c in docker_runtime.client.containers.list(all=True, filters={"name": "nonroot-"}):
            c.remove(force=True, v=True)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(venv, ignore_errors=True)
        if made:
            subprocess.run(["userdel", USER], check=False)


def test_an_ordinary_user_shares_checks_and_removes(host_user: HostUser) -> None:
    share = host_user.run("share", "iot-receiver", "--name", "nonroot-iot", "--persistent",
                          "-o", f"devices=kitchen:{TOKEN}")
    print(share.stdout, share.stderr)
    assert share.returncode == 0, share.stderr
    assert "Traceback" not in share.stderr
    service = host_user.home / "myonion" / "data" / "services" / "nonroot-iot"
    # the control directory: tor's (it runs as 10001 with the user's group), 0750 as tor
    # insists; the hostname, cookie and socket are the user's group's to read and use
    ctl = service / "ctl"
    st = ctl.stat()
    assert (st.st_uid, st.st_gid) == (10001, host_user.gid)
    assert stat.S_IMODE(st.st_mode) == 0o750
    for name in ("hostname", "control.authcookie", "control.sock"):
        assert (ctl / name).stat().st_gid == host_user.gid, name
    # the secret file: 0600, the service's user's (not tor's, 10001), unreadable to the user who
    # made it
    secret = [p for p in (service / "conf").iterdir() if p.is_file() and TOKEN in p.read_text()]
    assert secret, "no runtime file holds the device token"
    for path in secret:
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == SERVICE_UID, path
    address = host_user.run("address", "nonroot-iot")
    assert address.returncode == 0 and address.stdout.strip().endswith(".onion"), address
    ls = host_user.run("ls")
    assert ls.returncode == 0 and "nonroot-iot" in ls.stdout and TOKEN not in ls.stdout
    check = host_user.run("check", "nonroot-iot", "--timeout", "90")
    print(check.stdout, check.stderr)
    assert check.returncode == 0 and "reachable" in check.stdout, check.stderr
    # stop and start: the leftovers in the control directory are tidied by the user
    for command in ("stop", "start"):
        done = host_user.run(command, "nonroot-iot")
        assert done.returncode == 0, done.stderr
    again = host_user.run("address", "nonroot-iot")
    assert again.stdout.strip() == address.stdout.strip()  # persistent: the same address
    # rm keeps what the user made (the key: its address); --purge, run by the user too, destroys
    # it, tor-owned files included
    removed = host_user.run("rm", "nonroot-iot")
    print(removed.stdout, removed.stderr)
    assert removed.returncode == 0, removed.stderr
    assert service.exists()
    purged = host_user.run("rm", "--purge", "nonroot-iot")
    assert purged.returncode == 0, purged.stderr
    assert not service.exists()
    assert host_user.run("ls").stdout.count("nonroot-iot") == 0
