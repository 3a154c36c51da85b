"""Secrets at rest: after a share of every template (every secret option set, private with a
client), no file under the data directory that holds a secret is wider than 0600, the container
user can read it, and no secret is in the container's environment, labels or command."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from myonion.build import hardening, render
from myonion.manager import Manager, container_name
from myonion.runtime.fake import FakeRuntime
from myonion.templates import TemplateRegistry, TemplateSpec
from tests.templates.test_every_template import minimal

REGISTRY = TemplateRegistry()
TOKEN_A = "SecretTokenAlpha0123456789"
TOKEN_B = "SecretTokenBravo0123456789"
PASSWORD = "PasswordCharlie-0123"
ONION = "http://" + "a" * 55 + "d.onion/api/v1/readings/kitchen"
#: a value for every secret option of every template, each holding unique secret words
SECRETS: dict[tuple[str, str], str] = {
    ("iot-receiver", "devices"): f"kitchen:{TOKEN_A}\n# a comment\ngarden:{TOKEN_B}",
    ("mqtt-bridge", "routes"): f"kitchen {ONION} {TOKEN_A}\ngarden {ONION} {TOKEN_B}",
    ("mqtt-bridge", "lan_users"): f"sensors:{PASSWORD}",
}
WORDS = (TOKEN_A, TOKEN_B, PASSWORD)


def options_with_secrets(spec: TemplateSpec, tmp_path: Path) -> dict[str, Any]:
    values = minimal(spec)
    for option in spec.options:
        if option.secret:
            values[option.name] = SECRETS[(spec.id, option.name)]
        if option.type == "dir" and option.name not in values:
            folder = tmp_path / option.name
            folder.mkdir()
            (folder / "index.html").write_text("hello")
            values[option.name] = str(folder)
    return values


def test_every_secret_option_is_covered() -> None:
    """A new template's secret option must get a value above, so it is tested too."""
    declared = {(t.id, o.name) for t in REGISTRY.all() for o in t.options if o.secret}
    assert declared == set(SECRETS)


def files_holding_secrets(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_socket():
            data = path.read_bytes()
            if any(w.encode() in data for w in WORDS):
                found.append(path)
    return found


@pytest.mark.parametrize("template_id", REGISTRY.ids())
def test_no_secret_in_a_file_wider_than_0600(manager: Manager, runtime: FakeRuntime,
                                             myonion_home: Path, tmp_path: Path,
                                             template_id: str) -> None:
    spec = REGISTRY.get(template_id)
    manager.share(template_id, options_with_secrets(spec, tmp_path), name="svc", wait=False,
                  clients=["alice"], persistent=True)
    holding = files_holding_secrets(myonion_home)
    has_secrets = any(o.secret for o in spec.options)
    conf = manager.store.root / "svc" / "conf"
    if has_secrets:
        assert (manager.store.root / "svc" / "service.json") in holding
        assert any(p.parent == conf for p in holding), "the rendered files hold the secrets"
    for path in holding:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} holds a secret and has mode {mode:o}"
    # the service's user owns the rendered ones, so it alone can read them (tor needs none)
    spec_ = runtime.containers[container_name("svc")][0]
    uid, _, gid = spec_.environment["MYONION_SERVICE_USER"].partition(":")
    if not spec.service_is_tor:
        assert uid != spec_.environment["MYONION_TOR_USER"].partition(":")[0]
    for path in holding:
        if path.parent == conf and os.geteuid() == 0:
            assert (path.stat().st_uid, path.stat().st_gid) == (int(uid), int(gid))
    # files without secrets stay readable (torrc, for debugging)
    assert stat.S_IMODE((conf / "torrc").stat().st_mode) == 0o644
    # a client's private key is kept 0600 as well
    alice = manager.store.root / "svc" / "clients" / "alice.json"
    assert stat.S_IMODE(alice.stat().st_mode) == 0o600
    # no secret where `docker inspect` shows it
    spec_ = runtime.containers[container_name("svc")][0]
    shown = repr((spec_.environment, spec_.labels, spec_.command, spec_.entrypoint,
                  spec_.hostname, spec_.healthcheck))
    assert not any(w in shown for w in WORDS)
    # nor in what status and ls show
    assert not any(w in repr(manager.status("svc").to_dict()) for w in WORDS)
    assert not any(w in repr([v.to_dict() for v in manager.list()]) for w in WORDS)


def test_a_non_root_host_user_hands_secret_files_over_through_a_task(
        manager: Manager, runtime: FakeRuntime, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 1000)
    spec = REGISTRY.get("mqtt-bridge")
    manager.share("mqtt-bridge", options_with_secrets(spec, tmp_path), name="br", wait=False)
    chowns = [t for t in runtime.tasks if t[0] == "chown" and any("/conf/" in a for a in t)]
    assert chowns == [["chown", f"{render.SERVICE_UID}:{render.SERVICE_UID}", "/conf/lan_users",
                       "/conf/routes"]]


def test_rendering_again_replaces_a_secret_file(manager: Manager, runtime: FakeRuntime,
                                                tmp_path: Path) -> None:
    """A rebuild re-renders; the secret file is replaced (whoever owns it), still 0600."""
    spec = REGISTRY.get("iot-receiver")
    manager.share("iot-receiver", options_with_secrets(spec, tmp_path), name="iot", wait=False)
    devices = manager.store.root / "iot" / "conf" / "devices"
    os.chmod(devices, 0o400)  # not writable in place: it must be replaced, not rewritten
    manager.stop("iot")
    manager.rebuild("iot")
    assert stat.S_IMODE(devices.stat().st_mode) == 0o600 and TOKEN_A in devices.read_text()
    assert not list(devices.parent.glob(".*.tmp"))


def test_secret_pieces() -> None:
    spec = REGISTRY.get("iot-receiver")
    pieces = hardening.secret_pieces(spec, {"devices": f"kitchen:{TOKEN_A}\n# {TOKEN_B}\ngarden"})
    assert TOKEN_A in pieces and TOKEN_B not in pieces and "kitchen" not in pieces
    assert hardening.holds_secret(f"x {TOKEN_A} y", pieces)
    assert not hardening.holds_secret("kitchen garden", pieces)
    assert hardening.secret_pieces(REGISTRY.get("site"), {"dir": None}) == set()
