"""What goes wrong around myonion gets one clear message and exit status 1, never a traceback:
no Docker engine (not running, not installed), a build that fails (e.g. a full disk), a template
folder with a broken manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from myonion import cli, paths
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.services.store import StateStore
from tests.fakes import FakeTestnet


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, " ".join(err.split())


def test_no_engine_at_all(monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The real runtime, pointed at a socket where no engine listens (not running, or not
    installed: the same to a client)."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    for argv in (["ls"], ["share", "site", "--no-wait"]):
        code, err = run(argv, capsys)
        assert code == 1 and err.startswith("error: The Docker engine is not reachable"), err
        assert "hint: Start the Docker engine" in err


def test_a_failed_build_shows_its_log(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    runtime = FakeRuntime(images={"myonion/base:bookworm"}, fail_build=True)
    manager = Manager(runtime=runtime, store=StateStore(), testnet=FakeTestnet())
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    code, err = run(["share", "site", "--no-wait"], capsys)
    assert code == 1 and err.startswith("error: Building image") and "fake log" in err
    assert manager.store.all() == [] and runtime.containers == {}


def test_a_broken_user_template(capsys: pytest.CaptureFixture[str]) -> None:
    folder = paths.user_templates_dir() / "mine"
    folder.mkdir(parents=True)
    (folder / "template.yaml").write_text("id: mine\ntitle: [unclosed\n")
    code, err = run(["templates"], capsys)
    assert code == 1 and err.startswith("error: The template manifest") and "mine" in err
    code, err = run(["templates", "show", "mine"], capsys)
    assert code == 1 and "is invalid" in err
