"""SSH that an idle crowd cannot lock (issue 16): while silent connections are held open through
the onion, a real login (OpenSSH's client, key auth, through the test network's SOCKS port)
still gets in; and tor closes a circuit that opens more streams than the template allows."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from myonion import tor
from myonion.manager import Manager
from tests.crowd import is_open, silent_crowd
from tests.integration.test_ssh import ssh

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

#: the silent connections of issue 16's attack, on circuits of the template's max_streams
CROWD, PER_CIRCUIT = 70, 10


@pytest.fixture
def key(tmp_path: Path) -> Path:
    if shutil.which("ssh") is None or shutil.which("nc") is None:
        pytest.fail("the ssh tests need OpenSSH's client and netcat-openbsd "
                    "(scripts/setup-host.sh installs them)", pytrace=False)
    path = tmp_path / "id_crowd"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def test_a_login_gets_in_while_a_crowd_waits(real_manager: Manager, key: Path,
                                             tmp_path: Path) -> None:
    public = key.with_suffix(".pub").read_text()
    view = real_manager.share("ssh", {"authorized_keys": public}, name="hl-sshcrowd", timeout=120)
    assert view.stage == "reachable" and view.address
    controller = tor.connect(real_manager.context.control_dir("hl-sshcrowd"))
    try:
        options = str(controller.msg("GETCONF HiddenServiceOptions"))
    finally:
        controller.close()
    assert f"HiddenServiceMaxStreams={PER_CIRCUIT}" in options, options
    assert "HiddenServiceMaxStreamsCloseCircuit=1" in options, options
    proxy = real_manager.testnet.socks()
    known = tmp_path / "known_hosts"

    # one circuit cannot hold more than max_streams: the stream past it closes the circuit,
    # and with it the connections it held
    with silent_crowd(proxy, view.address, 22, PER_CIRCUIT, 1, tag="one") as first:
        assert len(first) == PER_CIRCUIT and all(is_open(s) for s in first)
        with silent_crowd(proxy, view.address, 22, 1, 1, tag="one", timeout=30):
            deadline = time.monotonic() + 20
            while any(is_open(s) for s in first) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert not any(is_open(s) for s in first)

    # 70 silent connections over 7 circuits (each at the limit tor allows) are all held by
    # sshd, and a real login still gets in beside them
    started = time.monotonic()
    with silent_crowd(proxy, view.address, 22, CROWD, CROWD // PER_CIRCUIT,
                      tag="many") as crowd:
        opened = time.monotonic() - started
        login = time.monotonic()
        result = ssh(proxy, view.address, key, known, "echo", "in")
        took = time.monotonic() - login
        held = sum(is_open(s) for s in crowd)
        assert result.returncode == 0 and result.stdout == "in\n", (result.stderr, held)
        # and none of the crowd was turned away: there was room for all of them
        assert len(crowd) == held == CROWD, f"{held} of {CROWD} held after {opened:.1f} s"
    print(f"ssh crowd: {CROWD} silent opened in {opened:.1f} s; login took {took:.1f} s while "
          f"{held} of them were held")
    real_manager.remove("hl-sshcrowd")
