"""The gateway machine's health as a reading: uptime, load, memory, disk, temperature and the state
of its myonion services.

What a container can read of its host without anything being handed to it: /proc/uptime,
/proc/loadavg and /proc/meminfo are not namespaced (a container sees the host's figures, and
nothing of the host's processes or files), and sysfs is mounted read-only in every container, so
/sys/class/thermal/thermal_zone*/temp is the board's sensor where it has one. The disk is the one
the queue's volume is on (Docker's data directory, on a Pi the SD card): os.statvfs of the queue's
folder. The services' states come from a file myonion writes on the host (``myonion health
snapshot``, and every ``myonion up``) into a folder mounted read-only here: never the Docker
socket, which would give the container the whole machine.
"""

from __future__ import annotations

import glob
import json
import os
import time
from typing import Any

PROC = os.environ.get("BRIDGE_PROC", "/proc")
THERMAL = os.environ.get("BRIDGE_THERMAL", "/sys/class/thermal")
SERVICES_FILE = os.environ.get("BRIDGE_HOST_SERVICES", "/run/myonion/host/services.json")


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read(65536)
    except OSError:
        return None


def uptime_load() -> dict[str, float]:
    found: dict[str, float] = {}
    text = _read(os.path.join(PROC, "uptime"))
    if text:
        found["uptime_h"] = round(float(text.split()[0]) / 3600, 2)
    text = _read(os.path.join(PROC, "loadavg"))
    if text:
        one, five, fifteen = (float(x) for x in text.split()[:3])
        found.update(load_1=one, load_5=five, load_15=fifteen)
    return found


def memory() -> dict[str, float]:
    text = _read(os.path.join(PROC, "meminfo")) or ""
    kib = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            kib[name] = int(value.split()[0])
    if "MemTotal" not in kib or "MemAvailable" not in kib:
        return {}
    total = kib["MemTotal"]
    return {"mem_total_mb": round(total / 1024, 1),
            "mem_used_pct": round(100 * (total - kib["MemAvailable"]) / max(1, total), 1)}


def disk(path: str) -> dict[str, float]:
    try:
        st = os.statvfs(path)
    except OSError:
        return {}
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return {"disk_total_gb": round(total / 1e9, 2),
            "disk_used_pct": round(100 * (total - free) / max(1, total), 1)}


def temperature() -> dict[str, float]:
    """The warmest thermal zone in °C; nothing where the board has no sensor."""
    values = []
    for path in sorted(glob.glob(os.path.join(THERMAL, "thermal_zone*", "temp"))):
        text = _read(path)
        if text and text.strip().lstrip("-").isdigit():
            values.append(int(text) / 1000)
    return {"temp_c": round(max(values), 1)} if values else {}


def services(now: float) -> dict[str, Any]:
    """The myonion services' states as myonion last wrote them, and how old that is."""
    text = _read(SERVICES_FILE)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        return {}
    states = {str(s.get("name")): str(s.get("state")) for s in data["services"][:200]
              if isinstance(s, dict)}
    written = data.get("written")
    return {"services": states,
            "services_running": sum(1 for v in states.values() if v == "running"),
            "services_total": len(states),
            "services_age_s": round(now - written) if isinstance(written, int | float) else None}


def reading(disk_path: str) -> dict[str, Any]:
    """One health reading (figures that cannot be read are left out)."""
    now = time.time()
    return {**uptime_load(), **memory(), **disk(disk_path), **temperature(), **services(now)}
