"""Benchmark: the services under hostile load, on the private Tor network only (issue 16).

Each attack shares a real service (ephemeral, on the local test network), attacks it through the
test network's tor client (that is how a visitor arrives: the attackers' connections go through
its SOCKS port, each crowd spread over the circuits named) and meanwhile lets a real client try
its ordinary request: did it get its answer, and how long did it take (median/max over the tries
in the attack's window, beside two tries before the attack). The service's container is sampled
once a second from its cgroup files (CPU, memory, pids, OOM kills), the engine (restarts) and its
volumes' directories (bytes on disk), during each wave and for a while after it. The bridges'
devices get passwords myonion generates, read back as `myonion secrets NAME --json` shows them.

  csv     the receiver's CSV export: a device posts 20 readings of ~60 KB with 5,000 distinct
          keys each; 24 anonymous ?format=csv requests, 20 of them abandoned after 3 s; a device's
          POST and the page meanwhile (and whether the ephemeral address changed)
  idle    140 dripping connections (a request that never ends) to the receiver, then to the
          bridge's status page, over 10 circuits; a device's POST / a status GET meanwhile
  ssh     70 silent connections to the ssh template's onion, on one circuit, then over 7;
          real logins (OpenSSH, ProxyCommand nc -X 5 through the SOCKS port, key auth)
  flood   one LAN device publishes 1,500 MQTT messages of 59 KiB into the bridge; then another
          device's reading: how long until the receiver has it; the bridge's queue on disk
          (plaintext on the LAN, lan_tls=false, as before TLS was the default)
  broker  password guessing on the broker over the onion (onion_broker=true), 4 in parallel:
          tries a second; a real device's login meanwhile (its client id the same each time,
          the guessers' a new one each try)
  nginx   300 half-sent requests, then 30 stalled downloads of a 16 MiB file; a page GET
          (issue 16 stalled 280. On the test network, whose nodes have 64 MiB each, the data
          stalled downloads leave in flight OOM-killed a relay or an authority in 2 of 4 runs
          of 280 and in 1 of 1 of 100, within a second, faster than the guard below can act;
          --stalled 280 only where the test network is yours alone)

Loads are small and bounded (this runs on a shared 2-core machine): every crowd has a fixed size,
re-opens a closed connection at most once a second, and every wave ends after --window seconds;
a wave is stopped early should a node of the test network near its memory limit. --merge puts
the attacks run into an existing results file (replacing theirs), to rerun one attack.
Run under the engine lock. Writes bench/results/<--output>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchlib
from hostile_core import Bench, say
from hostile_http import attack_csv, attack_idle, attack_nginx
from hostile_other import attack_broker, attack_flood, attack_ssh

from myonion.manager import Manager
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore

ATTACKS: dict[str, Callable[[Bench, argparse.Namespace], dict[str, Any]]] = {
    "csv": lambda b, a: attack_csv(b, a.csv_requests, a.csv_abandon),
    "idle": lambda b, a: attack_idle(b, a.idle),
    "ssh": lambda b, a: attack_ssh(b, a.ssh, a.ssh_per_circuit),
    "flood": lambda b, a: attack_flood(b, a.flood, a.flood_size * 1024, a.flood_wait),
    "broker": lambda b, a: attack_broker(b, a.guessers),
    "nginx": lambda b, a: attack_nginx(b, a.half_sent, a.stalled),
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attack", action="append", choices=sorted(ATTACKS),
                        help="run only this attack (repeatable); default: all")
    parser.add_argument("--output", help="results name in bench/results (default: hostile, or "
                        "hostile-ATTACK for one attack)")
    parser.add_argument("--code", help="what code is measured (default: git's HEAD here)")
    parser.add_argument("--merge", action="store_true",
                        help="replace these attacks' results in the existing --output file")
    parser.add_argument("--window", type=float, default=40.0,
                        help="seconds of attack in which the real client tries")
    parser.add_argument("--arrive", type=float, default=10.0,
                        help="seconds the attackers get before the real client tries")
    parser.add_argument("--after", type=float, default=10.0, help="seconds watched after")
    parser.add_argument("--every", type=float, default=8.0,
                        help="seconds between the starts of the real client's tries")
    parser.add_argument("--csv-requests", type=int, default=24)
    parser.add_argument("--csv-abandon", type=int, default=20)
    parser.add_argument("--idle", type=int, default=140)
    parser.add_argument("--ssh", type=int, default=70)
    parser.add_argument("--ssh-per-circuit", type=int, default=10)
    parser.add_argument("--flood", type=int, default=1500)
    parser.add_argument("--flood-size", type=int, default=59, help="KiB a message")
    parser.add_argument("--flood-wait", type=float, default=100.0)
    parser.add_argument("--guessers", type=int, default=4)
    parser.add_argument("--half-sent", type=int, default=300)
    parser.add_argument("--stalled", type=int, default=30)
    return parser.parse_args()


def run(bench: Bench, args: argparse.Namespace, attack: str) -> dict[str, Any]:
    """One attack; a failure of the benchmark itself is recorded, not raised."""
    started = time.monotonic()
    say(f"attack {attack}")
    try:
        result = ATTACKS[attack](bench, args)
    except Exception as e:
        result = {"attack": attack, "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc()[-2000:], "waves": []}
        say(f"attack {attack} failed: {e}")
    finally:
        signs = bench.remove_all()
    result["log_signs"] = signs
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _cell(value: Any) -> str:
    if isinstance(value, dict):  # MiB by volume: its last name part (data, queue)
        return ", ".join(f"{k.rsplit('-', 1)[-1]} {v}" for k, v in value.items())
    return "-" if value is None else str(value)


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Hostile load ({result['output']})", "",
             f"Measured by `bench/hostile.py` on {result['measured']} "
             f"({result['machine']['cpus']} CPUs, load {result['machine']['load_1m']} at the "
             f"start), code at `{result['commit']}`. Window {result['window_s']} s after "
             f"{result['arrive_s']} s for the attackers to arrive; the real client tries every "
             f"{result['every_s']} s. Latencies in seconds; the container from its cgroup.", "",
             "| attack | wave | real client ok | before: median | during: median / max "
             "(answered) | attackers: opened / refused / closed by service | CPU % mean / max "
             "| mem max MiB | pids max | OOM / restarts | disk MiB | after: CPU % mean |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for attack in result["attacks"]:
        if attack.get("error"):
            lines.append(f"| {attack['attack']} | **benchmark failed**: {attack['error']} |"
                         + " |" * 10)
        for w in attack["waves"]:
            c, d, a = w["client"], w["during"], w.get("attackers", {})
            base = w.get("baseline", {})
            crowd = a[0] if isinstance(a, list) and a else a
            opened = (f"{crowd.get('opened')} / {crowd.get('refused')} / "
                      f"{crowd.get('closed_by_service')}" if "opened" in crowd else
                      ", ".join(f"{k} {v}" for k, v in crowd.items()
                                if k in ("tries_per_s", "tries", "published_s",
                                         "answered", "requests")))
            if isinstance(crowd, dict) and crowd.get("aborted"):
                opened += f" (stopped early: {crowd['aborted']})"
            peak = w.get("testnet", {}).get("peak_mb")
            if peak:
                opened += f"; test network peak {max(peak.values())} MiB"
            lines.append(
                f"| {attack['attack']} | {w['wave']} | {c['ok']}/{c['n']} | "
                f"{_cell(base.get('all_median_s'))} | {_cell(c['all_median_s'])} / "
                f"{_cell(c['all_max_s'])} ({_cell(c['ok_median_s'])}) | {opened} | "
                f"{_cell(d['cpu_pct_mean'])} / {_cell(d['cpu_pct_max'])} | "
                f"{_cell(d['mem_mb_max'])} | {_cell(d['pids_max'])} | "
                f"{d['oom_kills']}{' (OOMKilled)' if d['oom_killed'] else ''} / "
                f"{d['restarts']} | {_cell(w['after'].get('disk_mb') or d.get('disk_mb'))} | "
                f"{_cell(w['after']['cpu_pct_mean'])} |")
        seen = {k: v for k, v in attack.get("log_signs", {}).items() if v}
        if seen:
            lines.append(f"| {attack['attack']} | logs: " + "; ".join(
                f"{service}: " + ", ".join(f"'{sign}' x{n}" for sign, n in found.items())
                for service, found in seen.items()) + " |" + " |" * 10)
        if "address_changed" in attack:
            lines.append(f"| {attack['attack']} | ephemeral address changed: "
                         f"{attack['address_changed']} |" + " |" * 10)
    for merge in result.get("merged", []):
        lines.append(f"\nRerun on {merge['measured']} (code `{merge['commit']}`): "
                     f"{', '.join(merge['attacks'])}.")
    return "\n".join(lines) + "\n"


def merged(output: str, new: dict[str, Any]) -> dict[str, Any]:
    """The results file ``output`` with the attacks of ``new`` in place of its own (in their
    order), each attack marked with when and on what code it was measured."""
    path = benchlib.RESULTS / f"{output}.json"
    if not path.exists():
        return new
    old = json.loads(path.read_text())
    for attack in new["attacks"]:
        attack["measured"], attack["commit"] = new["measured"], new["commit"]
    fresh = {a["attack"]: a for a in new["attacks"]}
    old["attacks"] = [fresh.pop(a["attack"], a) for a in old["attacks"]] + list(fresh.values())
    old.setdefault("merged", []).append({"measured": new["measured"], "commit": new["commit"],
                                         "attacks": [a["attack"] for a in new["attacks"]],
                                         "settings": new["settings"]})
    return dict(old)


def main() -> int:
    args = arguments()
    benchlib.require_local()
    chosen = args.attack or list(ATTACKS)
    output = args.output or ("hostile" if len(chosen) != 1 else f"hostile-{chosen[0]}")
    home = tempfile.mkdtemp(prefix="myonion-bench-hostile-")
    os.environ["MYONION_HOME"] = home
    runtime = DockerRuntime()
    manager = Manager(runtime=runtime, store=StateStore())
    manager.testnet.up()
    workdir = Path(tempfile.mkdtemp(prefix="myonion-bench-hostile-work-"))
    os.chmod(workdir, 0o755)
    bench = Bench(manager, runtime, manager.testnet.socks(), workdir, window=args.window,
                  arrive=args.arrive, after=args.after, every=args.every)
    commit = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short",
                             "HEAD"], capture_output=True, text=True).stdout
    result: dict[str, Any] = {
        "measured": benchlib.stamp(), "machine": benchlib.machine(), "output": output,
        "commit": args.code or commit.strip() or "unknown", "window_s": args.window,
        "arrive_s": args.arrive, "after_s": args.after, "every_s": args.every,
        "settings": vars(args), "attacks": []}
    for attack in chosen:
        result["attacks"].append(run(bench, args, attack))
    if args.merge:
        result = merged(output, result)
    benchlib.write_results(output, result, markdown(result))
    return 1 if any(a.get("error") for a in result["attacks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
