"""The ssh template accepts plain OpenSSH public keys only."""

from __future__ import annotations

import pytest

from myonion import render
from myonion.errors import OptionError
from myonion.templates import TemplateRegistry

SPEC = TemplateRegistry().get("ssh")
ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDh9f+9Z0RZp5CkXdftX9EP3chMT8hTfhfrXT7e9ff2N"
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC" + "x" * 500 + "=="
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKx="


@pytest.mark.parametrize("keys", [
    ED, f"{ED} me@laptop", f"{ED} a comment with spaces", f"{ED}\n{RSA} pi\n{ECDSA}\n",
    f"# my keys\n\n{ED} me\r\n{RSA}\r\n", f"  {ED}  \n", f"{ED}\n# old: {RSA}\n",
    "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA== yubi",
])
def test_public_keys_are_accepted(keys: str) -> None:
    assert SPEC.validate({"authorized_keys": keys})["authorized_keys"] == keys


@pytest.mark.parametrize("keys", [
    "", "   \n", "# only a comment", "hello", "ssh-ed25519", "ssh-ed25519 notbase64!",
    f'command="/bin/sh" {ED}', f'from="*" {ED}', f"restrict {ED}", f"no-pty,{ED}",
    f'{ED}\ncommand="rm -rf ~" {ED}', f"{ED}\ncert-authority {ED}", f"{ED}\x00",
    f"{ED} comment\x1b[2J", f"{ED} comm\rcommand=x", f"{ED}\n\x0b{ED}", f"{ED} ünicode",
    "ssh-dss AAAAB3NzaC1kc3MAAACBAP" + "x" * 40, "-----BEGIN OPENSSH PRIVATE KEY-----",
    f"{ED}\n-----BEGIN OPENSSH PRIVATE KEY-----", "ssh-ed25519 AAAA" + "A" * 9000,
])
def test_anything_else_is_refused(keys: str) -> None:
    with pytest.raises(OptionError):
        SPEC.validate({"authorized_keys": keys})


def test_key_is_required() -> None:
    with pytest.raises(OptionError, match="needs option 'authorized_keys'"):
        SPEC.validate({})


def test_rendered_config_is_locked_down() -> None:
    keys = f"{ED} me\r\n{RSA} pi\r\n"
    files = render.render_runtime_files(
        SPEC, {"name": "s", "network": "local", "mode": "ephemeral"},
        SPEC.validate({"authorized_keys": keys}))
    assert "\r" not in files["authorized_keys"]
    assert f"{ED} me\n{RSA} pi\n" in files["authorized_keys"]
    config = {line.split()[0]: " ".join(line.split()[1:])
              for line in files["sshd_config"].splitlines() if line and not line.startswith("#")}
    assert config["ListenAddress"] == "127.0.0.1" and config["Port"] == "2222"
    for key, value in {"PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no",
                       "PermitRootLogin": "no", "UsePAM": "no", "DisableForwarding": "yes",
                       "AllowTcpForwarding": "no", "X11Forwarding": "no",
                       "AllowAgentForwarding": "no", "PermitTunnel": "no",
                       "AllowUsers": "myonion",
                       "AuthorizedKeysFile": "/etc/myonion/authorized_keys"}.items():
        assert config[key] == value, key
    assert [p.virtual for p in SPEC.ports] == [22] and SPEC.ports[0].protocol == "tcp"
