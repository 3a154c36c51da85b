"""Benchmark: how fast a share is proven, myonion against OnionShare, in one run.

On the default test network (or a named one of --relays relays, its own), in turn, --runs
times each (A, B, C, D, A, B, …, so every way sees the same network and load):

- **onionshare**: onionshare-cli 2.7 (its own virtualenv, from PyPI) in the network namespace
  of a tor container that has bootstrapped already, as in bench/onionshare_peer.py (which
  this reuses, with its guards: no tor of OnionShare's own, never the public network):
  launch → the page fetched through the network's client;
- **share**: ``Manager.share("site")`` → reachable (proven through the network's client), a
  new container and tor per share, starting from the directory the network's client keeps;
- **share, own directory**: the same with ``MYONION_DIRECTORY_COPY=0`` (every new tor
  downloads the directory itself, as before the copy);
- **share ahead** (the desktop app's way): ``Manager.share(..., ahead=True)`` while the
  dialog is "open" (its duration is recorded: the onion published, the service held), then
  --dialog seconds of the user still in the dialog, then ``Manager.start`` (Share pressed) →
  reachable. What a user waits for is the second part.

Every myonion share is removed after its run; the onion of every OnionShare run is removed
(Ctrl-C). Writes bench/results/<--output>.json and .md with min/median/max and the ratios of
the medians to OnionShare's. Never uses the public Tor network.

    MYONION_NETWORK=local flock -x /tmp/myonion-engine.lock \\
        .venv/bin/python bench/share_speed.py --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import onionshare_peer as peer
from benchlib import fmt, summary
from directory_cost import wait_for_copy

from myonion.build import images
from myonion.manager import Manager
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.templates import TemplateRegistry
from myonion.testnet import Testnet

WAYS = ("onionshare", "share", "share_own_directory", "share_ahead")
LABELS = {
    "onionshare": "OnionShare 2.7: launch → page fetched",
    "share": "myonion share: call → reachable (proven)",
    "share_own_directory": "myonion share, tor downloads its own directory: call → reachable",
    "share_ahead": "myonion share ahead (the app): Share pressed → reachable (proven)",
    "ahead_prepare": "  … its preparation while the dialog is open (hidden from the user)",
}


def myonion_share(manager: Manager, site: Path, name: str, own_directory: bool) -> dict[str, Any]:
    os.environ["MYONION_DIRECTORY_COPY"] = "0" if own_directory else "1"
    try:
        start = time.monotonic()
        view = manager.share("site", {"dir": str(site)}, name=name, timeout=180)
        seconds = time.monotonic() - start
        return {"ok": view.stage == "reachable", "seconds": round(seconds, 3),
                "timings": view.timings}
    finally:
        os.environ.pop("MYONION_DIRECTORY_COPY", None)
        with contextlib.suppress(Exception):
            manager.remove(name, purge=True)


def myonion_ahead(manager: Manager, site: Path, name: str, dialog: float) -> dict[str, Any]:
    try:
        start = time.monotonic()
        view = manager.share("site", {"dir": str(site)}, name=name, timeout=180, ahead=True)
        prepared = time.monotonic() - start
        time.sleep(max(0.0, dialog - prepared))  # the user is still in the dialog
        pressed = time.monotonic()
        view = manager.start(name, timeout=120)
        seconds = time.monotonic() - pressed
        return {"ok": view.stage == "reachable", "seconds": round(seconds, 3),
                "prepare_s": round(prepared, 3), "timings": view.timings}
    finally:
        with contextlib.suppress(Exception):
            manager.remove(name, purge=True)


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [f"# Share speed, myonion against OnionShare, one run ({r['measured']})", "",
             f"{m['cpus']} CPUs; {r['network']} ({r['routers']} routers listed); each way "
             f"{r['runs']} times, in turn; the user spends {r['dialog_s']} s in the share "
             f"dialog (share ahead); load 1m {r['load_1m']['before']} before, "
             f"{r['load_1m']['after']} after. OnionShare {r['onionshare']}.", "",
             "| way (s) | min | median | max | n ok / n | ÷ OnionShare (medians) |",
             "|---|---|---|---|---|---|"]
    base = r["summary"]["onionshare"]["median"]
    for way in (*WAYS, "ahead_prepare"):
        s = r["summary"].get(way)
        if not s:
            continue
        ratio = f"{s['median'] / base:.2f}" if base and way != "ahead_prepare" else ""
        ok = r["ok"].get(way, "")
        lines.append(f"| {LABELS[way]} | {fmt(s)} | {ok} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    benchlib.require_local()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--relays", type=int, default=0,
                        help="a named test network of this many relays (0: the default one)")
    parser.add_argument("--dialog", type=float, default=5.0,
                        help="seconds the user spends in the share dialog (share ahead)")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/onionshare-venv"))
    parser.add_argument("--output", default="share-speed")
    args = parser.parse_args()
    exe = peer.ensure_venv(args.venv)
    runtime = DockerRuntime()
    images.template_image(runtime, TemplateRegistry().get("site"))
    net = Testnet(runtime, name=f"sm-ss{args.relays}-{os.getpid() % 100000}",
                  relays=args.relays) if args.relays else Testnet(runtime)
    work = Path(tempfile.mkdtemp(prefix="myonion-bench-speed-"))
    site = work / "site"
    site.mkdir()
    (site / "index.html").write_text(f"<h1>{peer.MARKER}</h1>\n")
    os.chmod(work, 0o755)
    os.chmod(site, 0o755)
    guard = work / "guard"
    guard.mkdir()
    (guard / "tor").write_text(peer.REFUSING_TOR)
    (guard / "tor").chmod(0o755)
    env = {**os.environ, "PATH": f"{guard}:{os.environ.get('PATH', '')}",
           "PYTHONUNBUFFERED": "1", "XDG_CONFIG_HOME": str(work / "config")}
    rows: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="myonion-bench-speed-home-") as home:
        os.environ["MYONION_HOME"] = home  # the services' records; never the user's
        try:
            net.up(timeout=600)
            wait_for_copy(runtime, net)
            proxy = net.socks()
            image = images.tor_image(runtime)
            password = secrets.token_hex(16)
            peer.start_tor(runtime, net, image, peer.hash_password(runtime, image, password))
            config = work / "netns.json"
            manager = Manager(runtime=runtime, store=StateStore(), testnet=net)
            for i in range(args.runs):
                peer.write_config(config, "127.0.0.1", peer.CONTROL_PORT, password)
                row = peer.run_once(["nsenter", f"--net=/proc/{peer.tor_pid(runtime)}/ns/net",
                                     "--", str(exe), "--config", str(config), "--website",
                                     "--public", str(site)], env, proxy, 60.0)
                rows["onionshare"].append({"ok": row.get("ok", False),
                                           "seconds": row.get("fetched"), "row": row})
                rows["share"].append(myonion_share(manager, site, f"speed-{i}-s", False))
                rows["share_own_directory"].append(
                    myonion_share(manager, site, f"speed-{i}-o", True))
                rows["share_ahead"].append(myonion_ahead(manager, site, f"speed-{i}-a",
                                                         args.dialog))
                print(f"run {i}: " + ", ".join(f"{w} {rows[w][-1].get('seconds')}"
                                               for w in WAYS), file=sys.stderr, flush=True)
        finally:
            runtime.remove(peer.CONTAINER)
            if args.relays:
                net.down()
    ok = {w: [r for r in rows[w] if r.get("ok")] for w in WAYS}
    status = net.status()
    result = {"measured": benchlib.stamp(), "machine": benchlib.machine(), "runs": args.runs,
              "dialog_s": args.dialog, "onionshare": peer.ONIONSHARE.split("==")[-1],
              "network": f"named test network {net.name}" if args.relays
              else "the default test network",
              "routers": args.relays + 3 if args.relays else len(status.nodes) - 1,
              "load_1m": {"before": round(load_before, 2),
                          "after": round(os.getloadavg()[0], 2)},
              "ok": {w: f"{len(ok[w])} / {len(rows[w])}" for w in WAYS},
              "summary": {**{w: summary(r["seconds"] for r in ok[w]) for w in WAYS},
                          "ahead_prepare": summary(r["prepare_s"] for r in ok["share_ahead"])},
              "rows": rows}
    benchlib.write_results(args.output, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
