"""What a service's container costs while it is attacked, for bench/hostile.py: CPU, memory,
pids and OOM kills from the container's cgroup files on this host (v1 or v2), restarts from the
engine, and the bytes in its volumes (read from the volume's directory on this host); and a
guard that stops an attack before it costs the shared test network a relay."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from myonion.runtime.docker import DockerRuntime

CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _field(text: str | None, key: str) -> int | None:
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return None


class Cgroup:
    """The cgroup files of one container (by full id): cgroup v1 (cgroupfs driver) or v2."""

    def __init__(self, container_id: str) -> None:
        self.id = container_id
        self.v2 = (CGROUP / "cgroup.controllers").exists()

    def _dir(self, controller: str) -> Path | None:
        if self.v2:
            candidates = [CGROUP / "system.slice" / f"docker-{self.id}.scope",
                          CGROUP / "docker" / self.id]
        else:
            candidates = [CGROUP / controller / "docker" / self.id,
                          CGROUP / controller / "system.slice" / f"docker-{self.id}.scope"]
        return next((c for c in candidates if c.is_dir()), None)

    def sample(self) -> dict[str, int] | None:
        """cpu_ns (cumulative), mem_bytes (less inactive file cache), pids, oom_kills."""
        if self.v2:
            d = self._dir("")
            if d is None:
                return None
            usage = _field(_read(d / "cpu.stat"), "usage_usec")
            mem = int((_read(d / "memory.current") or "0").strip() or 0)
            inactive = _field(_read(d / "memory.stat"), "inactive_file") or 0
            oom = _field(_read(d / "memory.events"), "oom_kill") or 0
            pids = int((_read(d / "pids.current") or "0").strip() or 0)
            return {"cpu_ns": (usage or 0) * 1000, "mem_bytes": mem - inactive, "pids": pids,
                    "oom_kills": oom}
        cpu, memd, pidd = self._dir("cpuacct"), self._dir("memory"), self._dir("pids")
        if cpu is None or memd is None:
            return None
        inactive = _field(_read(memd / "memory.stat"), "total_inactive_file") or 0
        return {"cpu_ns": int((_read(cpu / "cpuacct.usage") or "0").strip() or 0),
                "mem_bytes": int((_read(memd / "memory.usage_in_bytes") or "0").strip() or 0)
                - inactive,
                "pids": int((_read(pidd / "pids.current") or "0").strip() or 0) if pidd else 0,
                "oom_kills": _field(_read(memd / "memory.oom_control"), "oom_kill") or 0}


def volume_bytes(runtime: DockerRuntime, volume: str) -> int | None:
    """Bytes of the files in a Docker volume, read in its directory on this host (root)."""
    try:
        mount = Path(runtime.client.api.inspect_volume(volume)["Mountpoint"])
    except Exception:  # the volume is gone or the engine does not say
        return None
    total = 0
    for folder, _, files in os.walk(mount):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


class Watch:
    """Samples one container about once a second in a thread, phase by phase."""

    def __init__(self, runtime: DockerRuntime, container: str,
                 volumes: tuple[str, ...] = ()) -> None:
        self.runtime, self.container, self.volumes = runtime, container, volumes
        self.samples: list[dict[str, Any]] = []
        self.phase = "before"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.restarts0 = self._inspect()[0]

    def _inspect(self) -> tuple[int, bool, str]:
        """RestartCount, OOMKilled and the status of the container (-1/False/"gone")."""
        try:
            state = self.runtime.client.api.inspect_container(self.container)
        except Exception:  # removed, or the engine is busy
            return -1, False, "gone"
        return (int(state.get("RestartCount", 0)), bool(state["State"].get("OOMKilled")),
                str(state["State"].get("Status")))

    def start(self) -> Watch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        last: tuple[float, int] | None = None
        cgroup: Cgroup | None = None
        tick = 0
        while not self._stop.is_set():
            restarts, oom_killed, status = self._inspect()
            if cgroup is None and status != "gone":
                cgroup = Cgroup(self.runtime.client.api.inspect_container(self.container)["Id"])
            now = time.monotonic()
            raw = cgroup.sample() if cgroup else None
            row: dict[str, Any] = {"t": now, "phase": self.phase, "restarts": restarts,
                                   "oom_killed": oom_killed, "status": status}
            if raw is not None:
                if last is not None and raw["cpu_ns"] >= last[1]:
                    row["cpu_pct"] = round((raw["cpu_ns"] - last[1]) / 1e9
                                           / (now - last[0]) * 100, 1)
                last = (now, raw["cpu_ns"])
                row.update(mem_mb=round(raw["mem_bytes"] / 2**20, 1), pids=raw["pids"],
                           oom_kills=raw["oom_kills"])
            if self.volumes and tick % 3 == 0:  # walking a volume costs: every 3 s
                row["disk_mb"] = {v: round((volume_bytes(self.runtime, v) or 0) / 2**20, 1)
                                  for v in self.volumes}
            self.samples.append(row)
            tick += 1
            self._stop.wait(1.0)

    def summary(self, phase: str) -> dict[str, Any]:
        """CPU (mean/max %), memory and pids (max), OOM kills, restarts and disk (last) of one
        phase."""
        rows = [r for r in self.samples if r["phase"] == phase]
        cpu = [r["cpu_pct"] for r in rows if "cpu_pct" in r]
        mem = [r["mem_mb"] for r in rows if "mem_mb" in r]
        disk = [r["disk_mb"] for r in rows if "disk_mb" in r]
        return {"samples": len(rows),
                "cpu_pct_mean": round(statistics.mean(cpu), 1) if cpu else None,
                "cpu_pct_max": max(cpu) if cpu else None,
                "mem_mb_max": max(mem) if mem else None,
                "pids_max": max((r.get("pids", 0) for r in rows), default=None),
                "oom_kills": max((r.get("oom_kills", 0) for r in rows), default=0),
                "oom_killed": any(r["oom_killed"] for r in rows),
                "restarts": max((r["restarts"] for r in rows), default=0) - max(
                    self.restarts0, 0),
                "status_seen": sorted({r["status"] for r in rows}),
                "disk_mb": disk[-1] if disk else None}


class NetGuard:
    """Watches the memory of the test network's containers (their cgroups, twice a second) while
    a wave runs, and calls ``on_trip`` once if one of them passes ``share`` of its limit: the
    test network is shared, and an attack through it must not get a relay OOM-killed."""

    def __init__(self, runtime: DockerRuntime, on_trip: Callable[[str], None],
                 share: float = 0.9) -> None:
        self.on_trip, self.share = on_trip, share
        self.nodes: dict[str, tuple[Cgroup, int]] = {}
        for container in runtime.client.containers.list(filters={"name": "myonion-testnet-"}):
            limit = int(container.attrs["HostConfig"].get("Memory") or 0)
            self.nodes[container.name] = (Cgroup(container.id), limit)
        self.peak_mb: dict[str, float] = {}
        self.tripped: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> NetGuard:
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=10)
        top = sorted(self.peak_mb.items(), key=lambda kv: -kv[1])[:3]
        return {"peak_mb": dict(top), "tripped": self.tripped}

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, (cgroup, limit) in self.nodes.items():
                sample = cgroup.sample()
                if sample is None:
                    continue
                mb = round(sample["mem_bytes"] / 2**20, 1)
                self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), mb)
                if limit and sample["mem_bytes"] > self.share * limit and not self.tripped:
                    self.tripped = f"{name} at {mb} MiB of {limit // 2**20}"
                    self.on_trip(self.tripped)
            self._stop.wait(0.5)
