"""CPU architectures: their names, this machine's, and whether this kernel can run another's.

myonion names architectures as Debian does (``amd64``, ``arm64``, ``armhf``): those are the names
``debootstrap --arch`` takes, and the Raspberry Pi's two userlands are ``arm64`` (64-bit Raspberry
Pi OS, Pi 3/4/5, Zero 2 W) and ``armhf`` (32-bit Raspberry Pi OS, Pi 2/3). Docker names the same
things as platforms (``linux/arm64/v8``, ``linux/arm/v7``): :data:`PLATFORMS` maps one to the
other, and an image's metadata must name the platform of what is in it (see
:mod:`myonion.build.relabel`).

Another architecture's programs run here through the kernel's binfmt_misc and qemu-user
(Debian's ``qemu-user-static`` registers its interpreters with the ``F`` flag, so containers,
which do not have the interpreter in their own file system, can use them):
:func:`emulation_problem` says why that would not work, or None.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from myonion.errors import OptionError

#: the architectures myonion builds images for
ARCHES = ("amd64", "arm64", "armhf")
#: the environment variable that chooses the architecture of new services (default: the host's)
ENV = "MYONION_ARCH"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
#: what qemu-user adds to a container's memory under emulation (its binary, heap and translated
#: code, per process): measured up to 118 MiB PSS for the mqtt-bridge's six processes, idle
#: (bench/results/pi_memory.md); a service's memory limit is what its programs may use, so
#: an emulated service gets this much more
EMULATION_MEMORY = 192 * 1024**2


@dataclass(frozen=True)
class Platform:
    """An architecture as Docker's image metadata names it."""

    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(["linux", self.architecture, *([self.variant] if self.variant else [])])


PLATFORMS = {"amd64": Platform("amd64"), "arm64": Platform("arm64", "v8"),
             "armhf": Platform("arm", "v7")}
#: what ``uname -m`` says inside a container of each architecture (armv8l: a 32-bit userland
#: on a 64-bit ARM CPU, as on a Pi 3 running 32-bit Raspberry Pi OS)
MACHINES = {"amd64": ("x86_64",), "arm64": ("aarch64",), "armhf": ("armv7l", "armv8l")}

#: ``platform.machine()`` and other spellings users give → Debian's name
_ALIASES = {
    "x86_64": "amd64", "amd64": "amd64", "x64": "amd64", "linux/amd64": "amd64",
    "aarch64": "arm64", "arm64": "arm64", "arm64/v8": "arm64", "linux/arm64": "arm64",
    "linux/arm64/v8": "arm64", "armhf": "armhf", "armv7l": "armhf", "armv8l": "armhf",
    "armv7": "armhf", "arm/v7": "armhf", "linux/arm/v7": "armhf",
    "armv6l": "armel", "i686": "i386", "i386": "i386",
}
#: the first bytes of an executable of each architecture, as binfmt_misc matches them: ELF
#: magic, class (64/32-bit), little-endian, version, padding, e_type EXEC, e_machine
_ELF_HEADERS = {
    "amd64": bytes.fromhex("7f454c46020101000000000000000000" "02003e00"),
    "arm64": bytes.fromhex("7f454c46020101000000000000000000" "0200b700"),
    "armhf": bytes.fromhex("7f454c46010101000000000000000000" "02002800"),
}


def host() -> str:
    """This machine's architecture as Debian names it (amd64, arm64, armhf, …)."""
    machine = platform.machine().lower()
    return _ALIASES.get(machine, machine)


def check(name: str) -> str:
    """``name`` as Debian names it, if myonion builds for it; else :class:`OptionError`."""
    arch = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if arch not in ARCHES:
        raise OptionError(f"'{name}' is not an architecture myonion builds for.",
                          hint=f"Give one of {', '.join(ARCHES)} (armhf: a Raspberry Pi's "
                          "32-bit Raspberry Pi OS; arm64: its 64-bit one).")
    return arch


