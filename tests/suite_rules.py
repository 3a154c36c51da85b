"""Rules for the whole test run (hooks imported by tests/conftest.py).

- Under CI (``CI`` set, e.g. by ``.ci/run``) nothing may skip: a skipped test (or module) is
  reported as a failure naming the skip's reason, so a missing tool or engine cannot make a
  green run that tested less.
- Tests never write into committed files: the data folders tests read (``bench/``,
  ``compose/``, ``containers/``, ``examples/``) are looked at before and after the run, and a
  tracked file there that changed fails the run, naming it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

#: folders of tracked files no test may change
WATCHED = ("bench", "compose", "containers", "examples")
_BEFORE = pytest.StashKey[tuple[Path, dict[str, tuple[int, int] | None]]]()
_CHANGED = pytest.StashKey[list[str]]()


def in_ci() -> bool:
    """True when the run is CI's: ``CI`` set to anything but empty, 0, false or no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(getattr(report, "wasxfail", "") or longrepr)


def _fail_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if in_ci() and report.skipped:
        reason = _skip_reason(report)
        report.outcome = "failed"
        report.longrepr = (f"skipped under CI={os.environ.get('CI')}, and nothing may skip in "
                           f"CI: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    outcome = yield
    _fail_skip(outcome.get_result())


def _tracked(root: Path) -> dict[str, tuple[int, int] | None] | None:
    """(mtime_ns, size) of every tracked file in the watched folders, or None outside git."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--", *WATCHED],
                                capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found: dict[str, tuple[int, int] | None] = {}
    for name in filter(None, listed.decode().split("\0")):
        try:
            st = (root / name).stat()
            found[name] = (st.st_mtime_ns, st.st_size)
        except OSError:
            found[name] = None
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    root = Path(str(session.config.rootpath))
    before = _tracked(root)
    if before is not None:
        session.config.stash[_BEFORE] = (root, before)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _BEFORE not in session.config.stash:
        return
    root, before = session.config.stash[_BEFORE]
    after = _tracked(root) or {}
    changed = sorted(name for name, seen in before.items() if after.get(name) != seen)
    session.config.stash[_CHANGED] = changed
    if changed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    changed = config.stash.get(_CHANGED, [])
    if changed:
        terminalreporter.section("tests wrote into committed files", sep="=", red=True)
        for name in changed:
            terminalreporter.line(f"changed by this run: {name}", red=True)
        terminalreporter.line("Tests write into tmp_path; only bench/ scripts write "
                              "bench/results (see tests/tables.py).")
