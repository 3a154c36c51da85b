"""Benchmark: which tor options lower the memory of a tor that is only an onion service.

On one *named* test network of 3 authorities + --relays relays (its own; the default one is
never touched), it shares new ephemeral ``site`` services one after another, each with one
variant of extra torrc lines, in turn (variant A, B, C, A, B, C …, so every variant sees the
same network and load). The lines reach the service's tor through the network's include
(``testnet.conf`` in the include volume, rewritten before each share), so the service's own
torrc and image stay as myonion ships them. For each share it reads tor's VmRSS and VmHWM
(peak) from /proc inside the container right after the share and again after --idle seconds,
and the manager's timings. Writes bench/results/<--output>.json and .md. Never uses the
public Tor network.

    MYONION_NETWORK=local flock -x /tmp/myonion-engine.lock \\
        .venv/bin/python bench/tor_options.py --relays 30 --runs 3
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
from directory_cost import tor_memory, wait_for_copy

from myonion.build import images
from myonion.manager import Manager, container_name
from myonion.runtime.base import Mount
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.templates import TemplateRegistry
from myonion.testnet import INCLUDE_FILE, Testnet
from myonion.testnet.nodes import read

#: name -> extra torrc lines
VARIANTS: dict[str, tuple[str, ...]] = {
    "default": (),
    "NumCPUs 1": ("NumCPUs 1",),
    "no padding": ("ConnectionPadding 0", "CircuitPadding 0"),
    "MaxMemInQueues 8 MB": ("MaxMemInQueues 8 MB",),
    "all three": ("NumCPUs 1", "ConnectionPadding 0", "CircuitPadding 0",
                  "MaxMemInQueues 8 MB"),
}
KEYS = ("rss_mib", "hwm_mib", "idle_rss_mib", "idle_hwm_mib", "bootstrapped", "published",
        "reachable")


def write_include(runtime: DockerRuntime, net: Testnet, image: str, text: str) -> None:
    code, out = runtime.run_task(image, ["true"], [Mount(net.include_volume, "/include",
                                                         volume=True)],
                                 files={f"/include/{INCLUDE_FILE}": (text.encode(), 0o644)},
                                 user="10001:10001")
    if code != 0:
        raise RuntimeError(f"cannot write the include: {out[-300:]}")


def one_share(manager: Manager, site: Path, name: str, idle: float) -> dict[str, Any]:
    runtime = manager.runtime
    assert isinstance(runtime, DockerRuntime)
    try:
        view = manager.share("site", {"dir": str(site)}, name=name, timeout=180)
        rss, hwm = tor_memory(runtime, container_name(name))
        time.sleep(idle)
        idle_rss, idle_hwm = tor_memory(runtime, container_name(name))
    finally:
        with contextlib.suppress(Exception):
            manager.remove(name, purge=True)
    return {"rss_mib": rss, "hwm_mib": hwm, "idle_rss_mib": idle_rss,
            "idle_hwm_mib": idle_hwm, **{k: view.timings[k] for k in KEYS[4:]}}


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"# Memory of an onion-only tor under tor options ({result['when']})", "",
             f"{m['cpus']} CPUs, {m['memory_gib']} GiB; a named test network of 3 authorities "
             f"+ {result['relays']} relays ({result['routers']} routers listed); "
             f"{result['runs']} new ephemeral `site` services per variant, variants in turn; "
             f"idle: {result['idle_s']} s after the share. min / median / max.", "",
             "| variant | extra torrc lines | tor RSS MiB | tor peak MiB | idle RSS MiB | idle "
             "peak MiB | bootstrapped s | published s | reachable s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, v in result["variants"].items():
        cells = " | ".join(benchlib.fmt(v["summary"][k]).replace(" | ", " / ") for k in KEYS)
        lines.append(f"| {name} | {'; '.join(v['lines']) or '—'} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    benchlib.require_local()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relays", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--output", default="tor-options")
    args = parser.parse_args()
    runtime = DockerRuntime()
    image = images.tor_image(runtime)
    images.template_image(runtime, TemplateRegistry().get("site"))
    site = Path(tempfile.mkdtemp(prefix="sm-to-site-"))
    (site / "index.html").write_text("<h1>tor options</h1>\n")
    os.chmod(site, 0o755)
    tag = f"sm-to{args.relays}-{os.getpid() % 100000}"
    net = Testnet(runtime, name=tag, relays=args.relays)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="sm-to-home-") as home:
        os.environ["MYONION_HOME"] = home  # the services' records; never the user's
        try:
            net.up(timeout=600)
            wait_for_copy(runtime, net)
            include = read(net, image, net.include_volume, INCLUDE_FILE)
            manager = Manager(runtime=runtime, store=StateStore(), testnet=net)
            for i in range(args.runs):
                for name, extra in VARIANTS.items():
                    write_include(runtime, net, image, include + "".join(
                        f"{line}\n" for line in extra))
                    rows[name].append(one_share(manager, site, f"{tag}-{i}-{len(rows[name])}"
                                                f"{list(VARIANTS).index(name)}", args.idle))
                    print(f"{name} run {i}: {rows[name][-1]}", file=sys.stderr, flush=True)
            routers = args.relays + 3
        finally:
            net.down()
    result = {"when": benchlib.stamp(), "machine": benchlib.machine(), "relays": args.relays,
              "routers": routers, "runs": args.runs, "idle_s": args.idle,
              "variants": {name: {"lines": list(VARIANTS[name]), "runs": rows[name],
                                  "summary": {k: benchlib.summary(r[k] for r in rows[name])
                                              for k in KEYS}} for name in VARIANTS}}
    benchlib.write_results(args.output, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
