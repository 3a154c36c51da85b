"""YAML files from elsewhere, played from the attacker's side: alias expansion, size, nesting.

Each is refused with the file (and line) named, a non-zero exit through the CLI, and nothing
changed. The time each refusal takes is printed (``pytest -s``), not asserted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from myonion import deploy, safeyaml, templates
from myonion.cli import main
from myonion.errors import TemplateError
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime

GOOD = "version: 1\nname: calm\nservices:\n  web:\n    template: site\n"


def laughs(levels: int = 7, width: int = 9) -> str:
    """"Billion laughs": each level an anchored list of ``width`` aliases of the one before;
    the last is used as an option's value (9**7 ≈ 4.8 million strings once expanded)."""
    lines = ["version: 1", "name: lol", 'a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    lines += ["services:", "  web:", "    template: site", "    options:",
              f"      dir: *a{levels}"]
    return "\n".join(lines) + "\n"


def timed(what: str, action: Callable[[], Any]) -> Any:
    """``action()``, its time printed (past capsys, so `pytest -s` shows every one)."""
    start = time.perf_counter()
    result = action()
    print(f"\n{what}: refused in {time.perf_counter() - start:.3f} s", file=sys.__stderr__)
    return result


@pytest.fixture
def cli_manager(manager: Manager, monkeypatch: pytest.MonkeyPatch) -> Manager:
    from myonion import cli

    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    return manager


def refused(path: Path, match: str) -> None:
    with pytest.raises(deploy.DeploymentError, match=match):
        deploy.load(path)


def test_billion_laughs_is_refused_at_its_first_anchor(tmp_path: Path) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text(laughs())
    assert len(path.read_bytes()) < 600
    timed("billion laughs (7 levels of 9), deploy.load",
          lambda: refused(path, rf"^{path}:3: sets the YAML anchor &a0, which myonion does "
                          r"not read \(no anchors or aliases\)$"))
    # the lenient readers (ps, down) refuse it too, instead of expanding it
    with pytest.raises(deploy.DeploymentError, match=rf"^{path}:3: sets the YAML anchor"):
        deploy.deployment_name(path)
    assert deploy.service_names(path) == []


def test_an_alias_alone_or_a_merge_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "myonion.yaml"
    # an alias to an anchor that does not exist: refused as an alias, not composed
    path.write_text(GOOD + "    options:\n      dir: *nowhere\n")
    refused(path, rf"^{path}:7: uses the YAML alias \*nowhere")
    path.write_text("version: 1\nservices:\n  web:\n    <<: {template: site}\n"
                    "  other:\n    <<: *web\n")
    refused(path, rf"^{path}:6: uses the YAML alias \*web")
    # an anchor alone is refused too: a file that sets one is about to use it
    path.write_text(GOOD.replace("template: site", "template: &t site"))
    refused(path, rf"^{path}:5: sets the YAML anchor &t")


def test_billion_laughs_through_the_cli(tmp_path: Path, cli_manager: Manager,
                                        runtime: FakeRuntime,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text(laughs())
    for command in (["up", "--dry-run", "-f", str(path)], ["up", "-f", str(path)],
                    ["ps", "-f", str(path)], ["down", "-f", str(path)]):
        status = timed(f"billion laughs, myonion {' '.join(command[:-2])}",
                       partial(main, command))
        assert status == 1, command
        err = capsys.readouterr().err
        assert f"error: {path}:3: sets the YAML anchor &a0" in err, command
    assert cli_manager.store.all() == [] and runtime.containers == {} and runtime.builds == []


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path: Path, cli_manager: Manager,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "myonion.yaml"
    with open(path, "w") as f:
        f.write(GOOD)
        f.write(("# " + "x" * 1022 + "\n") * 50 * 1024)
    assert path.stat().st_size > 50 * 1024 * 1024
    timed("50 MB deployment file, deploy.load",
          lambda: refused(path, rf"^{path}: is 50\.0 MiB; a YAML file myonion reads may be at "
                          r"most 1024 KiB$"))
    assert main(["up", "--dry-run", "-f", str(path)]) == 1
    assert "is 50.0 MiB" in capsys.readouterr().err


def test_an_endless_file_is_read_no_further_than_the_bound(tmp_path: Path) -> None:
    # a device says no size: at most one byte past the bound is read
    timed("/dev/zero as a deployment file",
          lambda: refused(Path("/dev/zero"), r"^/dev/zero: is more than 1\.0 MiB"))


def test_a_file_at_the_bound_is_read(tmp_path: Path) -> None:
    path = tmp_path / "myonion.yaml"
    text = GOOD + "# padding\n"
    path.write_text(text + "#" * (safeyaml.MAX_BYTES - len(text) - 1) + "\n")
    assert path.stat().st_size == safeyaml.MAX_BYTES
    assert deploy.load(path).names() == ["web"]


@pytest.mark.parametrize(("text", "line"), [
    # block style, one level per line
    ("version: 1\nservices:\n" + "".join(f"{'  ' * i}k{i}:\n" for i in range(1, 200))
     + "  " * 200 + "v\n", 33),
    # flow style: 100 000 brackets on one line (PyYAML's composer would hit RecursionError)
    ("version: 1\nservices: " + "[" * 100_000 + "]" * 100_000 + "\n", 2),
])
def test_deep_nesting_is_refused(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text(text)
    timed(f"nesting {len(text)} bytes deep",
          lambda: refused(path, rf"^{path}:{line}: nests more than {safeyaml.MAX_DEPTH} "
                          "levels deep$"))


def test_too_many_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "myonion.yaml"
    path.write_text(GOOD + "    clients: [" + ", ".join(["a"] * 200_000) + "]\n")
    assert path.stat().st_size < safeyaml.MAX_BYTES
    timed("200 000 values",
          lambda: refused(path, rf"^{path}:6: has more than {safeyaml.MAX_NODES} values$"))


def test_a_template_manifest_with_aliases_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "lol"
    folder.mkdir()
    (folder / "template.yaml").write_text(laughs().replace("version: 1", "id: lol"))
    with pytest.raises(TemplateError, match=rf"^The template manifest {folder}/template.yaml "
                       r"is invalid: line 3 sets the YAML anchor &a0") as caught:
        timed("billion laughs as template.yaml",
              lambda: templates.load_template(folder, builtin=False))
    assert caught.value.hint and "without anchors or aliases" in caught.value.hint
    (folder / "template.yaml").write_text("x" * (safeyaml.MAX_BYTES + 1))
    with pytest.raises(TemplateError, match=r"is invalid: it is 1\.0 MiB; a YAML file"):
        templates.load_template(folder, builtin=False)
