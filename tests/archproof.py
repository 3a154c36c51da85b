"""Evidence that a container's processes really are another architecture's, read from outside
its own say-so: ``uname -m`` inside it, and on this host, for each of its processes, which
program the kernel runs (``/proc/PID/exe``: under emulation the qemu interpreter that binfmt_misc
named) and the ELF header of the program that process is (its class and machine).

Under binfmt_misc with qemu-user, ``/proc/PID/exe`` is the interpreter and ``/proc/PID/cmdline``
starts with the interpreter's path, then the full path of the program it runs (binfmt's P flag
keeps the program's own argv[0] after that); the program's file is read through
``/proc/PID/root``, the container's own file system. Reading another process's ``exe`` and
``root`` needs root on the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from myonion.runtime.docker import DockerRuntime

#: e_machine of the ELF header → the machine ``uname -m`` names
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64", 0x28: "arm"}
#: what each architecture's programs are: (ELF class in bits, machine)
EXPECTED = {"amd64": (64, "x86_64"), "arm64": (64, "aarch64"), "armhf": (32, "arm")}


@dataclass(frozen=True)
class Program:
    """One process of a container, as this host sees it."""

    pid: int
    comm: str
    runner: str  # what the kernel runs: the program itself, or the qemu interpreter
    path: str  # the program, in the container's file system
    bits: int  # ELF class: 32 or 64
    machine: str  # from e_machine: x86_64, aarch64, arm

    def __str__(self) -> str:
        return (f"{self.comm} (pid {self.pid}): {self.path} is ELF{self.bits} {self.machine}, "
                f"run by {self.runner}")


def _elf(path: Path) -> tuple[int, str]:
    with open(path, "rb") as f:
        header = f.read(20)
    if header[:4] != b"\x7fELF":
        raise AssertionError(f"{path} is no ELF program")
    bits = {1: 32, 2: 64}[header[4]]
    machine = int.from_bytes(header[18:20], "little")
    return bits, ELF_MACHINES.get(machine, hex(machine))


def programs(runtime: DockerRuntime, container: str) -> list[Program]:
    """Every process of ``container`` with the program it is (see the module docstring)."""
    if os.geteuid() != 0:
        raise AssertionError("reading the programs of a container's processes needs root")
    top = runtime.client.api.top(container)
    column = top["Titles"].index("PID")
    found = []
    for row in top.get("Processes") or []:
        pid = int(row[column])
        proc = Path(f"/proc/{pid}")
        try:
            runner = os.readlink(proc / "exe")
            argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
            comm = (proc / "comm").read_text().strip()
            emulated = os.path.basename(runner).startswith("qemu-")
            path = argv[1] if emulated else runner
            bits, machine = _elf(proc / "root" / path.lstrip("/"))
        except (OSError, IndexError):
            continue  # a process that ended in between
        found.append(Program(pid, comm, runner, path, bits, machine))
    return found


def uname_m(runtime: DockerRuntime, container: str) -> str:
    """``uname -m`` run inside the container."""
    code, output = runtime.exec(container, ["uname", "-m"])
    assert code == 0, output
    return output.strip()


def assert_really(runtime: DockerRuntime, container: str, arch: str) -> list[Program]:
    """Fail unless ``container`` runs as ``arch`` inside and every one of its processes is an
    ``arch`` program; returns them (for the test's report)."""
    bits, machine = EXPECTED[arch]
    inside = uname_m(runtime, container)
    assert inside in {"arm64": ("aarch64",), "armhf": ("armv7l", "armv8l"),
                      "amd64": ("x86_64",)}[arch], inside
    found = programs(runtime, container)
    assert found, f"no processes found in {container}"
    wrong = [str(p) for p in found if (p.bits, p.machine) != (bits, machine)]
    assert not wrong, f"not {arch} programs: {wrong}"
    print(f"{container}: uname -m inside: {inside}")
    for program in found:
        print(f"  {program}")
    return found
