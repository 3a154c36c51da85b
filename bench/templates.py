"""Benchmark: image size, time to reachable and idle memory of every template's container.

Shares each built-in template on the private Tor network with small valid options, lets it sit
idle for --idle seconds, then reads the container's memory from the engine (cgroup usage less
the page cache, what `docker stats` shows) and the RSS of its processes. Writes
bench/results/templates.json and .md. Never uses the public Tor network.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

from myonion.build import images
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "bench-token-0123456789abcdef"


def ssh_public_key(work: Path) -> str:
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return (work / "id_ed25519.pub").read_text().strip()


def options_for(template: str, work: Path, receiver: str | None) -> dict[str, Any]:
    if template == "site":
        return {}
    if template == "ssh":
        return {"authorized_keys": ssh_public_key(work)}
    if template == "iot-receiver":
        return {"devices": f"kitchen:{TOKEN}"}
    if template == "forward":
        # forwards to the iot-receiver's container; the onion side is what is measured
        return {"target_host": container_name("bench-iot-receiver"), "target_port": 8080}
    if template == "mqtt-bridge":
        return {"routes": f"kitchen http://{receiver}/api/v1/readings/kitchen {TOKEN}\n",
                "devices": "kitchen:bench-password-123"}
    raise SystemExit(f"no options known for template {template}")


def memory(runtime: DockerRuntime, name: str) -> dict[str, float]:
    usage = benchlib.container_memory(runtime, name)
    code, out = runtime.exec(name, ["sh", "-c", "grep -h VmRSS /proc/[0-9]*/status"])
    rss_kb = sum(int(line.split()[1]) for line in out.splitlines()
                 if code == 0 and line.startswith("VmRSS"))
    return {"usage_mb": usage["usage_mb"], "rss_mb": round(rss_kb / 1024, 1),
            "limit_mb": usage["limit_mb"]}


SUPERVISOR = ("tini", "myonion-entry", "bash", "sleep")


def split(runtime: DockerRuntime, name: str) -> dict[str, Any]:
    """tor, the service's processes and the supervisor (tini, the entry script) apart: RSS as
    read inside the container, USS (private memory: what ending them frees) on the host."""
    host = benchlib.container_processes(runtime, name)
    parts: dict[str, dict[str, Any]] = {}
    for proc in host:
        comm = proc["comm"]
        part = "tor" if comm == "tor" else "supervisor" if comm in SUPERVISOR else "service"
        acc = parts.setdefault(part, {"rss_mb": 0.0, "uss_mb": 0.0, "commands": set()})
        acc["rss_mb"] += proc["rss_mb"]
        acc["uss_mb"] += proc.get("uss_mb") or 0.0
        acc["commands"].add(comm)
    return {k: {"rss_mb": round(v["rss_mb"], 1), "uss_mb": round(v["uss_mb"], 1),
                "commands": sorted(v["commands"])} for k, v in parts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds idle before measuring")
    args = parser.parse_args()
    if os.environ.get("MYONION_NETWORK") != "local":
        print("set MYONION_NETWORK=local: benchmarks never use the public Tor network",
              file=sys.stderr)
        return 2
    os.environ.setdefault("MYONION_HOME", tempfile.mkdtemp(prefix="myonion-bench-"))
    runtime = DockerRuntime()
    manager = Manager(runtime=runtime, store=StateStore())
    manager.testnet.up()
    work = Path(tempfile.mkdtemp(prefix="myonion-bench-keys-"))
    rows: list[dict[str, Any]] = []
    made: list[str] = []
    try:
        receiver = None
        for template in ("site", "ssh", "iot-receiver", "forward", "mqtt-bridge"):
            spec = manager.template(template)
            image = images.template_image(runtime, spec)
            name = f"bench-{template}"
            started = time.monotonic()
            view = manager.share(template, options_for(template, work, receiver), name=name,
                                 timeout=180)
            made.append(name)
            if template == "iot-receiver":
                receiver = view.address
            rows.append({"template": template, "image": image,
                         "image_mb": round(runtime.image_size(image) / 1e6, 1),
                         "share_to_reachable_s": round(time.monotonic() - started, 2),
                         "stage": view.stage})
        time.sleep(args.idle)
        for row in rows:
            row.update(memory(runtime, container_name(f"bench-{row['template']}")))
            row["split"] = split(runtime, container_name(f"bench-{row['template']}"))
            row["health"] = manager.status(f"bench-{row['template']}").health
    finally:
        for name in made:
            manager.remove(name, purge=True)
    RESULTS.mkdir(exist_ok=True)
    result = {"idle_seconds": args.idle, "templates": rows,
              "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (RESULTS / "templates.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Templates: image size, readiness and idle memory ({result['measured']})", "",
             f"Each template shared on the local test network (images built already), then "
             f"idle for {args.idle:.0f} s; memory is the container's cgroup usage less page "
             "cache (as `docker stats`), and the summed RSS of its processes.", "",
             "| template | image MB | share → reachable s | idle memory MB | RSS MB | health |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['template']} | {r['image_mb']} | {r['share_to_reachable_s']} | "
              f"{r['usage_mb']} | {r['rss_mb']} | {r['health']} |" for r in rows]
    lines += ["", "The same containers' processes apart, read on the host: RSS / USS in MiB "
              "(USS: private memory, what ending the processes frees; RSS counts the shared "
              "libraries in each).", "",
              "| template | tor | the service (its processes) | tini + entry script |",
              "|---|---|---|---|"]

    def cell(part: dict[str, Any] | None, names: bool = False) -> str:
        if not part:
            return "-"
        text = f"{part['rss_mb']} / {part['uss_mb']}"
        return f"{text} ({', '.join(part['commands'])})" if names else text

    lines += [f"| {r['template']} | {cell(r['split'].get('tor'))} | "
              f"{cell(r['split'].get('service'), True)} | {cell(r['split'].get('supervisor'))} |"
              for r in rows]
    (RESULTS / "templates.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
