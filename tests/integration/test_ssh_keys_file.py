"""The ssh template with its keys from a file (authorized_keys_file), end to end with OpenSSH."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from myonion.errors import OptionError
from myonion.manager import Manager
from tests.integration.test_ssh import ssh

pytestmark = [pytest.mark.integration, pytest.mark.testnet]


def keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True)
    return path


def test_keys_from_a_file(real_manager: Manager, tmp_path: Path) -> None:
    good, wrong = keygen(tmp_path / "id_good", "good"), keygen(tmp_path / "id_wrong", "wrong")
    keys = tmp_path / "authorized_keys"
    keys.write_text(f"# who may log in\n\n{good.with_suffix('.pub').read_text()}")
    # a private key or key options are refused before anything is made
    with pytest.raises(OptionError, match="line 1 is a private key"):
        real_manager.share("ssh", {"authorized_keys_file": str(good)}, name="sshfbad")
    assert real_manager.list() == []

    view = real_manager.share("ssh", {"authorized_keys_file": str(keys)}, name="sshfile",
                              timeout=120)
    assert view.address and view.stage == "reachable"
    # the file is copied when shared: a key added afterwards does not log in
    keys.write_text(keys.read_text() + wrong.with_suffix(".pub").read_text())
    proxy = real_manager.testnet.socks()
    known = tmp_path / "known_hosts"
    ok = ssh(proxy, view.address, good, known, "echo", "from", "a", "file")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "from a file\n"
    refused = ssh(proxy, view.address, wrong, known, "true")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
