#!/usr/bin/env python3
"""What proving a service costs: the template's probes against the check they replaced.

Before templates declared probes, readiness and `check` fetched the first port (an HTTP GET of
``/`` taking any status, or a bare TCP connection). Now every probe a template declares runs
(the page with a 2xx status, the SSH banner, /healthz, the status page and an MQTT CONNACK).
Both are measured *cold* — the first contact of a tor client that has never seen the service,
as in a share — through a fresh tor client each time, alternating old and new in one run, so
the added time is a difference of medians on the same machine at the same moment.

    MYONION_NETWORK=local python bench/probe_cost.py [--rounds 5]

Writes bench/results/probe-cost.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import benchlib
from myonion.manager import Manager
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.testnet import Testnet
from myonion.tor import fetch, probes
from tests.torclient import fresh_client

KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDh9f+9Z0RZp5CkXdftX9EP3chMT8hTfhfrXT7e9ff2N "
       "bench@probe")
ONION = "http://" + "a" * 55 + "d.onion/api/v1/readings/kitchen"
SERVICES: dict[str, tuple[str, dict[str, Any]]] = {
    "probe-site": ("site", {}),
    "probe-ssh": ("ssh", {"authorized_keys": KEY}),
    "probe-recv": ("iot-receiver", {"devices": "kitchen:bench-token-0123456789"}),
    "probe-bridge": ("mqtt-bridge", {"routes": f"kitchen {ONION} bench-token-0123456789",
                                     "lan_users": "sensors:bench-password-1234",
                                     "onion_broker": True}),
}


def old_check(manager: Manager, name: str, address: str, proxy: tuple[str, int]) -> bool:
    """What check did before: the first port, any HTTP status (or a TCP connection)."""
    port = manager.template(manager.status(name, live=False).template).ports[0]
    if port.protocol == "http":
        fetch.http_get_retry(f"http://{address}:{port.virtual}/", proxy, timeout=60)
    else:
        fetch.connect_retry(proxy, address, port.virtual, 60)
    return True


def new_check(manager: Manager, name: str, address: str, proxy: tuple[str, int]) -> bool:
    """Every probe the template declares, as check runs them now."""
    record = manager.store.get(name)
    assert record is not None
    ok = True
    for spec in manager.template(record.template).probes:
        if spec.applies(record.options):
            ok = probes.run_until(spec, proxy, address, 60).ok and ok
    return ok


def main() -> None:
    benchlib.require_local()
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runtime = DockerRuntime()
    net = Testnet(runtime)
    net.up()
    manager = Manager(runtime=runtime, store=StateStore(Path(tempfile.mkdtemp()) / "services"),
                      testnet=net)
    rows: dict[str, dict[str, Any]] = {}
    try:
        for name, (template, options) in SERVICES.items():
            view = manager.share(template, options, name=name, timeout=150)
            assert view.address
            times: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(args.rounds):
                for kind, check in (("old", old_check), ("new", new_check)):
                    with fresh_client(runtime, net) as client:
                        start = time.monotonic()
                        assert check(manager, name, view.address, client.socks)
                        times[kind].append(time.monotonic() - start)
            old, new = benchlib.summary(times["old"]), benchlib.summary(times["new"])
            rows[template] = {"old": old, "new": new, "raw": times,
                              "added_median": round(new["median"] - old["median"], 2),
                              "probes": [p.what for p in manager.template(template).probes
                                         if p.applies(options)]}
            print(template, rows[template], flush=True)
            manager.remove(name, purge=True)
    finally:
        for name in SERVICES:
            with contextlib.suppress(Exception):
                manager.remove(name, purge=True)
    result = {"machine": benchlib.machine(), "when": benchlib.stamp(), "rounds": args.rounds,
              "templates": rows}
    out = benchlib.RESULTS / "probe-cost.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Probe cost: every declared probe vs the old first-port check (cold, fresh "
             "client each)", "", f"{benchlib.stamp()}, {args.rounds} rounds each, alternating;"
             " seconds.", "", "| template | probes | old min | old median | old max | new min | "
             "new median | new max | added (median) |", "|---|---|---|---|---|---|---|---|---|"]
    for template, row in rows.items():
        lines.append(f"| {template} | {'; '.join(row['probes'])} | {benchlib.fmt(row['old'])} "
                     f"| {benchlib.fmt(row['new'])} | {row['added_median']:+.2f} |")
    (benchlib.RESULTS / "probe-cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
