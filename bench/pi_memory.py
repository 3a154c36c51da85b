"""Benchmark: the memory of every template on arm64 (a 64-bit Raspberry Pi's architecture),
and how many services fit on a Pi Zero 2 W, a Pi 3 and a Pi 4/5.

There is no Pi here: each template is shared for ``--arch`` (arm64 by default) on the local test
network and runs under emulation (qemu-user). Its processes are then read on this host after
``--idle`` seconds:

- measured: each process's RSS, PSS and USS (``/proc/PID/smaps_rollup``), the container's memory
  as the engine counts it (cgroup usage less page cache, what ``docker stats`` shows), and the
  engine's shim per container;
- split, per process, from ``/proc/PID/smaps``: what is qemu-user's own (its binary, its
  ``[heap]``, its translated-code buffer and the other allocations outside the guest's address
  range) and what is the arm64 program's (the guest's mappings: its binary, libraries, heap,
  stacks). Under qemu-user a 64-bit guest's mappings sit low (from 0x5500000000, qemu's
  guest_base being 0) and qemu's own high, near its binary; a 32-bit guest's all lie in the one
  4 GiB range qemu reserves for it;
- estimated: the guest part is what the process would take on a real Pi (the same arm64
  program, minus the emulator), cross-checked against the native amd64 figures of
  bench/results/templates.json (the same programs built for amd64).

Writes bench/results/pi_memory.json and .md. Never uses the public Tor network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import pi_sizing
from templates import options_for

from myonion.build import images
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore

TEMPLATES = ("site", "ssh", "iot-receiver", "forward", "mqtt-bridge")
SUPERVISOR = ("tini", "myonion-entry", "bash", "sleep")
#: below this, a 64-bit guest's mappings (qemu-user maps them from 0x5500000000 up; its own
#: binary, heap and buffers lie far above, at 0x5555… and 0x7f…)
GUEST64_TOP = 0x1000_0000_0000
MAPPING_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def mappings(pid: int) -> list[dict[str, Any]]:
    """The process's mappings: start, end, perms, path, Rss/Pss/private kB."""
    rows: list[dict[str, Any]] = []
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        match = MAPPING_RE.match(line)
        if match:
            rows.append({"start": int(match.group(1), 16), "end": int(match.group(2), 16),
                         "perms": match.group(3), "path": match.group(4).strip(),
                         "rss": 0, "pss": 0, "private": 0})
            continue
        key, _, value = line.partition(":")
        if rows and key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
            kb = int(value.split()[0])
            rows[-1]["private" if key.startswith("Private") else key.lower()] += kb
    return rows


def guest_range(rows: list[dict[str, Any]], program: str, bits: int) -> tuple[int, int]:
    """The address range of the guest's mappings (see the module docstring)."""
    if bits == 64:
        return 0, GUEST64_TOP
    ordered = sorted(rows, key=lambda r: r["start"])
    index = next(i for i, r in enumerate(ordered) if r["path"] == program)
    low = high = index
    while low > 0 and ordered[low - 1]["end"] == ordered[low]["start"]:
        low -= 1
    while high + 1 < len(ordered) and ordered[high + 1]["start"] == ordered[high]["end"]:
        high += 1
    return ordered[low]["start"], ordered[high]["end"]


def split_process(pid: int) -> dict[str, Any] | None:
    """One process's memory (MiB): the whole, qemu-user's own and the guest's."""
    try:
        runner = os.readlink(f"/proc/{pid}/exe")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        rows = mappings(pid)
    except OSError:
        return None
    emulated = os.path.basename(runner).startswith("qemu-")
    program = argv[1].decode() if emulated and len(argv) > 1 else runner
    with open(f"/proc/{pid}/root{program}", "rb") as f:
        bits = 64 if f.read(5)[4] == 2 else 32
    low, high = guest_range(rows, program, bits) if emulated else (0, 1 << 64)
    named_qemu = ("[heap]", "[stack]", "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]")
    parts = {"all": [0, 0, 0], "qemu": [0, 0, 0], "guest": [0, 0, 0]}
    for row in rows:
        ours = emulated and (row["path"] == runner or row["path"] in named_qemu
                             or not low <= row["start"] < high)
        for part in ("all", "qemu" if ours else "guest"):
            parts[part] = [parts[part][0] + row["rss"], parts[part][1] + row["pss"],
                           parts[part][2] + row["private"]]
    return {"pid": pid, "comm": comm, "program": program, "bits": bits, "emulated": emulated,
            **{f"{part}_{kind}_mb": round(values[i] / 1024, 2)
               for part, values in parts.items()
               for i, kind in enumerate(("rss", "pss", "uss"))}}


def measure(runtime: DockerRuntime, name: str) -> dict[str, Any]:
    top = runtime.client.api.top(name)
    column = top["Titles"].index("PID")
    processes = [p for p in (split_process(int(row[column]))
                             for row in top.get("Processes") or []) if p]
    container = runtime.client.api.inspect_container(name)["Id"]
    shim = benchlib.shim_memory_mb([container]).get(container, {})
    groups: dict[str, dict[str, Any]] = {}
    for proc in processes:
        comm = proc["comm"]
        part = "tor" if comm == "tor" else "supervisor" if comm in SUPERVISOR else "service"
        acc = groups.setdefault(part, {"commands": set()})
        acc["commands"].add(comm)
        for key, value in proc.items():
            if key.endswith("_mb"):
                acc[key] = round(acc.get(key, 0.0) + value, 2)
    for acc in groups.values():
        acc["commands"] = sorted(acc["commands"])
    return {**benchlib.container_memory(runtime, name), "shim": shim, "processes": processes,
            "parts": groups}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="arm64")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds idle before measuring")
    parser.add_argument("--templates", nargs="*", default=list(TEMPLATES))
    args = parser.parse_args()
    benchlib.require_local()
    os.environ.setdefault("MYONION_HOME", tempfile.mkdtemp(prefix="myonion-bench-pi-"))
    runtime = DockerRuntime()
    manager = Manager(runtime=runtime, store=StateStore(), arch=args.arch)
    manager.testnet.up()
    images.build_base(runtime, arch=args.arch)
    work = Path(tempfile.mkdtemp(prefix="myonion-bench-pi-keys-"))
    rows: list[dict[str, Any]] = []
    made: list[str] = []
    try:
        receiver = None
        for template in args.templates:
            image = images.template_image(runtime, manager.template(template), arch=args.arch)
            name = f"bench-pi-{template}"
            if template == "forward":
                options = {"target_host": container_name("bench-pi-iot-receiver"),
                           "target_port": 8080}
            else:
                options = options_for(template, work, receiver)
            started = time.monotonic()
            view = manager.share(template, options, name=name, timeout=300)
            made.append(name)
            if template == "iot-receiver":
                receiver = view.address
            rows.append({"template": template, "image": image, "stage": view.stage,
                         "share_to_reachable_s": round(time.monotonic() - started, 1)})
        time.sleep(args.idle)
        for row in rows:
            row.update(measure(runtime, container_name(f"bench-pi-{row['template']}")))
    finally:
        for name in made:
            manager.remove(name, purge=True)
    result = {"arch": args.arch, "idle_seconds": args.idle, "measured": benchlib.stamp(),
              "machine": benchlib.machine(), "templates": rows}
    result["pi"] = pi_sizing.fit(result, json.loads(
        (benchlib.RESULTS / "templates.json").read_text()))
    benchlib.write_results("pi_memory", result, pi_sizing.markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
