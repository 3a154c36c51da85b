"""Benchmark: what a new ephemeral service pays for the directory, as the test network grows.

For each size in --relays (relays besides the 3 directory authorities) it brings up a *named*
test network of its own (``sm-dc<N>-<pid>``; the default one is never touched), shares --runs
new ephemeral ``site`` services on it one after another (image built beforehand), and for
each reads:

- **bytes before publishing**: tor's own counters ``GETINFO traffic/read`` and
  ``traffic/written`` on the service's control socket, read when the first ``HS_DESC
  UPLOADED`` event arrives (from the manager's "Descriptor published" event), and read once
  before, at "Bootstrapped 100%" (the directory and one circuit, before the onion service's
  introduction points and descriptor uploads; each read delays the manager by its
  ``hook_s``, ~10-50 ms, recorded). These count
  every byte of tor's TLS connections to the relays since it started: the directory
  (consensus, certificates, microdescriptors, fetched over BEGIN_DIR tunnels), plus the
  circuits to the introduction points and HSDirs. The test network sets
  ``TestingTorNetwork 1``, which counts private addresses (``CountPrivateBandwidth``);
- **the directory it holds**: the size of each ``cached-*`` file in tor's DataDirectory
  (uncompressed; on the wire the documents come compressed) and the routers its consensus
  lists, read after the share;
- **times from container start** (the manager's own timings): bootstrapped, descriptor
  published, reachable through the network's client;
- **tor's memory**: VmRSS and VmHWM (peak) of the tor process, from /proc/<pid>/status inside
  the container (``docker exec`` as tor's user 10001), after the share.

With ``--copy both`` (the default) the runs alternate between a service whose tor starts from
the copy of the directory the network's client keeps (myonion.tor.directory; ``on``) and one
that downloads its own (``MYONION_DIRECTORY_COPY=0``; ``off``), so both are measured in one
run on the same network; each row also counts the directory requests tor's log shows
(bootstrap phases "Asking for networkstatus consensus", "... authority key certs", "... relay
descriptors").

The network is removed after each size (also on failure). Writes
bench/results/directory-cost.json and .md. Never uses the public Tor network.

    MYONION_NETWORK=local flock -x /tmp/myonion-engine.lock \\
        .venv/bin/python bench/directory_cost.py --relays 6,30,60 --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import netshape

from myonion.build import images
from myonion.events import Event, Stage
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.templates import TemplateRegistry
from myonion.testnet import Testnet
from myonion.tor import control, directory

TOR_DATA = "/var/lib/tor/data"
#: prints "<file> <bytes>" for each cached-* file, then "routers <n>" (run as tor's user)
DIRECTORY_FILES = (
    f"cd {TOR_DATA} && for f in cached-*; do [ -f \"$f\" ] && echo \"$f $(wc -c < \"$f\")\"; "
    "done; echo \"routers $(grep -c '^r ' cached-microdesc-consensus 2>/dev/null)\""
)
#: prints "<VmRSS kB> <VmHWM kB>" of every tor process in the container
TOR_MEMORY = (
    "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = tor ] || continue; "
    "echo $(grep -E '^(VmRSS|VmHWM)' $p/status | tr -s ' ' | cut -d' ' -f2 | tr '\\n' ' ');"
    " done"
)
#: tor's bootstrap phases that are a directory request of its own
DIRECTORY_REQUESTS = ("(requesting_status)", "(requesting_keys)", "(requesting_descriptors)")
KEYS = ("dir_requests", "boot_read_kib", "read_kib", "written_kib", "directory_kib", "bootstrapped",
        "published", "reachable", "rss_mib", "hwm_mib")

#: what is extrapolated (times are not: on 2 cores they grow with the load the nodes make)
FITTED = ("boot_read_kib", "read_kib", "directory_kib", "rss_mib", "hwm_mib")


class PublishHook:
    """A manager reporter that reads the service's tor traffic counters the moment the
    manager reports its descriptor published."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.seen: dict[str, dict[str, float]] = {}

    def __call__(self, event: Event) -> None:
        if event.service is None:
            return
        if event.stage == Stage.PUBLISHED and event.message == "Descriptor published":
            key = "publish"
        elif event.stage == Stage.BOOTSTRAPPING and event.percent == 100 and \
                event.message.startswith("tor bootstrapping 100%"):
            key = "bootstrap"
        else:
            return
        seen = self.seen.setdefault(event.service, {})
        if f"{key}_read" in seen:
            return
        start = time.monotonic()
        ctl = self.store.service_dir(event.service) / "ctl"
        with control.connect(ctl) as controller:
            seen[f"{key}_read"] = int(controller.get_info("traffic/read"))
            seen[f"{key}_written"] = int(controller.get_info("traffic/written"))
        seen["hook_s"] = seen.get("hook_s", 0.0) + time.monotonic() - start


