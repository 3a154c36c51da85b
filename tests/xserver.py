"""A virtual X server (Xvfb) for the desktop app's real-window tests and its soak.

``Xvfb -displayfd`` picks a free display itself and writes its number once it accepts
connections, so nothing is slept and no display number is guessed. Only the Xvfb started here
is stopped (by its own pid).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

SCREEN = "1280x900x24"
START_TIMEOUT = 30.0


class NoXServer(RuntimeError):
    """Xvfb is not installed or did not start."""


@contextmanager
def xvfb(screen: str = SCREEN) -> Iterator[str]:
    """Run an Xvfb for the block; yields its DISPLAY (":N")."""
    binary = shutil.which("Xvfb")
    if binary is None:
        raise NoXServer("Xvfb is not installed (scripts/setup-host.sh installs it: xvfb).")
    read, write = os.pipe()
    process = subprocess.Popen(
        [binary, "-displayfd", str(write), "-screen", "0", screen, "-nolisten", "tcp",
         "-noreset"], pass_fds=(write,), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    os.close(write)
    try:
        number = _read_display(read, process)
        yield f":{number}"
    finally:
        os.close(read)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_display(fd: int, process: subprocess.Popen[bytes]) -> str:
    import select

    ready, _, _ = select.select([fd], [], [], START_TIMEOUT)
    data = os.read(fd, 64) if ready else b""
    number = data.decode().strip()
    if not number.isdigit():
        process.kill()
        _, err = process.communicate(timeout=10)
        raise NoXServer(f"Xvfb did not start: {err.decode(errors='replace')[-500:]}")
    return number
