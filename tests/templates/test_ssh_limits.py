"""The ssh template's bounds against a crowd of connections that never log in (issue 16): sshd's
MaxStartups leaves room beside 70 silent connections, the container's pids limit affords every
connection MaxStartups lets in (two processes each once the client sent its banner), tor lets
one circuit hold only max_streams of them, and LoginGraceTime is an option."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from myonion.build import render
from myonion.errors import OptionError, TemplateError
from myonion.manager import Manager, container_name
from myonion.runtime.fake import FakeRuntime
from myonion.services.request import DEFAULT_PIDS
from myonion.services.store import StateStore
from myonion.templates import TemplateRegistry, load_template
from tests.fakes import FakeTestnet

SPEC = TemplateRegistry().get("ssh")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDh9f+9Z0RZp5CkXdftX9EP3chMT8hTfhfrXT7e9ff2N me"
SERVICE = {"name": "svc", "network": "tor", "mode": "persistent"}
#: issue 16's attack: 70 silent connections
CROWD = 70
#: processes the container needs besides sshd's pre-auth ones: tini, the entry script, tor,
#: the sshd listener, and a few logged-in sessions (sshd, a shell, a command)
HEADROOM = 24


def sshd_config(**given: object) -> dict[str, str]:
    values = SPEC.validate({"authorized_keys": KEY, **given})
    text = render.render_runtime_files(SPEC, SERVICE, values)["sshd_config"]
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            assert key not in settings, f"{key} twice"
            settings[key] = value.strip()
    return settings


def test_max_startups_leaves_room_beside_the_crowd_and_fits_the_pids_limit() -> None:
    start, rate, full = (int(x) for x in sshd_config()["MaxStartups"].split(":"))
    # nothing is dropped while 70 silent connections and a real login are there
    assert start > CROWD + 1 and 0 < rate <= 100 and full > start
    # every connection sshd lets in can have its two processes
    assert SPEC.pids_limit is not None and 2 * full + HEADROOM <= SPEC.pids_limit
    # one circuit holds at most max_streams: holding `start` takes many circuits
    assert SPEC.max_streams * 4 <= start


def test_login_grace_time_is_an_option() -> None:
    assert sshd_config()["LoginGraceTime"] == "20"
    assert sshd_config(login_grace_time="45")["LoginGraceTime"] == "45"
    for bad in ("4", "121", "20\nPasswordAuthentication yes", "soon"):
        with pytest.raises(OptionError):
            SPEC.validate({"authorized_keys": KEY, "login_grace_time": bad})


def test_the_container_gets_the_template_pids_limit(runtime: FakeRuntime,
                                                    testnet: FakeTestnet) -> None:
    manager = Manager(runtime=runtime, store=StateStore(), testnet=testnet)
    manager.share("ssh", {"authorized_keys": KEY}, name="sshpids", wait=False)
    spec, _ = runtime.containers[container_name("sshpids")]
    assert spec.pids_limit == SPEC.pids_limit == 256
    # a service's own limit still wins; a template without one gets the default
    manager.share("ssh", {"authorized_keys": KEY}, name="sshown", wait=False,
                  limits={"pids": 64})
    assert runtime.containers[container_name("sshown")][0].pids_limit == 64
    assert TemplateRegistry().get("site").pids_limit is None
    assert DEFAULT_PIDS == 128


@pytest.mark.parametrize("bad", [15, 32769, "lots", True])
def test_a_manifest_pids_limit_is_checked(tmp_path: Path, bad: object) -> None:
    source = TemplateRegistry().get("site").path
    folder = tmp_path / "site"
    folder.mkdir()
    for name in ("Dockerfile.j2", "torrc.j2", "nginx.conf.j2"):
        (folder / name).write_text((source / name).read_text())
    manifest = yaml.safe_load((source / "template.yaml").read_text())
    manifest["pids_limit"] = 512
    (folder / "template.yaml").write_text(yaml.safe_dump(manifest))
    assert load_template(folder).pids_limit == 512
    manifest["pids_limit"] = bad
    (folder / "template.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(TemplateError, match="pids_limit must be a whole number"):
        load_template(folder)
