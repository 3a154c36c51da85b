#!/usr/bin/env python3
"""A persistent service stopped and started again: how long until it is proven reachable,
with the test network's client told to forget onions first (as myonion does) and without.

After a stop, an old introduction point of the service can still acknowledge an
introduction for a while; a client holding the old descriptor then waits minutes on a
rendezvous nobody answers. Each cycle: stop, a visitor asks through the client while the
service is down (8 s), start and wait until the proof passes (or ``--timeout``). The two
arms alternate in one run on one service; *without* stands for myonion before the client
could be told (``Testnet.forget_onions`` answering False, so nothing is forgotten).

    MYONION_NETWORK=local python bench/restart_proof.py [--cycles 5] [--timeout 60]

Writes bench/results/restart-proof.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import benchlib
from myonion.errors import MyOnionError
from myonion.manager import Manager
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.templates import TemplateRegistry
from myonion.testnet import Testnet
from myonion.tor import probes

NAME = "bench-restart"
#: what a visitor gets, as the site template declares it (the proof asks the same)
PAGE = TemplateRegistry().get("site").probes[0]


class Forgetless(Testnet):
    """The test network whose client cannot be told to forget (myonion before it could)."""

    def forget_onions(self) -> bool:
        return False


def cycle(manager: Manager, address: str, proxy: tuple[str, int],
          timeout: float) -> dict[str, Any]:
    manager.stop(NAME)
    visit = probes.run(PAGE, proxy, address, timeout=8)
    start = time.monotonic()
    try:
        manager.start(NAME, timeout=timeout)
        error = None
    except MyOnionError as e:
        error = e.message
    return {"seconds": round(time.monotonic() - start, 2), "reachable": error is None,
            "error": error, "visit_answered": visit.ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=5, help="cycles per arm")
    parser.add_argument("--timeout", type=float, default=60.0, help="s for each start")
    args = parser.parse_args()
    benchlib.require_local()
    runtime = DockerRuntime()
    arms = {"with": Testnet(runtime), "without": Forgetless(runtime)}
    arms["with"].up()
    store = StateStore()
    managers = {arm: Manager(runtime=runtime, store=store, testnet=net)
                for arm, net in arms.items()}
    rows: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        (site / "index.html").write_text("<h1>restart</h1>\n")
        site.chmod(0o755)
        view = managers["with"].share("site", {"dir": str(site)}, name=NAME, persistent=True,
                                      timeout=120)
        assert view.address
        proxy = arms["with"].socks()
        try:
            benchlib.wait_quiet()
            for i in range(args.cycles):
                for arm in (("with", "without") if i % 2 == 0 else ("without", "with")):
                    row = cycle(managers[arm], view.address, proxy, args.timeout)
                    print(arm, row, flush=True)
                    rows[arm].append(row)
        finally:
            managers["with"].remove(NAME, purge=True)
    result = {"stamp": benchlib.stamp(), "machine": benchlib.machine(),
              "cycles": args.cycles, "timeout": args.timeout, "rows": rows,
              "summary": {arm: {"reachable": sum(r["reachable"] for r in arm_rows),
                                "seconds": benchlib.summary(
                                    r["seconds"] for r in arm_rows if r["reachable"])}
                          for arm, arm_rows in rows.items()}}
    benchlib.write_results("restart-proof", result, markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# A service started again: stop → proven reachable ({r['stamp']})", "",
             f"{r['cycles']} cycles per arm, alternating; each start may take "
             f"{r['timeout']:.0f} s; a visitor asked while the service was down.", "",
             "| the client | reachable | min s | median s | max s |", "|---|---|---|---|---|"]
    for arm, s in r["summary"].items():
        lines.append(f"| {arm} forgetting | {s['reachable']} of {r['cycles']} | "
                     f"{benchlib.fmt(s['seconds'])} |")
    failed = [(arm, row["error"]) for arm, rows in r["rows"].items() for row in rows
              if not row["reachable"]]
    if failed:
        lines += ["", "Failures:", ""] + [f"- {arm}: {error}" for arm, error in failed]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
