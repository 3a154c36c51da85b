"""scripts/emulation.sh on a stand-in binfmt_misc folder: what it says when the kernel would
run another architecture's programs in containers, and when not (no engine, no root needed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "emulation.sh"
ENTRY = ("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"
         "offset 0\nmagic 7f454c460201010000000000000000000200b700\n"
         "mask ffffffffffffff00fffffffffffffffffeffffff\n")


def run(binfmt: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env={**os.environ, "MYONION_BINFMT_DIR": str(binfmt)}, timeout=30)


@pytest.fixture
def binfmt(tmp_path: Path) -> Path:
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    (folder / "status").write_text("enabled\n")
    return folder


def test_registered_with_the_f_flag_runs(binfmt: Path) -> None:
    if subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                      text=True).stdout.strip() != "amd64":
        pytest.fail("this test reads a stand-in for an amd64 machine's binfmt_misc")
    (binfmt / "qemu-aarch64").write_text(ENTRY)
    done = run(binfmt, "arm64")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("emulation: arm64 programs run here through /usr/libexec/qemu-binfmt"
                           "/aarch64-binfmt-P (binfmt_misc qemu-aarch64, flags PF)\n")
    assert run(binfmt, "--check-only", "arm64").returncode == 0
    assert run(binfmt, "--check-only", "arm64", "armhf").returncode == 1
    assert "amd64 programs run natively" in run(binfmt, "amd64").stdout


def test_without_the_f_flag_or_disabled_it_says_why(binfmt: Path) -> None:
    (binfmt / "qemu-aarch64").write_text(ENTRY.replace("flags: PF", "flags: P"))
    done = run(binfmt, "arm64")
    assert done.returncode == 1
    assert "qemu-aarch64 is registered, but enabled with flags 'P'" in done.stderr
    assert "need it enabled with the F flag" in done.stderr
    (binfmt / "qemu-aarch64").write_text(ENTRY.replace("enabled", "disabled", 1))
    assert "registered, but disabled" in run(binfmt, "arm64").stderr
    assert run(binfmt, "--check-only", "arm64").returncode == 1


def test_an_unknown_architecture_is_refused(binfmt: Path) -> None:
    done = run(binfmt, "sparc")
    assert done.returncode == 2 and "cannot emulate 'sparc'" in done.stderr
