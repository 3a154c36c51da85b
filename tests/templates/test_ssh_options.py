"""The ssh template accepts plain OpenSSH public keys only."""

from __future__ import annotations

from pathlib import Path

import pytest

from myonion.build import render
from myonion.errors import OptionError
from myonion.templates import TemplateRegistry
from tests import configs

SPEC = TemplateRegistry().get("ssh")
ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDh9f+9Z0RZp5CkXdftX9EP3chMT8hTfhfrXT7e9ff2N"
# real keys (made with ssh-keygen for these tests; their private halves were thrown away)
RSA = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDlgL96pbkmf09n7KCNRD0cUgh5Bwt2"
       "TidRhr99wQYTnA2GE97hwa76PPbjEGG1RYvU4TVCsE3Kw18wfZ9HeQVkkUuHipK3iC2r9jgSfdauz9Dm"
       "9hR5fj2+5ERrMGmtlTMp7m0zxqJkKejG3qYqtk0vgFarn2w3deRPsjC4cWLrEExUu4FeCbjvxXmKLEqf"
       "N0ZTMzm8RTPbq+6Yrx0a6a/eOTySDF2+8AKMUPB0HuF50430MVgFvPx2AUyab8aOJd4s2KX8/kiK6w0/"
       "Jfz3KWewS78Do/czKs8lYNPiUyvphZVZDIb3Ut1kvnVBiOpmJo2UgYpdTAczzC1cHCSJ129V")
ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBF9rsX/v"
         "mhkk8a6zMiJdBtSUDXHy80Gvezddz/lHp0/5s42tC1MLAfEu2aekBXBa5X6CXboUkcMTeRmcx/z4s0s=")


@pytest.mark.parametrize("keys", [
    ED, f"{ED} me@laptop", f"{ED} a comment with spaces", f"{ED}\n{RSA} pi\n{ECDSA}\n",
    f"# my keys\n\n{ED} me\r\n{RSA}\r\n", f"  {ED}  \n", f"{ED}\n# old: {RSA}\n",
    ("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAECAwQFBgcICQoL"
     "DA0ODxAREhMUFRYXGBkaGxwdHh8gAAAABHNzaDo= yubi"),
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
    # the key data must be base64 of a key of the type named in front of it
    ED[:-4], "ssh-rsa " + ED.split()[1], ED.replace("AAAAC3", "AAAAC4"), RSA[:-1],
    f"{ED} {'c' * 301}",
])
def test_anything_else_is_refused(keys: str) -> None:
    with pytest.raises(OptionError):
        SPEC.validate({"authorized_keys": keys})


def test_keys_are_required_as_text_or_file(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="needs one of the options 'authorized_keys' or "
                       "'authorized_keys_file'") as e:
        SPEC.validate({})
    assert "-o authorized_keys=TEXT or -o authorized_keys_file=PATH" in str(e.value.hint)
    keys = tmp_path / "id.pub"
    keys.write_text(ED)
    with pytest.raises(OptionError, match="cannot be given together"):
        SPEC.validate({"authorized_keys": ED, "authorized_keys_file": str(keys)})


@pytest.mark.parametrize(("text", "line", "what"), [
    ("hello", 1, "is not an OpenSSH public key"),
    (f"# mine\n\n{ED}\ncommand=\"x\" {ED}\n", 4, "is not an OpenSSH public key"),
    (f"{ED}\n{RSA[:-8]}", 2, "is not a valid ssh-rsa key"),
    (f"{ED}\n{ED} \x1b[2J", 2, "control character"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n", 1,
     "is a private key"),
])
def test_errors_name_the_bad_line(text: str, line: int, what: str) -> None:
    with pytest.raises(OptionError, match=f"line {line}.*{what}") as e:
        SPEC.validate({"authorized_keys": text})
    assert "ssh-ed25519 AAAA" in str(e.value.hint) or "public key" in str(e.value.hint)


def test_keys_from_a_file(tmp_path: Path) -> None:
    keys = tmp_path / "authorized_keys"
    keys.write_text(f"# laptop and pi\n{ED} me\r\n{RSA} pi\n")
    values = SPEC.validate({"authorized_keys_file": str(keys)})
    assert values["authorized_keys_file"] == str(keys) and values["authorized_keys"] is None
    files = render.render_runtime_files(
        SPEC, {"name": "s", "network": "local", "mode": "ephemeral"}, values)
    assert f"{ED} me\n{RSA} pi\n" in files["authorized_keys"]
    assert "\r" not in files["authorized_keys"]


@pytest.mark.parametrize(("content", "match"), [
    (b"", "holds no public key"),
    (f"{ED}\nfrom=\"*\" {ED}\n".encode(), r"\(.*authorized_keys\), line 2 is not an OpenSSH"),
    (b"\xff\xfe binary", "is not a text file"),
    (b"#" * (1024 * 1024 + 1), "larger than 1024 KiB"),
])
def test_a_bad_key_file_is_refused(tmp_path: Path, content: bytes, match: str) -> None:
    keys = tmp_path / "authorized_keys"
    keys.write_bytes(content)
    with pytest.raises(OptionError, match=match):
        SPEC.validate({"authorized_keys_file": str(keys)})
    with pytest.raises(OptionError, match="does not exist"):
        SPEC.validate({"authorized_keys_file": str(tmp_path / "missing.pub")})
    with pytest.raises(OptionError, match="not a regular file"):
        SPEC.validate({"authorized_keys_file": str(tmp_path)})


def test_a_key_file_changed_after_validation_is_checked_again(tmp_path: Path) -> None:
    keys = tmp_path / "id.pub"
    keys.write_text(ED)
    values = SPEC.validate({"authorized_keys_file": str(keys)})
    keys.write_text(f'command="sh" {ED}\n')
    with pytest.raises(OptionError, match="line 1 is not an OpenSSH public key"):
        render.render_runtime_files(SPEC, {"name": "s", "network": "local", "mode": "ephemeral"},
                                    values)


def test_rendered_config_is_locked_down() -> None:
    keys = f"{ED} me\r\n{RSA} pi\r\n"
    files = render.render_runtime_files(
        SPEC, {"name": "s", "network": "local", "mode": "ephemeral"},
        SPEC.validate({"authorized_keys": keys}))
    assert "\r" not in files["authorized_keys"]
    assert f"{ED} me\n{RSA} pi\n" in files["authorized_keys"]
    entries = configs.sshd(files["sshd_config"])
    # sshd takes the first value of a keyword: each one once, or a later line would be ignored
    assert len({k for k, _ in entries}) == len(entries)
    config = dict(entries)
    assert config["listenaddress"] == "127.0.0.1" and config["port"] == "2222"
    for key, value in {"PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no",
                       "PermitRootLogin": "no", "UsePAM": "no", "DisableForwarding": "yes",
                       "AllowTcpForwarding": "no", "X11Forwarding": "no",
                       "AllowAgentForwarding": "no", "PermitTunnel": "no",
                       "AllowUsers": "myonion",
                       "AuthorizedKeysFile": "/etc/myonion/authorized_keys"}.items():
        assert config[key.lower()] == value, key
    assert [p.virtual for p in SPEC.ports] == [22] and SPEC.ports[0].protocol == "tcp"