def directory_files(runtime: DockerRuntime, name: str) -> tuple[dict[str, int], int]:
    """The service tor's cached-* files (bytes each) and the routers its consensus lists."""
    code, out = runtime.exec(name, ["sh", "-c", DIRECTORY_FILES], user="10001:10001")
    files: dict[str, int] = {}
    routers = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "routers":
                routers = int(parts[1])
            else:
                files[parts[0]] = int(parts[1])
    if code != 0 or not files:
        raise RuntimeError(f"cannot read the directory files of {name}: {out[-500:]}")
    return files, routers


def tor_memory(runtime: DockerRuntime, name: str) -> tuple[float, float]:
    """VmRSS and VmHWM (MiB) of the tor process in a container."""
    code, out = runtime.exec(name, ["sh", "-c", TOR_MEMORY], user="10001:10001")
    values = out.split()
    if code != 0 or len(values) != 2:
        raise RuntimeError(f"cannot read tor's memory in {name}: {out[-500:]}")
    return round(int(values[0]) / 1024, 2), round(int(values[1]) / 1024, 2)


def directory_requests(runtime: DockerRuntime, name: str) -> int:
    """How many directory requests of its own tor's log shows (bootstrap phases)."""
    return sum(1 for line in runtime.logs(name)
               if any(phase in line for phase in DIRECTORY_REQUESTS))


