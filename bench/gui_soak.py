"""Soak: the desktop app open on a real X server while services come and go, from the app and
from the CLI at the same time. It must not crash and must not print a single traceback.

    MYONION_NETWORK=local python bench/gui_soak.py --minutes 30 [--out FILE]

Starts an Xvfb, runs the app (bench/gui_soak_app.py: the real main window on the real engine
and the local test network, driven through its own widgets) in a child process with a
MYONION_HOME of its own, and meanwhile shares, stops, starts, removes and lets expire services
with the `myonion` CLI in that home. Afterwards it counts the child's crashes (exit status,
"Fatal Python error") and tracebacks (its stderr), and prints the figures as JSON (also to
--out). Exit status 0 only with 0 crashes, 0 tracebacks and no share prepared ahead left
behind by a closed dialog. Never uses the public Tor network.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import require_local

from tests.xserver import xvfb

HERE = Path(__file__).resolve().parent
CLI_PREFIX = "gt-soak-cli-"
CLI_TIMEOUT = 240
CHILD_GRACE = 600  # the app's own clean-up after its time is up


def myonion(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("myonion")
    return subprocess.run([str(cli), *args], env={**os.environ, "MYONION_HOME": str(home)},
                          capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)


class CliLoad:
    """Services of the CLI's own (``gt-soak-cli-N``), changed in turn while the app runs."""

    def __init__(self, home: Path, folder: Path) -> None:
        self.home = home
        self.folder = folder
        self.random = random.Random(15)
        self.counter = 0
        self.live: dict[str, str] = {}  # name -> "running" | "stopped"
        self.ops: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self.failures: list[str] = []

    def _run(self, op: str, *args: str) -> bool:
        result = myonion(self.home, *args)
        self.ops[op] = self.ops.get(op, 0) + 1
        if result.returncode != 0:
            self.failed[op] = self.failed.get(op, 0) + 1
            self.failures.append(f"{op}: {result.stderr.strip()[-200:]}")
        return result.returncode == 0

    def step(self) -> None:
        self._sync()
        running = [n for n, s in self.live.items() if s == "running"]
        stopped = [n for n, s in self.live.items() if s == "stopped"]
        options = ["ls"]
        if len(self.live) < 3:
            options += ["share", "share_ttl"]
        if running:
            options += ["stop"]
        if stopped:
            options += ["start"]
        if self.live:
            options += ["rm"]
        op = self.random.choice(options)
        if op in ("share", "share_ttl"):
            self.counter += 1
            name = f"{CLI_PREFIX}{self.counter}"
            ttl = ["--ttl", "40s"] if op == "share_ttl" else []
            self._run(op, "share", "site", "--name", name, "-o", f"dir={self.folder}",
                      "--network", "local", *ttl)
        elif op == "stop":
            self._run(op, "stop", self.random.choice(running))
        elif op == "start":
            self._run(op, "start", self.random.choice(stopped))
        elif op == "rm":
            self._run(op, "rm", "--purge", self.random.choice(list(self.live)))
        else:
            self._run(op, "ls")

    def _sync(self) -> None:
        """What the CLI's services are now (the app stops some; time to live removes some)."""
        result = myonion(self.home, "ls", "--json")
        if result.returncode != 0:
            return
        views = json.loads(result.stdout or "[]")
        self.live = {v["name"]: ("running" if v["state"] == "running" else "stopped")
                     for v in views if v["name"].startswith(CLI_PREFIX)}

    def clean(self) -> None:
        """Remove every service left in this home (the app's too, if it could not)."""
        result = myonion(self.home, "ls", "--json")
        names = [v["name"] for v in json.loads(result.stdout or "[]")] if (
            result.returncode == 0) else []
        if names:
            myonion(self.home, "rm", "--purge", *names)


def run(minutes: float) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="gt-soak-home-"))
    folder = Path(tempfile.mkdtemp(prefix="gt-soak-cli-site-"))
    try:
        return soak(minutes, home, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def soak(minutes: float, home: Path, folder: Path) -> dict[str, Any]:
    (folder / "index.html").write_text("<h1>cli</h1>\n")
    folder.chmod(0o755)
    status = home / "app-status.json"
    stderr_path = home / "app-stderr.log"
    cli = CliLoad(home, folder)
    started = time.monotonic()
    with xvfb() as display, stderr_path.open("w") as stderr:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
               "MYONION_HOME": str(home), "PYTHONFAULTHANDLER": "1"}
        child = subprocess.Popen([sys.executable, str(HERE / "gui_soak_app.py"), str(status),
                                  str(minutes)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=stderr)
        try:
            deadline = started + minutes * 60
            while time.monotonic() < deadline and child.poll() is None:
                cli.step()
            code = child.wait(timeout=CHILD_GRACE)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            cli.clean()
    err = stderr_path.read_text(errors="replace")
    app = json.loads(status.read_text()) if status.exists() else {}
    result = {
        "minutes": round((time.monotonic() - started) / 60, 1),
        "crashes": int(code != 0) + err.count("Fatal Python error"),
        "app_exit_status": code,
        "tracebacks": err.count("Traceback (most recent call last)"),
        "app": app,
        "cli": {"operations": cli.ops, "failed": cli.failed,
                "failure_samples": cli.failures[:10]},
        "app_stderr_tail": err[-3000:],
    }
    return result


def main() -> int:
    # stopped from outside (timeout, kill): the finally blocks still clean up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    require_local()
    result = run(args.minutes)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    # a share prepared ahead whose dialog was closed must be gone (sharing ahead leaks none)
    held = result["app"].get("held_left") or []
    return 0 if result["crashes"] == 0 and result["tracebacks"] == 0 and not held else 1


if __name__ == "__main__":
    raise SystemExit(main())
