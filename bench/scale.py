"""Benchmark: many `site` services at once on the private Tor network (local mode only).

Measures, in one fresh MYONION_HOME (so only the services made here are listed):
1. CLI latency with 0 services: `myonion ls`, `myonion status NAME` (an unknown name: the error
   path) and `myonion --version` (interpreter + imports), each a subprocess, median of --cli-runs;
2. a single share (`Manager.share("site")`, image built) until reachable, --single-runs times;
3. --count (20) shares at once, each in its own thread through one Manager (as the GUI's workers
   do), until every one is reachable through the test network's client: the wall time, each
   service's own share time, failures and their reasons;
4. CLI latency again with those services running;
5. after --idle seconds, memory of 20, then 10, 5 and 1 of them running at once (the others
   removed): the containers' memory as the engine's stats API reports it (like bench/templates.py),
   the engine's per-container shim on the host, and in one container the RSS of tor and nginx
   read from /proc/*/status.
Writes bench/results/scale.json and .md. Never uses the public Tor network.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import benchlib
from benchlib import fmt, summary

from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore

PREFIX = "bench-scale"
MYONION = Path(sys.executable).with_name("myonion")


def cli_latency(args: list[str], runs: int, env: dict[str, str]) -> dict[str, Any]:
    """Median wall time of ``myonion ARGS`` as a subprocess (and its exit status)."""
    times: list[float] = []
    code = 0
    for _ in range(runs):
        start = time.monotonic()
        proc = subprocess.run([str(MYONION), *args], env=env, capture_output=True, text=True,
                              timeout=120)
        times.append(time.monotonic() - start)
        code = proc.returncode
    return {"command": "myonion " + " ".join(args), "exit": code, **summary(times),
            "runs": [round(t, 3) for t in times]}


def share_one(manager: Manager, site: Path, name: str, t0: float,
              timeout: float) -> dict[str, Any]:
    """Share one site service; never raises: a failure is recorded with its reason."""
    start = time.monotonic()
    row: dict[str, Any] = {"name": name, "thread_started": round(start - t0, 3)}
    try:
        view = manager.share("site", {"dir": str(site)}, name=name, timeout=timeout)
        row.update(ok=view.stage == "reachable", stage=view.stage, timings=dict(view.timings),
                   address=view.address)
        if view.stage != "reachable":
            row["error"] = f"ended at stage {view.stage}: {view.reason}"
    except Exception as e:  # a benchmark records failures instead of stopping
        row.update(ok=False, error=f"{type(e).__name__}: {e}",
                   detail=str(getattr(e, "detail", "") or "")[-1500:])
    row["share_s"] = round(time.monotonic() - start, 3)
    row["done_at"] = round(time.monotonic() - t0, 3)
    return row


def memory_snapshot(runtime: DockerRuntime, names: list[str]) -> dict[str, Any]:
    """The memory of the running services: the engine's stats per container, the RSS and PSS
    of their processes and of their shims, read on this host."""
    infos = {n: runtime.get(container_name(n)) for n in names}
    stats = {n: benchlib.container_memory(runtime, container_name(n))["usage_mb"] for n in names}
    procs = [p for n in names for p in benchlib.container_processes(runtime, container_name(n))]
    shims = benchlib.shim_memory_mb(i.id for i in infos.values() if i is not None)
    return {"running": len(names), "stats_mb": round(sum(stats.values()), 1),
            "stats_per_container_mb": summary(stats.values()),
            "processes_rss_mb": round(sum(p["rss_mb"] for p in procs), 1),
            "processes_pss_mb": round(sum(p["pss_mb"] for p in procs), 1),
            "processes_uss_mb": round(sum(p["uss_mb"] for p in procs), 1),
            "shims_found": len(shims),
            "shims_rss_mb": round(sum(m["rss_mb"] for m in shims.values()), 1),
            "shims_pss_mb": round(sum(m["pss_mb"] for m in shims.values()), 1),
            "shims_uss_mb": round(sum(m["uss_mb"] for m in shims.values()), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20, help="services shared at once")
    parser.add_argument("--single-runs", type=int, default=3)
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0,
                        help="seconds idle before the memory is read")
    parser.add_argument("--timeout", type=float, default=300.0, help="per share")
    parser.add_argument("--steps", default="20,10,5,1",
                        help="how many services run at once when memory is read (descending); "
                        "'' reads no memory")
    parser.add_argument("--output", default="scale",
                        help="name of the results files in bench/results")
    args = parser.parse_args()
    benchlib.require_local()
    home = tempfile.mkdtemp(prefix="myonion-bench-scale-")
    os.environ["MYONION_HOME"] = home
    env = {**os.environ, "MYONION_HOME": home, "MYONION_NETWORK": "local"}
    runtime = DockerRuntime()
    manager = Manager(runtime=runtime, store=StateStore())
    manager.testnet.up()
    site = Path(tempfile.mkdtemp(prefix="myonion-bench-site-"))
    (site / "index.html").write_text("<h1>bench scale</h1>\n")
    os.chmod(site, 0o755)
    result: dict[str, Any] = {"measured": benchlib.stamp(), "machine": benchlib.machine(),
                              "count": args.count}
    made: list[str] = []
    lock = threading.Lock()
    try:
        # 1. CLI with no services
        cli0 = [cli_latency(["ls"], args.cli_runs, env),
                cli_latency(["status", f"{PREFIX}-none"], args.cli_runs, env),
                cli_latency(["--version"], args.cli_runs, env)]
        print(f"cli, 0 services: {[(c['command'], c['median']) for c in cli0]}", file=sys.stderr)

        # 2. single shares, one after the other
        singles: list[dict[str, Any]] = []
        for i in range(args.single_runs):
            row = share_one(manager, site, f"{PREFIX}-single-{i}", time.monotonic(), args.timeout)
            singles.append(row)
            print(f"single {i}: {row['share_s']} s ok={row['ok']}", file=sys.stderr)
            manager.remove(row["name"], purge=True)

        # 3. --count shares at once
        names = [f"{PREFIX}-{i:02d}" for i in range(args.count)]
        load_before = benchlib.wait_quiet()  # not in the wake of the single shares
        t0 = time.monotonic()

        def job(name: str) -> dict[str, Any]:
            with lock:
                made.append(name)
            return share_one(manager, site, name, t0, args.timeout)

        with ThreadPoolExecutor(max_workers=args.count) as pool:
            rows = list(pool.map(job, names))
        wall = time.monotonic() - t0
        ok = [r for r in rows if r["ok"]]
        print(f"{args.count} at once: {len(ok)} reachable, all done after {wall:.1f} s",
              file=sys.stderr)
        for r in rows:
            if not r["ok"]:
                print(f"  {r['name']} failed: {r['error']}", file=sys.stderr)

        # 4. CLI with the services there
        running = [r["name"] for r in ok]
        cli_n = [cli_latency(["ls"], args.cli_runs, env),
                 cli_latency(["status", running[0] if running else names[0]], args.cli_runs,
                             env),
                 cli_latency(["--version"], args.cli_runs, env)]
        print(f"cli, {len(running)} services: {[(c['command'], c['median']) for c in cli_n]}",
              file=sys.stderr)

        # 5. memory at 20, 10, 5, 1 running
        time.sleep(args.idle)
        split_rows = benchlib.process_rss(runtime, container_name(running[0])) if running else []
        split_host = (benchlib.container_processes(runtime, container_name(running[0]))
                      if running else [])
        memory: list[dict[str, Any]] = []
        for step in sorted({int(s) for s in args.steps.split(",") if s}, reverse=True):
            if step > len(running):
                continue
            for name in running[step:]:
                manager.remove(name, purge=True)
                made.remove(name)
            running = running[:step]
            if memory:
                time.sleep(5)  # let the engine's figures settle after the removals
            memory.append(memory_snapshot(runtime, running))
            print(f"memory with {step} running: {memory[-1]}", file=sys.stderr)

        single_s = [r["share_s"] for r in singles if r["ok"]]
        result.update({
            "cli": {"0": cli0, str(len(ok)): cli_n},
            "single": {"share_s": summary(single_s), "runs": singles},
            "parallel": {"wall_s": round(wall, 2), "reachable": len(ok),
                         "failed": len(rows) - len(ok), "load_1m_before": round(load_before, 2),
                         "share_s": summary(r["share_s"] for r in ok),
                         "fetched_from_start_s": summary(
                             r["timings"].get("reachable", 0) for r in ok),
                         "published_from_start_s": summary(
                             r["timings"].get("published", 0) for r in ok),
                         "published_to_fetched_s": summary(
                             r["timings"].get("reachable", 0) - r["timings"].get("published", 0)
                             for r in ok),
                         "runs": rows},
            "memory": memory,
            "split": {"processes": split_rows, "by_command": benchlib.rss_by_command(split_rows),
                      "host": split_host},
        })
    finally:
        for name in list(made):
            try:
                manager.remove(name, purge=True)
            except Exception as e:  # keep removing the others
                print(f"could not remove {name}: {e}", file=sys.stderr)
    benchlib.write_results(args.output, result, markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    p, s = r["parallel"], r["single"]
    single_med = s["share_s"]["median"]
    lines = [f"# Scale: {r['count']} `site` services at once ({r['measured']}, "
             f"{r['machine']['cpus']} cores)", "",
             "## Time until reachable", "",
             "| measure (s) | min | median | max |", "|---|---|---|---|",
             f"| one share alone (`Manager.share` call → reachable), n={s['share_s']['n']} | "
             f"{fmt(s['share_s'])} |",
             f"| {r['count']} at once: each share's own time | {fmt(p['share_s'])} |",
             f"| {r['count']} at once: container start → published | "
             f"{fmt(p['published_from_start_s'])} |",
             f"| {r['count']} at once: container start → fetched | "
             f"{fmt(p['fetched_from_start_s'])} |",
             *([f"| {r['count']} at once: published → fetched | "
                f"{fmt(p['published_to_fetched_s'])} |"]
               if "published_to_fetched_s" in p else []), "",
             f"All {r['count']} shared at once: **{p['reachable']} reachable, {p['failed']} "
             f"failed, the last after {p['wall_s']} s** (wall time of the batch), "
             f"{round(p['wall_s'] / single_med, 1) if single_med else '?'} times one share alone; "
             f"{round(p['wall_s'] / r['count'], 2)} s per service.", ""]
    failures = [x for x in p["runs"] if not x["ok"]]
    if failures:
        lines += ["Failures:", ""] + [f"- {x['name']}: {x['error']}" for x in failures] + [""]
    if not r["memory"]:
        lines += ["(memory not read in this run)", ""]
    lines += ["## Memory of services running at once (MiB)", "",
              "docker stats: the engine's figure per container (cgroup usage less inactive "
              "page cache). Read on the host from /proc/PID/smaps_rollup: RSS (counts shared "
              "pages in every process), PSS (shared pages split among the processes that map "
              "them, including the test network's tors), USS (private pages: what removing "
              "the service frees). Shims: the engine's containerd-shim, one per container.", "",
              "| running | docker stats, sum (per container median) | processes RSS / PSS / "
              "USS | shims RSS / PSS / USS | **USS total** | USS per service |",
              "|---|---|---|---|---|---|"]
    for m in r["memory"]:
        pc = m["stats_per_container_mb"]
        total = round(m["processes_uss_mb"] + m["shims_uss_mb"], 1)
        lines.append(f"| {m['running']} | {m['stats_mb']} ({pc['median']}) | "
                     f"{m['processes_rss_mb']} / {m['processes_pss_mb']} / "
                     f"{m['processes_uss_mb']} | {m['shims_rss_mb']} / {m['shims_pss_mb']} / "
                     f"{m['shims_uss_mb']} | **{total}** | {round(total / m['running'], 1)} |")
    split = r["split"]["by_command"]
    if split:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(split.items(), key=lambda kv: -kv[1]))
        lines += ["", f"RSS by process in one idle `site` container, read inside it from "
                  f"/proc/*/status: {parts} (total {round(sum(split.values()), 1)})."]
    host = r["split"]["host"]
    if host:
        by: dict[str, list[float]] = {}
        for p in host:
            acc = by.setdefault(p["comm"], [0.0, 0.0, 0.0, 0])
            acc[0] += p["rss_mb"]
            acc[1] += p["pss_mb"]
            acc[2] += p["uss_mb"]
            acc[3] += 1
        parts = ", ".join(f"{k} (x{int(v[3])}) {round(v[0], 1)} / {round(v[1], 1)} / "
                          f"{round(v[2], 1)}"
                          for k, v in sorted(by.items(), key=lambda kv: -kv[1][0]))
        lines += ["", f"The same container's processes read on the host, RSS / PSS / USS: "
                  f"{parts}."]
    lines += ["", "## CLI latency (subprocess, wall time)", "",
              "| command | services | median s | min | max | exit |", "|---|---|---|---|---|---|"]
    for count, rows in r["cli"].items():
        for c in rows:
            lines.append(f"| `{c['command']}` | {count} | {c['median']} | {c['min']} | "
                         f"{c['max']} | {c['exit']} |")
    lines += ["", "The test network's own 7 tors (3 authorities, 3 relays, 1 client) are not "
              "counted: they are shared by every local-mode service."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
