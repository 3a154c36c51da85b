"""The soak's short form (bench/gui_soak.py --minutes 3): the app open on a real X server while
services are shared, stopped, started, removed and expire from the app and the CLI at once,
on the real engine and the test network. 0 crashes and 0 tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

SOAK = Path(__file__).resolve().parents[2] / "bench" / "gui_soak.py"
MINUTES = float(os.environ.get("MYONION_GUI_SOAK_MINUTES", "3"))


def test_the_app_survives_minutes_of_services_coming_and_going() -> None:
    result = subprocess.run([sys.executable, str(SOAK), "--minutes", str(MINUTES)],
                            capture_output=True, text=True, timeout=MINUTES * 60 + 900,
                            check=False)
    assert result.stdout, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    tail = figures.pop("app_stderr_tail")
    assert figures["crashes"] == 0, tail
    assert figures["tracebacks"] == 0, tail
    assert figures["app"]["held_left"] == [], figures["app"]
    assert result.returncode == 0, result.stderr[-3000:]
    # it did work: operations from the window and from the CLI, and services that expired
    assert figures["app"]["operations"]["ended"] >= 5, figures
    assert sum(figures["cli"]["operations"].values()) >= 5, figures
    print(json.dumps(figures, indent=1))
