"""Benchmark: time to reachable on the private Tor network, myonion vs. a bare `docker run`.

For each of --runs runs it measures
- myonion: `Manager.share("site")` (image already built) → bootstrapped, descriptor uploaded and
  first successful fetch through the test network's client, from the container start;
- the floor: a bare `docker run` of the same image with the same torrc and nothing else
  (no held network, no control-port subscription), polled by fetching through the same client;
and, once per invocation, `testnet up` from nothing (--testnet-runs times), and --cold-runs cold
shares: the same site template as a user template of another name, its build steps made unique
so that neither an image nor the engine's build cache holds them (the tor layer below is kept:
every service and the test network share it), from `Manager.share` call to reachable.
Writes bench/results/readiness.json and .md. Never uses the public Tor network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import summary

from myonion import paths
from myonion.build import images, render
from myonion.manager import Manager
from myonion.runtime.base import ContainerSpec, Mount
from myonion.runtime.docker import DockerRuntime
from myonion.services.store import StateStore
from myonion.templates import TemplateRegistry
from myonion.testnet import INCLUDE_VOLUME, NETWORK, Testnet
from myonion.tor import fetch

RESULTS = Path(__file__).resolve().parent / "results"


def run_myonion(manager: Manager, site: Path, i: int) -> dict[str, float]:
    name = f"bench-{i}"
    start = time.monotonic()
    view = manager.share("site", {"dir": str(site)}, name=name, timeout=120)
    call = time.monotonic() - start
    timings = dict(view.timings)
    manager.remove(name, purge=True)
    return {"bootstrapped": timings["bootstrapped"], "uploaded": timings["published"],
            "fetched": timings["reachable"], "share_call": round(call, 3)}


def run_cold(manager: Manager, runtime: DockerRuntime, site: Path, i: int) -> dict[str, float]:
    """A share whose template image must be built first: a copy of `site` under another id with
    a build step no cache holds; the image is removed again afterwards."""
    template_id = f"benchcold{i}"
    folder = paths.user_templates_dir() / template_id
    shutil.copytree(paths.builtin_templates_dir() / "site", folder)
    manifest = folder / "template.yaml"
    manifest.write_text(manifest.read_text().replace("id: site", f"id: {template_id}", 1))
    dockerfile = folder / "Dockerfile.j2"
    dockerfile.write_text(dockerfile.read_text().replace(
        "RUN ", f"RUN echo 'cold run {time.time_ns()}' && ", 1))
    built: list[float] = []
    start = time.monotonic()

    def on_event(event: Any) -> None:
        if event.message.startswith("Built template"):
            built.append(time.monotonic() - start)

    manager.reporter = on_event
    try:
        view = manager.share(template_id, {"dir": str(site)}, name=f"bench-cold-{i}",
                             timeout=300)
        call = time.monotonic() - start
        timings = dict(view.timings)
        image = manager.store.get(f"bench-cold-{i}").image  # type: ignore[union-attr]
        manager.remove(view.name, purge=True)
    finally:
        manager.reporter = lambda event: None
    runtime.client.images.remove(image)
    return {"build": round(built[0], 3) if built else float("nan"),
            "share_call": round(call, 3), "fetched": timings["reachable"]}


def run_floor(runtime: DockerRuntime, image: str, site: Path, proxy: tuple[str, int],
              i: int) -> dict[str, float]:
    """A bare container of the same image and torrc: started, then polled until it serves."""
    spec_t = TemplateRegistry().get("site")
    work = Path(tempfile.mkdtemp(prefix="myonion-floor-"))
    conf, ctl = work / "conf", work / "ctl"
    conf.mkdir()
    ctl.mkdir()
    os.chown(ctl, render.CONTAINER_UID, render.CONTAINER_UID)
    for fname, text in render.render_runtime_files(
            spec_t, {"name": "floor", "network": "local", "mode": "ephemeral"},
            spec_t.validate({"dir": str(site)})).items():
        (conf / fname).write_text(text)
    os.chmod(work, 0o755)
    os.chmod(conf, 0o755)
    name = f"myonion-bench-floor-{i}"
    uid = render.CONTAINER_UID
    runtime.create(ContainerSpec(
        name=name, image=image, labels={"org.myonion.role": "bench"}, user=f"{uid}:{uid}",
        mounts=[Mount(str(conf), "/etc/myonion", True), Mount(str(ctl), "/run/myonion/ctl"),
                Mount(str(site), "/srv/site", True),
                Mount(INCLUDE_VOLUME, "/etc/tor/torrc.d", True, volume=True)],
        tmpfs={"/tmp": "size=16m", "/var/lib/tor": f"uid={uid},gid={uid},mode=0700"},
        network=NETWORK))
    start = time.monotonic()
    runtime.start(name)
    marks: dict[str, float] = {}
    try:
        while "hostname" not in marks:
            if (ctl / "hostname").exists():
                marks["hostname"] = time.monotonic() - start
            time.sleep(0.02)
        address = (ctl / "hostname").read_text().strip()
        fetch.http_get_retry(f"http://{address}/", proxy, timeout=120)
        marks["fetched"] = time.monotonic() - start
        logs = "\n".join(runtime.logs(name))
        marks["bootstrapped_logged"] = float("Bootstrapped 100%" in logs)
    finally:
        runtime.remove(name)
    return {"fetched": marks["fetched"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--testnet-runs", type=int, default=0,
                        help="times to take the test network down and up again (0: use it as "
                        "it is; never on a machine others use the default test network on)")
    parser.add_argument("--output", default="readiness",
                        help="name of the results files in bench/results")
    parser.add_argument("--cold-runs", type=int, default=3,
                        help="shares that build their template image first (needs the Debian "
                        "mirror)")
    args = parser.parse_args()
    os.environ["MYONION_NETWORK"] = "local"  # a benchmark never uses the public Tor network
    runtime = DockerRuntime()
    images.build_base(runtime)
    site_image = images.template_image(runtime, TemplateRegistry().get("site"))
    testnet = Testnet(runtime)

    ups = []
    for _ in range(args.testnet_runs):
        testnet.down()
        start = time.monotonic()
        testnet.up()
        ups.append(time.monotonic() - start)
        print(f"testnet up: {ups[-1]:.1f} s", file=sys.stderr)
    if not testnet.is_up():
        testnet.up()
    proxy = testnet.socks()

    site = Path(tempfile.mkdtemp(prefix="myonion-bench-site-"))
    (site / "index.html").write_text("<h1>bench</h1>\n")
    os.chmod(site, 0o755)
    with tempfile.TemporaryDirectory() as home:
        os.environ["MYONION_HOME"] = home
        manager = Manager(runtime=runtime, store=StateStore(), testnet=testnet)
        mine: list[dict[str, float]] = []
        floor: list[dict[str, float]] = []
        for i in range(args.runs):
            mine.append(run_myonion(manager, site, i))
            floor.append(run_floor(runtime, site_image, site, proxy, i))
            print(f"run {i}: myonion {mine[-1]}  floor {floor[-1]}", file=sys.stderr)
        cold = []
        for i in range(args.cold_runs):
            cold.append(run_cold(manager, runtime, site, i))
            print(f"cold run {i}: {cold[-1]}", file=sys.stderr)

    result: dict[str, Any] = {
        "testnet_up_s": summary(ups) if ups else None,
        "myonion": {k: summary([m[k] for m in mine]) for k in ("bootstrapped", "uploaded",
                                                                 "fetched", "share_call")},
        "floor": {"fetched": summary([f["fetched"] for f in floor])},
        "cold": ({k: summary([c[k] for c in cold]) for k in ("build", "share_call", "fetched")}
                 if cold else None),
        "runs": {"myonion": mine, "floor": floor, "cold": cold},
        "machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)},
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(result, indent=2))
    rows = ["| measure (s, from container start) | min | median | max |", "|---|---|---|---|"]
    if result["testnet_up_s"]:
        t = result["testnet_up_s"]
        rows.append(f"| testnet up (from nothing) | {t['min']} | {t['median']} | {t['max']} |")
    for key in ("bootstrapped", "uploaded", "fetched"):
        s = result["myonion"][key]
        rows.append(f"| myonion share: {key} | {s['min']} | {s['median']} | {s['max']} |")
    s = result["myonion"]["share_call"]
    rows.append(f"| myonion share: `Manager.share` call → reachable (not from container start) | "
                f"{s['min']} | {s['median']} | {s['max']} |")
    s = result["floor"]["fetched"]
    rows.append(f"| bare docker run: fetched | {s['min']} | {s['median']} | {s['max']} |")
    if result["cold"]:
        c = result["cold"]
        rows.append(f"| cold myonion share (template image built first): `Manager.share` call → "
                    f"image built | {c['build']['min']} | {c['build']['median']} | "
                    f"{c['build']['max']} |")
        rows.append(f"| cold: container start → fetched | {c['fetched']['min']} | "
                    f"{c['fetched']['median']} | {c['fetched']['max']} |")
        rows.append(f"| cold: `Manager.share` call → reachable | {c['share_call']['min']} | "
                    f"{c['share_call']['median']} | {c['share_call']['max']} |")
    table = "\n".join(rows) + "\n"
    (RESULTS / f"{args.output}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
