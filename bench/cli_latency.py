"""Benchmark: how long a `myonion` command takes before it does anything (local mode only).

Each command runs as a subprocess in a fresh MYONION_HOME (no services), --runs times; the
median, min and max wall time are reported. Beside them, the time Python spends importing
``myonion.cli`` (``python -X importtime``, the cumulative figure of the top module), the part of
every command that lazy imports can cut. Writes bench/results/<--output>.json and .md.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
from benchlib import summary

MYONION = Path(sys.executable).with_name("myonion")
COMMANDS = (["--version"], ["ls"], ["status", "bench-cli-none"], ["templates"])


def wall(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time, CPU time (user + system: what a busy machine inflates least) and status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, proc.returncode


def import_ms(env: dict[str, str]) -> float:
    """Cumulative microseconds of ``import myonion.cli``, as milliseconds."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import myonion.cli"],
                          env=env, capture_output=True, text=True, timeout=120, check=True)
    last = [line for line in proc.stderr.splitlines() if line.endswith("| myonion.cli")][-1]
    match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|", last)
    assert match, last
    return int(match.group(1)) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--output", default="cli_latency")
    parser.add_argument("--label", default="", help="what this run measures (e.g. 'before')")
    args = parser.parse_args()
    benchlib.require_local()
    home = tempfile.mkdtemp(prefix="myonion-bench-cli-")
    env = {**os.environ, "MYONION_HOME": home, "MYONION_NETWORK": "local"}
    rows: list[dict[str, Any]] = []
    imports = [import_ms(env) for _ in range(args.runs)]
    for command in COMMANDS:
        times, cpus, code = [], [], 0
        for _ in range(args.runs):
            seconds, cpu, code = wall([str(MYONION), *command], env)
            times.append(seconds)
            cpus.append(cpu)
        rows.append({"command": "myonion " + " ".join(command), "exit": code,
                     **summary(times), "cpu": summary(cpus)})
        print(rows[-1], file=sys.stderr)
    result = {"measured": benchlib.stamp(), "machine": benchlib.machine(), "label": args.label,
              "import_ms": summary(imports), "commands": rows,
              "load_1m": round(os.getloadavg()[0], 2)}
    lines = [f"# CLI latency {args.label} ({result['measured']}, load {result['load_1m']})", "",
             f"`import myonion.cli`: median {result['import_ms']['median']} ms "
             f"(min {result['import_ms']['min']}, max {result['import_ms']['max']}, "
             f"n={args.runs})", "",
             "| command (0 services) | wall s: median | min | max | CPU s: median | min | exit |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| `{r['command']}` | {r['median']} | {r['min']} | {r['max']} | "
              f"{r['cpu']['median']} | {r['cpu']['min']} | {r['exit']} |" for r in rows]
    benchlib.write_results(args.output, result, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
