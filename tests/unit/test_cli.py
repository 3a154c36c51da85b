"""The CLI's error handling: clear messages on stderr, non-zero exit, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from myonion import cli
from myonion.cli import main
from myonion.manager import Manager


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch: pytest.MonkeyPatch, manager: Manager) -> None:
    """The commands run on the fake runtime (unit tests talk to no Docker engine)."""
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_templates_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "templates", "--json")
    assert code == 0
    assert "site" in {t["id"] for t in json.loads(out)}


@pytest.mark.parametrize(("args", "words"), [
    (["share", "nope"], "no template 'nope'"),
    (["share", "site", "-o", "dir=/does/not/exist"], "does not exist"),
    (["share", "site", "-o", "colour=red"], "has no option 'colour'"),
    (["share", "site", "-o", "dir"], "KEY=VALUE"),
    (["share", "site", "--network", "tor"], "refused"),
    (["share", "site", "--name", "Not Valid"], "not a valid service name"),
    (["status", "ghost"], "no service named 'ghost'"),
    (["stop", "ghost"], "no service named 'ghost'"),
    (["rm", "ghost"], "no service named 'ghost'"),
    (["share", "site", "--ttl", "soon"], "'soon' is not a duration"),
    (["share", "site", "--ttl", "2s"], "out of range"),
    (["share", "site", "--client", "Alice Smith"], "Alice Smith"),
    (["share", "site", "--client", "a", "--client", "a"], "same client name"),
    (["clients", "add", "ghost", "alice"], "no service named 'ghost'"),
    (["clients", "ls", "ghost"], "no service named 'ghost'"),
    (["promote", "ghost"], "no service named 'ghost'"),
    (["keys", "export", "ghost", "-o", "/tmp/never-written.key"], "no service named 'ghost'"),
])
def test_bad_input(capsys: pytest.CaptureFixture[str], myonion_home: Path, args: list[str],
                   words: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 1
    assert err.startswith("error: ") and words in err
    assert out == ""
    assert not (myonion_home / "data" / "services").exists() or not any(
        (myonion_home / "data" / "services").glob("*/service.json"))


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "share")
    assert code == 2 and "Missing argument" in err


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from myonion.errors import TemplateError

    with pytest.raises(TemplateError):
        main(["--debug", "share", "nope"])


def test_a_bad_key_file_is_refused_before_anything_is_made(
        capsys: pytest.CaptureFixture[str], myonion_home: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "hs_ed25519_secret_key"
    garbage.write_bytes(b"== ed25519v1-secret: type0 ==\x00\x00\x00" + b"\x07" * 64)
    code, out, err = run(capsys, "share", "site", "--key", str(garbage))
    assert code == 1 and err.startswith("error: ") and out == ""
    assert "secret" in err.lower() or "key" in err.lower()
    assert not any((myonion_home / "data").glob("services/*/service.json"))


def test_directory_status_and_down(capsys: pytest.CaptureFixture[str], manager: Manager,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from myonion.services import keeper

    code, out, _ = run(capsys, "directory", "status", "--json")
    assert code == 0 and json.loads(out) == {"name": keeper.name(None), "state": "absent"}
    monkeypatch.delenv("MYONION_NETWORK", raising=False)  # a fake engine: no tor runs
    keeper.ensure(manager.runtime)
    code, out, _ = run(capsys, "directory", "status")
    assert code == 0 and out.startswith(f"{keeper.name(None)}: running")
    code, out, _ = run(capsys, "directory", "down")
    assert code == 0 and "removed" in out
    assert manager.runtime.get(keeper.name(None)) is None
