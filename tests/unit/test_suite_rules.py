"""The run-wide rules of tests/suite_rules.py, on small test runs of their own: under CI a skip
fails the run; a test that writes into a committed file fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFTEST = "from tests.suite_rules import *  # noqa: F403\n"


def pytest_run(folder: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(folder)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)


def project(tmp_path: Path, tests: str) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "test_it.py").write_text(textwrap.dedent(tests))
    return folder


SKIPPING = """\
    import pytest

    def test_runs():
        pass

    def test_skips():
        pytest.skip("no frobnicator here")

    @pytest.mark.skipif(True, reason="never on this machine")
    def test_skipif():
        pass
    """


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_skip_fails_a_ci_run(tmp_path: Path, ci: str) -> None:
    run = pytest_run(project(tmp_path, SKIPPING), ci)
    assert run.returncode == 1, run.stdout
    assert run.stdout.count("nothing may skip in CI") >= 2, run.stdout
    assert "no frobnicator here" in run.stdout and "never on this machine" in run.stdout


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_outside_ci_a_skip_is_a_skip(tmp_path: Path, ci: str | None) -> None:
    run = pytest_run(project(tmp_path, SKIPPING), ci)
    assert run.returncode == 0, run.stdout
    assert "1 passed, 2 skipped" in run.stdout


def test_a_skipped_module_fails_a_ci_run(tmp_path: Path) -> None:
    folder = project(tmp_path, """\
        import pytest

        pytest.skip("the whole module needs a frobnicator", allow_module_level=True)

        def test_never():
            pass
        """)
    run = pytest_run(folder, "true")
    assert run.returncode != 0 and "the whole module needs a frobnicator" in run.stdout, (
        run.stdout)
    outside = pytest_run(folder, None)
    assert outside.returncode == 5 and "1 skipped" in outside.stdout  # 5: no test ran


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t",
                    *args], check=True, capture_output=True)


@pytest.mark.parametrize(("target", "fails"), [("bench/results/table.md", True),
                                               ("elsewhere.md", False)])
def test_a_test_that_writes_a_committed_file_fails_the_run(tmp_path: Path, target: str,
                                                           fails: bool) -> None:
    folder = project(tmp_path, f"""\
        from pathlib import Path

        def test_writes(tmp_path):
            (tmp_path / "mine.md").write_text("fine")
            Path(__file__).parent.joinpath({target!r}).write_text("| new | table |")
        """)
    (folder / "bench" / "results").mkdir(parents=True)
    (folder / "bench" / "results" / "table.md").write_text("| old | table |")
    (folder / "elsewhere.md").write_text("not watched")
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "x")
    run = pytest_run(folder, None)
    if fails:
        assert run.returncode == 1, run.stdout
        assert "changed by this run: bench/results/table.md" in run.stdout
    else:
        assert run.returncode == 0, run.stdout
