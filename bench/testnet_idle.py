#!/usr/bin/env python3
"""What an idle test network costs as it ages: CPU of all its tors, with and without the
limit on the consensus diffs its directory caches make (``--compare diffs``), or with and
without its nodes' malloc settings (``--compare malloc``).

Every relay and authority is a directory cache. For each new consensus (one every 10 s on
the default network) a cache makes a diff from every older consensus it keeps, in several
compressions, and tor keeps them for 8,192 hours unless ``MaxConsensusAgeForDiffs`` says
otherwise: the work per consensus grows with the network's age. myonion's networks keep
the last ``layout.DIFF_CONSENSUSES`` intervals' consensuses only.

Each cache compresses every consensus and diff with LZMA, whose encoder zeroes a ~16 MiB
table each time; myonion's nodes keep that memory in malloc's heap
(``nodes.NODE_MALLOC``) instead of mapping it afresh for each compression.

Two named test networks of the default size run side by side, made at the same time: one
as myonion makes it, one with the option at 0, which is tor's default (diffs), or with
every allocation over 128 KiB mapped on its own (malloc). Every ``--every`` seconds, for
``--minutes``, the CPU time each network's containers used since the last sample (the
engine's ``cpu_stats``) and the files in one relay's diff cache. Both networks are removed
at the end (also on failure).

    MYONION_NETWORK=local flock -x /tmp/myonion-engine.lock \\
        .venv/bin/python bench/testnet_idle.py [--compare diffs|malloc] [--minutes 25]

Writes bench/results/testnet-idle.json and .md (``--compare malloc``: testnet-idle-malloc).
Never uses the public Tor network.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import benchlib
from myonion.runtime.docker import DockerRuntime
from myonion.testnet import Testnet, layout, nodes
from myonion.testnet.nodes import node_containers

#: per comparison: the two arms (myonion's first), each with its network's name
ARMS = {"diffs": {"limited": "sm-idle-lim", "tor's default": "sm-idle-def"},
        "malloc": {"heap": "sm-idle-heap", "mapped over 128 KiB": "sm-idle-map"}}
#: what the second arm of a comparison changes while its network is made
CHANGE = {"diffs": (layout, "DIFF_CONSENSUSES", 0),  # rendered as 0: tor's default
          "malloc": (nodes, "NODE_MALLOC", {"MALLOC_MMAP_THRESHOLD_": "131072"})}


def usage(runtime: DockerRuntime, net: Testnet) -> tuple[int, float]:
    """CPU time (ns) all of a network's containers have used since they started, and the
    memory of its largest node (MiB, as ``docker stats`` counts it)."""
    total, largest = 0, 0.0
    for info in node_containers(net):
        stats = runtime.client.api.stats(info.name, stream=False, one_shot=True)
        total += int(stats["cpu_stats"]["cpu_usage"]["total_usage"])
        largest = max(largest, benchlib.stats_memory_mib(stats))
    return total, round(largest, 1)


def diff_cache(runtime: DockerRuntime, net: Testnet) -> int | None:
    """Files in relay1's consensus cache (consensuses and diffs, each compressed)."""
    code, out = runtime.exec(f"{net.prefix}relay1",
                             ["sh", "-c", "ls /var/lib/tor/diff-cache | wc -l"])
    return int(out.strip()) if code == 0 and out.strip().isdigit() else None


def make(runtime: DockerRuntime, compare: str, arm: str) -> Testnet:
    """Make and start the network of ``arm``; the second arm's with its change."""
    net = Testnet(runtime, name=ARMS[compare][arm])
    module, name, value = CHANGE[compare]
    ours = getattr(module, name)
    if arm != next(iter(ARMS[compare])):
        setattr(module, name, value)
    try:
        net.up()
    finally:
        setattr(module, name, ours)
    return net


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=25.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--compare", choices=sorted(ARMS), default="diffs")
    parser.add_argument("--output", help="default: testnet-idle, or testnet-idle-malloc")
    args = parser.parse_args()
    benchlib.require_local()
    runtime = DockerRuntime()
    nets: dict[str, Testnet] = {}
    samples: list[dict[str, Any]] = []
    try:
        for arm in ARMS[args.compare]:
            nets[arm] = make(runtime, args.compare, arm)
        start = time.monotonic()
        last = {arm: usage(runtime, net)[0] for arm, net in nets.items()}
        when = start
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(args.every)
            now = time.monotonic()
            row: dict[str, Any] = {"minute": round((now - start) / 60, 1),
                                   "load_1m": round(os.getloadavg()[0], 2)}
            for arm, net in nets.items():
                used, largest = usage(runtime, net)
                row[arm] = {"cpu_percent": round((used - last[arm]) / 1e9 / (now - when) * 100,
                                                 1),
                            "diff_cache_files": diff_cache(runtime, net),
                            "largest_node_mib": largest}
                last[arm] = used
            when = now
            samples.append(row)
            print(row, file=sys.stderr, flush=True)
    finally:
        for net in nets.values():
            net.down()
    result = {"measured": benchlib.stamp(), "machine": benchlib.machine(),
              "compare": args.compare, "arms": list(ARMS[args.compare]),
              "every_s": args.every, "limit_intervals": layout.DIFF_CONSENSUSES,
              "node_malloc": nodes.NODE_MALLOC, "samples": samples}
    output = args.output or ("testnet-idle" if args.compare == "diffs"
                             else f"testnet-idle-{args.compare}")
    benchlib.write_results(output, result, markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    arms = r["arms"]
    rows = "\n".join(
        "| " + " | ".join([str(s["minute"]),
                           *(f"{s[arm]['cpu_percent']} | {s[arm]['diff_cache_files']} | "
                             f"{s[arm]['largest_node_mib']}" for arm in arms),
                           str(s["load_1m"])]) + " |"
        for s in r["samples"])
    if r["compare"] == "diffs":
        what = (f"*{arms[0]}*: myonion's networks (`MaxConsensusAgeForDiffs` = "
                f"{r['limit_intervals']} voting intervals); *{arms[1]}*: the option at 0 "
                "(8,192 hours).")
    else:
        what = (f"*{arms[0]}*: myonion's nodes (malloc settings {r['node_malloc']}); "
                f"*{arms[1]}*: every allocation over 128 KiB mapped on its own "
                "(`MALLOC_MMAP_THRESHOLD_=131072`), as before.")
    head = " | ".join(f"{arm}: CPU % | files | MiB" for arm in arms)
    return f"""# An idle test network as it ages ({r['measured']}, {r['machine']['cpus']} cores)

Two default-size test networks (3 authorities, 3 relays, 1 client) made side by side, idle.
CPU: all 7 tors of one network, in % of one core, over the {r['every_s']:.0f} s before the
sample. Files: in relay1's consensus cache (consensuses and diffs). MiB: the memory of the
network's largest node, as `docker stats` counts it. {what}

| minutes | {head} | load (1 min) |
|---|---|---|---|---|---|---|---|
{rows}
"""


if __name__ == "__main__":
    raise SystemExit(main())
