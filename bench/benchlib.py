"""Helpers shared by the benchmark scripts in bench/ (not a test module, not part of myonion).

Every script imports this first: :func:`require_local` refuses to run unless
``MYONION_NETWORK=local``, so no benchmark can ever start a tor against the public Tor network.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from myonion.runtime.docker import DockerRuntime

RESULTS = Path(__file__).resolve().parent / "results"
#: prints "<pid> <comm> <VmRSS kB>" for every process of a container (run with sh -c)
PROCESS_RSS = (
    "for p in /proc/[0-9]*; do "
    "c=$(cat $p/comm 2>/dev/null) || continue; "
    "r=$(grep -s '^VmRSS' $p/status | tr -s ' ' | cut -d' ' -f2); "
    "[ -n \"$r\" ] && echo \"${p#/proc/} $c $r\"; done"
)


def require_local() -> None:
    """Exit unless the test network is selected: benchmarks never use the public Tor network."""
    if os.environ.get("MYONION_NETWORK") != "local":
        print("set MYONION_NETWORK=local: benchmarks never use the public Tor network",
              file=sys.stderr)
        raise SystemExit(2)


def summary(values: Iterable[float]) -> dict[str, float]:
    """min / median / max (rounded to 10 ms) and n of some seconds (or megabytes)."""
    data = list(values)
    if not data:
        return {"min": float("nan"), "median": float("nan"), "max": float("nan"), "n": 0}
    return {"min": round(min(data), 2), "median": round(statistics.median(data), 2),
            "max": round(max(data), 2), "n": len(data)}


def fmt(s: dict[str, float]) -> str:
    """``| min | median | max |`` cells of a :func:`summary`."""
    return f"{s['min']} | {s['median']} | {s['max']}"


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def wait_quiet(limit: float | None = None, longest: float = 180.0) -> float:
    """Wait (at most ``longest`` s) until the 1-minute load is below ``limit`` (default: the
    number of CPUs), so that a phase is not measured in the wake of the one before; returns
    the load it starts at."""
    limit = float(os.cpu_count() or 1) if limit is None else limit
    deadline = time.monotonic() + longest
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "load_1m": round(os.getloadavg()[0], 2)}


def stats_memory_mib(stats: dict[str, Any]) -> float:
    """A container's memory as ``docker stats`` shows it (cgroup usage less the inactive page
    cache), in MiB, from one answer of the engine's stats call."""
    mem = stats["memory_stats"]
    extra = mem.get("stats", {})
    cache = extra.get("inactive_file", extra.get("total_inactive_file", extra.get("cache", 0)))
    return float(mem.get("usage", 0) - cache) / 2**20


def container_memory(runtime: DockerRuntime, name: str) -> dict[str, float]:
    """The engine's view of a container's memory (:func:`stats_memory_mib`) and its limit,
    in MiB."""
    stats = runtime.client.api.stats(name, stream=False)
    return {"usage_mb": round(stats_memory_mib(stats), 1),
            "limit_mb": round(stats["memory_stats"].get("limit", 0) / 2**20)}


def process_rss(runtime: DockerRuntime, name: str) -> list[dict[str, Any]]:
    """Every process of a container with its RSS (MiB), from /proc/*/status inside it."""
    code, out = runtime.exec(name, ["sh", "-c", PROCESS_RSS])
    rows: list[dict[str, Any]] = []
    if code != 0:
        return rows
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit() and parts[2].isdigit():
            rows.append({"pid": int(parts[0]), "comm": parts[1],
                         "rss_mb": round(int(parts[2]) / 1024, 2)})
    return [r for r in rows if r["comm"] not in ("sh", "cut", "tr", "grep", "cat")]


def rss_by_command(rows: list[dict[str, Any]]) -> dict[str, float]:
    """RSS summed per command name (tor, nginx, tini, myonion-entry...)."""
    out: dict[str, float] = {}
    for r in rows:
        out[r["comm"]] = round(out.get(r["comm"], 0.0) + r["rss_mb"], 2)
    return out


def _kb(text: str, key: str) -> int | None:
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def host_memory(pid: int) -> dict[str, float] | None:
    """RSS, PSS and USS (MiB) of a process on this host (root can read every process's smaps).
    PSS shares the pages that several processes map (the same tor binary and libraries in
    every container, nginx's master and workers) among them, so PSS adds up across processes
    and RSS does not; USS (private pages only) is what ending the process would free."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    rss, pss = _kb(status, "VmRSS"), _kb(rollup, "Pss")
    private = [_kb(rollup, "Private_Clean"), _kb(rollup, "Private_Dirty")]
    if rss is None or pss is None or None in private:
        return None
    uss = sum(v for v in private if v is not None)
    return {"rss_mb": round(rss / 1024, 2), "pss_mb": round(pss / 1024, 2),
            "uss_mb": round(uss / 1024, 2)}


def container_processes(runtime: DockerRuntime, name: str) -> list[dict[str, Any]]:
    """Every process of a container, read on this host: pid, command, RSS and PSS (MiB)."""
    top = runtime.client.api.top(name)
    column = top["Titles"].index("PID")
    rows: list[dict[str, Any]] = []
    for proc in top.get("Processes") or []:
        pid = int(proc[column])
        mem = host_memory(pid)
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if mem is not None:
            rows.append({"pid": pid, "comm": comm, **mem})
    return rows


def shim_memory_mb(container_ids: Iterable[str]) -> dict[str, dict[str, float]]:
    """RSS and PSS (MiB) of the engine's per-container shim process on this host
    (containerd-shim), by container id: a cost per container that ``docker stats`` does not
    show."""
    wanted = set(container_ids)
    found: dict[str, dict[str, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if "containerd-shim" not in (proc / "comm").read_text():
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        ids = [a.decode() for a in argv if a.decode() in wanted]
        mem = host_memory(int(proc.name)) if ids and "VmRSS" in status else None
        if ids and mem is not None:
            found[ids[0]] = mem
    return found


def write_results(name: str, result: dict[str, Any], markdown: str) -> None:
    """bench/results/<name>.json and .md."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    print(markdown)
