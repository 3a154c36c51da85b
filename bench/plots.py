"""Plots of the benchmark results, as PNG beside them in bench/results (needs matplotlib:
``scripts/venv.sh bench``). Reads only the JSON the other scripts wrote; measures nothing.

- ``readiness.png``: time to reachable, every run as a dot, for myonion warm and cold, the bare
  ``docker run`` floor and OnionShare (readiness.json, readiness-cold.json, onionshare_peer.json);
- ``scale-timeline.png``: the 20 services shared at once, one bar each, split into waiting for
  the engine, tor bootstrap, descriptor upload and the check through the test network's client
  (scale.json);
- ``memory.png``: private memory (USS) of services and shims against how many run (scale.json);
- ``directory-copy.png``: what a new service reads before it has bootstrapped, and its time
  to reachable, against the routers the network lists, for a tor that downloads its own
  directory and one that starts from the copy (directory-copy.json, and
  directory-copy-shaped.json when there, with its rate).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def readiness_plot(ready: dict[str, Any], peer: dict[str, Any] | None,
                   cold: dict[str, Any] | None, out: Path) -> None:
    runs = dict(ready["runs"])
    if cold and cold["runs"].get("cold"):  # cold shares from their own run of readiness.py
        runs["cold"] = cold["runs"]["cold"]
    series = [("myonion share, warm\n(container start → fetched)",
               [r["fetched"] for r in runs["myonion"]]),
              ("bare docker run floor\n(start → fetched)", [r["fetched"] for r in runs["floor"]])]
    if runs.get("cold"):
        series.append(("myonion share, cold\n(call → reachable, image built)",
                       [r["share_call"] for r in runs["cold"]]))
    if peer and peer.get("netns"):
        series.append(("OnionShare\n(launch → fetched)",
                       [r["fetched"] for r in peer["netns"]["runs"] if r.get("ok")]))
    fig, ax = plt.subplots(figsize=(8, 0.9 * len(series) + 1.4))
    for i, (_, values) in enumerate(series):
        ax.scatter(values, [i] * len(values), alpha=0.6, s=30)
        values = sorted(values)
        median = values[len(values) // 2] if len(values) % 2 else (
            values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
        ax.plot([median, median], [i - 0.3, i + 0.3], color="black", linewidth=2)
        ax.annotate(f"median {median:.2f} s", (median, i + 0.32), fontsize=8, ha="center")
    ax.set_yticks(range(len(series)), [label for label, _ in series], fontsize=8)
    ax.set_xlabel("seconds (log scale)")
    ax.set_xscale("log")
    ax.set_xticks([1, 2, 3, 5, 10, 20, 30, 60, 120])
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_title(f"Time to reachable on the test network ({ready['measured']})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def timeline_plot(scale: dict[str, Any], out: Path) -> None:
    rows = sorted((r for r in scale["parallel"]["runs"] if r.get("ok")),
                  key=lambda r: r["thread_started"] + r["share_s"])
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1.6))
    colors = {"engine: create, start": "#bbbbbb", "tor bootstrap": "#4c72b0",
              "descriptor upload": "#55a868", "check through the client": "#dd8452"}
    for i, r in enumerate(rows):
        t = r["timings"]
        end = r["thread_started"] + r["share_s"]
        start_container = end - t["reachable"]  # the timings count from the container's start
        spans = [("engine: create, start", r["thread_started"], start_container),
                 ("tor bootstrap", start_container, start_container + t["bootstrapped"]),
                 ("descriptor upload", start_container + t["bootstrapped"],
                  start_container + t["published"]),
                 ("check through the client", start_container + t["published"], end)]
        for label, a, b in spans:
            ax.barh(i, max(0.0, b - a), left=a, color=colors[label],
                    label=label if i == 0 else None)
    ax.set_yticks(range(len(rows)), [r["name"].rsplit("-", 1)[-1] for r in rows], fontsize=7)
    ax.set_xlabel("seconds since the batch began")
    ax.set_ylabel("service")
    ax.set_title(f"{len(rows)} site services shared at once on {scale['machine']['cpus']} cores "
                 f"({scale['measured']})", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def memory_plot(scale: dict[str, Any], out: Path) -> None:
    memory = sorted(scale["memory"], key=lambda m: m["running"])
    running = [m["running"] for m in memory]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(running, [m["processes_uss_mb"] for m in memory], "o-",
            label="the services' processes (USS)")
    ax.plot(running, [m["shims_uss_mb"] for m in memory], "s-",
            label="the engine's containerd-shims (USS)")
    ax.plot(running, [m["processes_uss_mb"] + m["shims_uss_mb"] for m in memory], "^-",
            label="total private memory")
    ax.plot(running, [m["stats_mb"] for m in memory], "x--", label="docker stats, sum")
    ax.set_xlabel("site services running")
    ax.set_ylabel("MiB")
    ax.set_title(f"Memory against services running ({scale['measured']})", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def directory_plot(runs: list[tuple[str, dict[str, Any]]], out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for label, result in runs:
        sizes = sorted(result["sizes"], key=lambda s: max(s["routers"]))
        xs = [max(s["routers"]) for s in sizes]
        for mode, marker in (("own", "o-"), ("copy", "s-")):
            if not all(mode in s["summary"] for s in sizes):
                continue
            name = f"{mode} directory{label}"
            left.plot(xs, [s["summary"][mode]["boot_read_kib"]["median"] for s in sizes],
                      marker, label=name)
            right.errorbar(xs, [s["summary"][mode]["reachable"]["median"] for s in sizes],
                           yerr=[[s["summary"][mode]["reachable"]["median"]
                                  - s["summary"][mode]["reachable"]["min"] for s in sizes],
                                 [s["summary"][mode]["reachable"]["max"]
                                  - s["summary"][mode]["reachable"]["median"] for s in sizes]],
                           fmt=marker, capsize=3, label=name)
    left.set_title("read before bootstrapped (median)", fontsize=10)
    left.set_ylabel("KiB")
    right.set_title("container start → reachable (median, min to max)", fontsize=10)
    right.set_ylabel("s")
    for ax in (left, right):
        ax.set_xlabel("routers in the consensus")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("A new service's directory: downloaded (own) or from the copy the network's "
                 "client keeps", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    made = []
    ready, peer, scale = load("readiness"), load("onionshare_peer"), load("scale")
    if ready:
        readiness_plot(ready, peer, load("readiness-cold"), RESULTS / "readiness.png")
        made.append("readiness.png")
    if scale and scale["parallel"]["runs"]:
        timeline_plot(scale, RESULTS / "scale-timeline.png")
        made.append("scale-timeline.png")
    if scale and scale.get("memory"):
        memory_plot(scale, RESULTS / "memory.png")
        made.append("memory.png")
    directory = [(f" ({r['sizes'][0]['rate']} links)" if r["sizes"][0].get("rate") else "", r)
                 for r in (load("directory-copy"), load("directory-copy-shaped"))
                 if r and all("own" in s["summary"] or "copy" in s["summary"]
                              for s in r["sizes"])]
    if directory:
        directory_plot(directory, RESULTS / "directory-copy.png")
        made.append("directory-copy.png")
    print("wrote " + ", ".join(made) if made else "no results to plot", file=sys.stderr)
    return 0 if made else 1


if __name__ == "__main__":
    sys.exit(main())