def resolve(requested: str | None = None) -> str:
    """The architecture of new services and images: ``requested``, else ``$MYONION_ARCH``,
    else this machine's."""
    if requested:
        return check(requested)
    value = os.environ.get(ENV, "").strip()
    if not value:
        return host()
    try:
        return check(value)
    except OptionError as e:
        raise OptionError(f"{ENV} is '{value}': {e.message}",
                          hint=f"Set it to one of {', '.join(ARCHES)}, or unset it.") from None


def from_platform(architecture: str, variant: str | None) -> str | None:
    """Debian's name for an image's platform (``arm`` with variant v7, or none, is armhf);
    None for a platform myonion does not build."""
    for arch, known in PLATFORMS.items():
        if known.architecture == architecture and variant in (known.variant, None, ""):
            return arch
    return None


def is_foreign(arch: str) -> bool:
    """True if ``arch`` is not this machine's own (its programs need emulation, except 32-bit
    ARM on a 64-bit ARM CPU, which most of them run natively)."""
    here = host()
    return arch != here and not (here == "arm64" and arch == "armhf")


def tag_suffix(arch: str) -> str:
    """What an image tag of ``arch`` ends in: nothing for amd64 (the names myonion gave before
    it built for other architectures), ``-arm64`` / ``-armhf`` for the others. The same on
    every machine, so a bundle made on a laptop names exactly what ``up`` looks for on a Pi."""
    return "" if arch == "amd64" else f"-{arch}"


def _binfmt_entries(root: Path) -> list[dict[str, str]]:
    entries = []
    for path in sorted(root.iterdir()):
        if path.name in ("register", "status"):
            continue
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        entry = {"name": path.name, "enabled": str(bool(lines) and lines[0] == "enabled")}
        for line in lines[1:]:
            key, _, value = line.partition(" ")
            entry[key.rstrip(":")] = value.strip()
        entries.append(entry)
    return entries


def _matches(entry: dict[str, str], header: bytes) -> bool:
    try:
        magic = bytes.fromhex(entry.get("magic", ""))
        mask = bytes.fromhex(entry.get("mask", "")) or b"\xff" * len(magic)
        offset = int(entry.get("offset", "0"))
    except ValueError:
        return False
    window = header[offset:offset + len(magic)]
    return bool(magic) and len(window) == len(magic) and all(
        (h & m) == (g & m) for h, g, m in zip(window, magic, mask, strict=False))


def emulation_problem(arch: str, root: Path = BINFMT) -> str | None:
    """Why this kernel cannot run ``arch``'s programs in a container, or None if it can (its
    own architecture, or a binfmt_misc interpreter registered with the F flag)."""
    if not is_foreign(arch):
        return None
    if not (root / "status").exists():
        return (f"binfmt_misc is not mounted at {root}, so this kernel runs no {arch} programs "
                "(mount it: `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`)")
    if (root / "status").read_text().strip() != "enabled":
        return "binfmt_misc is disabled in this kernel"
    found = [e for e in _binfmt_entries(root) if _matches(e, _ELF_HEADERS[arch])]
    usable = [e for e in found if e["enabled"] == "True" and "F" in e.get("flags", "")]
    if usable:
        return None
    if found:
        return (f"the {arch} interpreter ({found[0]['name']}) is registered without the F "
                "flag (or disabled), so containers, which do not have it, cannot use it")
    return f"no interpreter for {arch} programs is registered with this kernel's binfmt_misc"


def memory_limit(limit: str, arch: str) -> str:
    """The container's memory limit for a service of ``arch`` whose programs may use ``limit``
    (``"128m"``): the same on its own architecture, plus :data:`EMULATION_MEMORY` (in MiB)
    under emulation."""
    if not is_foreign(arch):
        return limit
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    text = limit.strip().lower().removesuffix("b")
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "")
    total = int(number) * units[unit] + EMULATION_MEMORY
    return f"{-(-total // 1024**2)}m"
