"""Ctrl-C during a long command: the real CLI (a process of its own) exits with status 130
and one short line, no traceback. No Docker engine is needed: the command waits for a
service lock this test holds, and the engine it would use is a socket that does not exist."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from myonion.services.store import StateStore

WAITING = "Waiting for another myonion command on this service"


def read_until(proc: subprocess.Popen[bytes], words: str, seconds: float) -> str:
    """stderr of ``proc`` until it holds ``words`` (or ``seconds`` pass, or it ends)."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while words.encode() not in seen and time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
    return seen.decode(errors="replace")


def test_ctrl_c_exits_130_with_a_short_message(myonion_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MYONION_HOME": str(myonion_home), "MYONION_NETWORK": "local",
           "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "COLUMNS": "200"}
    store = StateStore()
    with store.service_locked("blog"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "myonion.cli", "start", "blog"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # a shell may start background jobs with SIGINT ignored; a terminal's child has it
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            before = read_until(proc, WAITING, seconds=30)
            assert WAITING in before, before
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err_text = before + err.decode(errors="replace")
    assert proc.returncode == 130, err_text
    assert "Traceback" not in err_text and "KeyboardInterrupt" not in err_text
    lines = [line for line in err_text.splitlines() if line.strip()]
    # click turns the KeyboardInterrupt into Abort ("aborted"); either way one word. (A Ctrl-C
    # right while rich writes a line may leave the line in its buffer, to be written again.)
    assert lines[-1] in ("aborted", "interrupted"), err_text
    assert set(lines[:-1]) == {f"[starting] blog: {WAITING}"}, err_text
    assert out == b""
