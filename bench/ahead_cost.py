"""Benchmark: what a share prepared ahead costs while it waits (the desktop app keeps at most
one, while its share dialog is open), beside the same service once it serves.

On the default test network, --runs times: ``Manager.share("site", ahead=True)`` (the onion
published, the service held), then over --idle seconds of waiting: the container's memory as
the engine counts it (``docker stats``), its CPU time (the cgroup's ``cpu_stats``, as a share
of one core) and what its tor read and wrote (``GETINFO traffic/*`` on its control socket);
then ``Manager.start`` and the same over --idle seconds of the service serving nobody. Writes
bench/results/<--output>.json and .md. Never uses the public Tor network.

    MYONION_NETWORK=local flock -x /tmp/myonion-engine.lock .venv/bin/python bench/ahead_cost.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
from benchlib import fmt, summary

from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.testnet import Testnet
from myonion.tor import control

KEYS = ("memory_mb", "cpu_percent", "read_kib", "written_kib")


def cpu_ns(runtime: DockerRuntime, name: str) -> int:
    stats = runtime.client.api.stats(name, stream=False)
    return int(stats["cpu_stats"]["cpu_usage"]["total_usage"])


def traffic(ctl: Path) -> tuple[int, int]:
    with control.connect(ctl) as controller:
        return (int(controller.get_info("traffic/read")),
                int(controller.get_info("traffic/written")))


def idle_cost(runtime: DockerRuntime, name: str, ctl: Path, seconds: float) -> dict[str, float]:
    """Memory, CPU (% of one core) and tor's bytes over ``seconds`` of waiting."""
    cpu0, (read0, written0), t0 = cpu_ns(runtime, name), traffic(ctl), time.monotonic()
    time.sleep(seconds)
    cpu1, (read1, written1), t1 = cpu_ns(runtime, name), traffic(ctl), time.monotonic()
    return {"memory_mb": benchlib.container_memory(runtime, name)["usage_mb"],
            "cpu_percent": round(100 * (cpu1 - cpu0) / ((t1 - t0) * 1e9), 2),
            "read_kib": round((read1 - read0) / 1024, 1),
            "written_kib": round((written1 - written0) / 1024, 1)}


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# A share prepared ahead, waiting, against the same service serving "
             f"({r['measured']})", "",
             f"{r['machine']['cpus']} CPUs; the default test network; {r['runs']} runs; each "
             f"figure over {r['idle_s']} s (memory at the end). min / median / max.", "",
             "| | memory MiB (docker stats) | CPU % of one core | tor read KiB | tor written "
             "KiB |", "|---|---|---|---|---|"]
    for phase, label in (("held", "prepared ahead, service held"),
                         ("serving", "the same, after Share: serving, no visitor")):
        cells = " | ".join(fmt(r["summary"][phase][k]).replace(" | ", " / ") for k in KEYS)
        lines.append(f"| {label} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    benchlib.require_local()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--output", default="ahead-cost")
    args = parser.parse_args()
    runtime = DockerRuntime()
    site = Path(tempfile.mkdtemp(prefix="myonion-bench-ahead-"))
    (site / "index.html").write_text("<h1>ahead</h1>\n")
    os.chmod(site, 0o755)
    rows: dict[str, list[dict[str, float]]] = {"held": [], "serving": []}
    with tempfile.TemporaryDirectory(prefix="myonion-bench-ahead-home-") as home:
        os.environ["MYONION_HOME"] = home  # the services' records; never the user's
        store = StateStore()
        manager = Manager(runtime=runtime, store=store, testnet=Testnet(runtime))
        for i in range(args.runs):
            name = f"bench-ahead-{i}"
            try:
                manager.share("site", {"dir": str(site)}, name=name, ahead=True, timeout=180)
                ctl = store.service_dir(name) / "ctl"
                rows["held"].append(idle_cost(runtime, container_name(name), ctl, args.idle))
                manager.start(name, timeout=120)
                rows["serving"].append(idle_cost(runtime, container_name(name), ctl,
                                                 args.idle))
                print(f"run {i}: held {rows['held'][-1]}, serving {rows['serving'][-1]}",
                      file=sys.stderr, flush=True)
            finally:
                with contextlib.suppress(Exception):
                    manager.remove(name, purge=True)
    result = {"measured": benchlib.stamp(), "machine": benchlib.machine(), "runs": args.runs,
              "idle_s": args.idle, "rows": rows,
              "summary": {p: {k: summary(r[k] for r in rows[p]) for k in KEYS} for p in rows}}
    benchlib.write_results(args.output, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