def wait_for_copy(runtime: DockerRuntime, net: Testnet, timeout: float = 60) -> float:
    """Seconds until the network's client has written its copy of the directory."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        code, out = runtime.exec(f"{net.prefix}client", [
            "ls", f"/include/{directory.SUBDIR}"], user="10001:10001")
        if code == 0 and "cached-microdesc-consensus" in out.split():
            return round(time.monotonic() - start, 1)
        time.sleep(0.5)
    raise RuntimeError(f"{net.prefix}client wrote no copy of the directory in {timeout} s")


def one_share(manager: Manager, hook: PublishHook, site: Path, name: str,
              copy: bool) -> dict[str, Any]:
    """Share a new ephemeral site (from the directory's copy or not), read what it cost,
    remove it."""
    os.environ["MYONION_DIRECTORY_COPY"] = "1" if copy else "0"
    try:
        start = time.monotonic()
        view = manager.share("site", {"dir": str(site)}, name=name, timeout=180)
        call = time.monotonic() - start
        runtime = manager.runtime
        assert isinstance(runtime, DockerRuntime)
        files, routers = directory_files(runtime, container_name(name))
        rss, hwm = tor_memory(runtime, container_name(name))
        requests = directory_requests(runtime, container_name(name))
    finally:
        os.environ.pop("MYONION_DIRECTORY_COPY", None)
        with contextlib.suppress(Exception):
            manager.remove(name, purge=True)
    counters = hook.seen[name]
    timings = dict(view.timings)
    return {"copy": copy, "dir_requests": requests,
            "boot_read_kib": round(counters.get("bootstrap_read", float("nan")) / 1024, 1),
            "read_kib": round(counters["publish_read"] / 1024, 1),
            "written_kib": round(counters["publish_written"] / 1024, 1),
            "directory_kib": round(sum(files.values()) / 1024, 1), "files": files,
            "routers": routers, "bootstrapped": timings["bootstrapped"],
            "published": timings["published"], "reachable": timings["reachable"],
            "share_call": round(call, 3), "rss_mib": rss, "hwm_mib": hwm,
            "hook_s": round(counters["hook_s"], 3)}


def one_size(runtime: DockerRuntime, relays: int, runs: int, site: Path,
             timeout: float, rate: str | None = None,
             modes: tuple[bool, ...] = (True, False)) -> dict[str, Any]:
    """A named network of ``relays`` relays, ``runs`` shares on it in each of ``modes``
    (from the directory's copy or not, alternating); the network removed."""
    tag = f"sm-dc{relays}-{os.getpid() % 100000}"
    net = Testnet(runtime, name=tag, relays=relays)
    load_before = os.getloadavg()[0]
    start = time.monotonic()
    rows: list[dict[str, Any]] = []
    try:
        st = net.up(timeout=timeout)
        up_s = round(time.monotonic() - start, 1)
        print(f"{tag}: up in {up_s} s ({st.timings})", file=sys.stderr, flush=True)
        if rate:  # every authority and relay sends at most `rate`, on this network only
            netshape.shape(runtime, [f"{net.prefix}{n.name}" for n in st.nodes
                                     if n.role != "client"], rate)
        copy_s = wait_for_copy(runtime, net) if True in modes else None
        store = StateStore()
        hook = PublishHook(store)
        manager = Manager(runtime=runtime, store=store, testnet=net, reporter=hook)
        for i in range(runs):
            for copy in modes:
                name = f"{tag}-s{i}{'c' if copy else 'f'}"
                rows.append(one_share(manager, hook, site, name, copy))
                print(f"{tag} run {i}: {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        net.down()
    return {"relays": relays, "network": tag, "testnet_up_s": up_s, "rate": rate,
            "copy_ready_s": copy_s,
            "load_1m": {"before": round(load_before, 2),
                        "after": round(os.getloadavg()[0], 2)},
            "summary": {("copy" if copy else "own"): {
                k: benchlib.summary(r[k] for r in rows if r["copy"] == copy and r[k] == r[k])
                for k in KEYS} for copy in modes},
            "routers": sorted({r["routers"] for r in rows}), "runs": rows}


def fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least-squares line y = a + b x."""
    slope, intercept = statistics.linear_regression(xs, ys)
    return {"per_router": round(slope, 3), "intercept": round(intercept, 2)}


def extrapolate(sizes: list[dict[str, Any]], mode: str,
                routers: int = 7000) -> dict[str, Any]:
    """Linear fits of the median bytes, directory and memory of ``mode`` (``own``: a tor
    that downloads its directory, ``copy``: one that starts from the copy) against the
    routers listed, evaluated at the public network's size (an extrapolation, not a
    measurement)."""
    xs = [float(max(s["routers"])) for s in sizes]
    out: dict[str, Any] = {"routers": routers, "mode": mode}
    for key in FITTED:
        line = fit(xs, [s["summary"][mode][key]["median"] for s in sizes])
        line["at_public_size"] = round(line["intercept"] + line["per_router"] * routers, 1)
        out[key] = line
    return out


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"# Directory cost of a new service as the test network grows ({result['when']})",
             "", f"{m['cpus']} CPUs, {m['memory_gib']} GiB; {result['runs']} new ephemeral "
             "`site` services per size, one after another, on a named test network of 3 "
             "authorities + N relays made for the size; min / median / max."
             + (f" Every authority and relay sends at most {result['sizes'][0]['rate']} "
                "(tc tbf in its container)." if result["sizes"][0].get("rate") else ""), "",
             "*copy*: the service's tor starts from the copy of the directory the network's "
             "client keeps; *own*: it downloads its own (as before the copy).", "",
             "| relays (routers listed) | tor | testnet up s | load 1m before/after | "
             "directory requests | read KiB at "
             "bootstrapped | read KiB at published | written KiB at published | directory "
             "files KiB | bootstrapped s | published s | reachable s | tor RSS MiB | tor peak "
             "RSS MiB |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in result["sizes"]:
        routers = ",".join(str(r) for r in s["routers"])
        for mode, summary in s["summary"].items():
            cells = " | ".join(benchlib.fmt(summary[k]).replace(" | ", " / ") for k in KEYS)
            lines.append(f"| {s['relays']} ({routers}) | {mode} | {s['testnet_up_s']} | "
                         f"{s['load_1m']['before']} / {s['load_1m']['after']} | {cells} |")
    ratios = [s for s in result["sizes"] if {"copy", "own"} <= set(s["summary"])]
    if ratios:
        lines += ["", "Copy ÷ own, medians of the same run:", "",
                  "| relays | read at bootstrapped | read at published | bootstrapped s | "
                  "published s | reachable s |", "|---|---|---|---|---|---|"]
        for s in ratios:
            c, o = s["summary"]["copy"], s["summary"]["own"]
            cells = " | ".join(f"{c[k]['median'] / o[k]['median']:.2f}" if o[k]["median"]
                               else "—" for k in ("boot_read_kib", "read_kib", "bootstrapped",
                                                  "published", "reachable"))
            lines.append(f"| {s['relays']} | {cells} |")
    for e in result.get("extrapolated", []):
        lines += ["", f"Extrapolated (linear fit of the medians of *{e['mode']}* against "
                  f"routers listed) to {e['routers']} routers — not measured:", "",
                  "| measure | per router | intercept | at public size |", "|---|---|---|---|"]
        for key in FITTED:
            f = e[key]
            lines.append(f"| {key} | {f['per_router']} | {f['intercept']} | "
                         f"{f['at_public_size']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    benchlib.require_local()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relays", default="6,30,60",
                        help="comma-separated relay counts (besides 3 authorities)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds for each network to come up")
    parser.add_argument("--output", default="directory-cost")
    parser.add_argument("--rate", default=None,
                        help="limit what every authority and relay sends (tc tbf rate, e.g. "
                        "8mbit), on the bench's own networks only (needs root)")
    parser.add_argument("--copy", choices=("both", "on", "off"), default="both",
                        help="services from the directory's copy, downloading their own, or "
                        "both alternately (default)")
    args = parser.parse_args()
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.copy]
    runtime = DockerRuntime()
    images.build_base(runtime)
    images.template_image(runtime, TemplateRegistry().get("site"))
    site = Path(tempfile.mkdtemp(prefix="sm-dc-site-"))
    (site / "index.html").write_text("<h1>directory cost</h1>\n")
    os.chmod(site, 0o755)
    sizes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sm-dc-home-") as home:
        os.environ["MYONION_HOME"] = home  # the services' records; never the user's
        for n in args.relays.split(","):
            sizes.append(one_size(runtime, int(n), args.runs, site, args.timeout, args.rate,
                                  modes))
            # after each size, so a size the machine cannot carry keeps the ones before
            result: dict[str, Any] = {"when": benchlib.stamp(), "machine": benchlib.machine(),
                                      "runs": args.runs, "sizes": sizes}
            if len(sizes) >= 2:
                result["extrapolated"] = [extrapolate(sizes, "copy" if copy else "own")
                                          for copy in modes]
            benchlib.write_results(args.output, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
