"""Benchmark: OnionShare (onionshare-cli from PyPI) as a peer, on the private Tor network.

OnionShare adds an onion service to a tor that is already running (ADD_ONION on its control
port) and serves the files itself on 127.0.0.1. Here its tor is a container on the test network
(``images.tor_image``; ``Testnet.network`` plus its access bridge; the test network's include
mounted read-only at /etc/tor/torrc.d; ``-f /etc/tor/torrc.d/testnet.conf`` plus DataDirectory,
``ControlPort 0.0.0.0:9051`` published on 127.0.0.1 only and a HashedControlPassword made with
``tor --hash-password`` in that image). onionshare-cli is installed into its own virtualenv
(--venv, made here when missing) and shares the same folder as a website
(``--website --public``). The time is measured from launching onionshare-cli until the page is
fetched through the test network's client (``Testnet.socks()``, ``fetch.http_get_retry``).

Two ways are tried:
- ``host``: onionshare-cli on this machine, connected to the published control port. Its web
  server listens on the host's 127.0.0.1, while tor maps the onion's port 80 to 127.0.0.1:PORT
  *in its container*; the fetch is expected to fail, and the error is recorded as seen.
- ``netns``: the same onionshare-cli process started in the tor container's network namespace
  (``nsenter --net=/proc/<tor pid>/ns/net``, needs root), so 127.0.0.1 is tor's loopback, as on a
  laptop where OnionShare and tor run side by side. It reaches the control port at
  127.0.0.1:9051 with the same password.

Safety: if its --config is missing or not valid, onionshare-cli 2.7 silently starts its own tor
(on the public network). The config is written and read back before every launch, and the PATH
it gets starts with a ``tor`` that refuses to run. Nothing here can reach the public network:
the test network is internal and its access bridge does no IP masquerading.

Writes bench/results/onionshare_peer.json and .md, with myonion's warm share and the bare
`docker run` floor from bench/results/readiness.json beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchlib
from benchlib import fmt, summary

from myonion.build import images
from myonion.errors import MyOnionError
from myonion.runtime.base import ContainerSpec, Mount
from myonion.runtime.docker import DockerRuntime
from myonion.testnet import EMPTY_GEOIP, Testnet
from myonion.tor import fetch

ONIONSHARE = "onionshare-cli==2.7"
CONTAINER = "myonion-bench-onionshare-tor"
CONTROL_PORT = 9051
UID = 10001
URL_RE = re.compile(r"http://([a-z2-7]{56}\.onion)")
MARKER = "onionshare peer bench"
REFUSING_TOR = """#!/bin/sh
echo "refused: onionshare-cli tried to start a tor of its own; benchmarks never use the public \
Tor network" >&2
exit 1
"""


# --- onionshare-cli -------------------------------------------------------------------------
def ensure_venv(venv: Path) -> Path:
    """The onionshare-cli of ``venv``, installed from PyPI into it when missing."""
    exe = venv / "bin" / "onionshare-cli"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", ONIONSHARE], check=True)
    return exe


def write_config(path: Path, address: str, port: int, password: str) -> None:
    """An onionshare-cli --config that can only use the given control port; read back and
    checked, since a bad one makes OnionShare start its own tor."""
    config = {"connection_type": "control_port", "control_port_address": address,
              "control_port_port": port, "auth_type": "password", "auth_password": password,
              "bridges_enabled": False, "use_autoupdate": False, "auto_connect": False,
              "locale": "en"}
    path.write_text(json.dumps(config))
    back = json.loads(path.read_text())
    if back.get("connection_type") != "control_port" or back.get("bridges_enabled") is not False \
            or back.get("control_port_port") != port:
        raise SystemExit(f"{path} does not read back as a control-port config")


class Launch:
    """One onionshare-cli process: its output lines with the time they arrived."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.start = time.monotonic()
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[tuple[float, str]] = []
        self.events: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            item = (time.monotonic() - self.start, line.rstrip())
            self.lines.append(item)
            self.events.put(item)

    def wait_url(self, timeout: float) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                at, line = self.events.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            match = URL_RE.search(line)
            if match:
                return match.group(1), at
        raise RuntimeError("onionshare-cli printed no onion URL (exit status "
                           f"{self.proc.poll()}):\n" + self.output())

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines[-40:])

    def rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+)", status, re.MULTILINE)
        return round(int(match.group(1)) / 1024, 1) if match else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # OnionShare removes its onion on Ctrl-C
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- its tor --------------------------------------------------------------------------------
def hash_password(runtime: DockerRuntime, image: str, password: str) -> str:
    code, out = runtime.run_task(image, ["tor", "--quiet", "--hash-password", password], [],
                                 user=f"{UID}:{UID}", timeout=60)
    hashed = [line.strip() for line in out.splitlines() if line.strip().startswith("16:")]
    if code != 0 or not hashed:
        raise SystemExit(f"tor --hash-password failed ({code}): {out[-500:]}")
    return hashed[-1]


def start_tor(runtime: DockerRuntime, testnet: Testnet, image: str,
              hashed: str) -> tuple[float, tuple[str, int]]:
    """A fresh tor on the test network with a password-protected control port; seconds from
    its start to "Bootstrapped 100%", and the control port's address on this machine."""
    runtime.remove(CONTAINER)
    command = ["tor", "-f", "/etc/tor/torrc.d/testnet.conf",
               "--DataDirectory", "/var/lib/tor/data",
               "--ControlPort", f"0.0.0.0:{CONTROL_PORT}", "--HashedControlPassword", hashed,
               "--SocksPort", "0", "--Log", "notice stderr", "--AvoidDiskWrites", "1",
               "--GeoIPFile", EMPTY_GEOIP, "--GeoIPv6File", EMPTY_GEOIP]
    runtime.create(ContainerSpec(
        name=CONTAINER, image=image, labels={"org.myonion.role": "bench"},
        entrypoint=["/usr/bin/tini", "--"], command=command, user=f"{UID}:{UID}",
        mounts=[Mount(testnet.include_volume, "/etc/tor/torrc.d", read_only=True, volume=True)],
        tmpfs={"/var/lib/tor": f"rw,nosuid,nodev,size=32m,uid={UID},gid={UID},mode=0700"},
        network=testnet.network, extra_networks=[testnet.access_network],
        ports={f"{CONTROL_PORT}/tcp": ("127.0.0.1", 0)}, hostname="onionshare-tor",
        read_only=True, restart=None))
    start = time.monotonic()
    runtime.start(CONTAINER)
    deadline = start + 120
    while not any("Bootstrapped 100%" in line for line in runtime.logs(CONTAINER)):
        info = runtime.get(CONTAINER)
        if info is None or not info.running or time.monotonic() > deadline:
            raise SystemExit("the OnionShare tor did not bootstrap:\n" + "\n".join(
                list(runtime.logs(CONTAINER))[-30:]))
        time.sleep(0.1)
    bootstrapped = time.monotonic() - start
    info = runtime.get(CONTAINER)
    assert info is not None
    host, port = info.ports[f"{CONTROL_PORT}/tcp"]
    return bootstrapped, (host or "127.0.0.1", port)


def tor_pid(runtime: DockerRuntime) -> int:
    return int(runtime.client.api.inspect_container(CONTAINER)["State"]["Pid"])


# --- runs -----------------------------------------------------------------------------------
def run_once(command: list[str], env: dict[str, str], proxy: tuple[str, int],
             fetch_timeout: float,
             probe: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Launch onionshare-cli, wait for its URL, fetch the page; ``probe`` runs while it still
    serves (after the fetch)."""
    launch = Launch(command, env)
    row: dict[str, Any] = {"command": " ".join(command)}
    try:
        address, at = launch.wait_url(120)
        row.update(address=address, url_printed=round(at, 3))
        try:
            body = fetch.http_get_retry(f"http://{address}/", proxy,
                                        timeout=fetch_timeout).body.decode(errors="replace")
            row["fetched"] = round(time.monotonic() - launch.start, 3)
            row["ok"] = MARKER in body
            if not row["ok"]:
                row["error"] = f"the page did not hold the shared file: {body[:200]!r}"
        except MyOnionError as e:
            row.update(ok=False, error=e.message,
                       gave_up_after=round(time.monotonic() - launch.start, 3))
        row["onionshare_rss_mb"] = launch.rss_mb()
        mem = benchlib.host_memory(launch.proc.pid)
        row["onionshare_pss_mb"] = mem["pss_mb"] if mem else None
        row["onionshare_uss_mb"] = mem["uss_mb"] if mem else None
        if probe is not None and row.get("ok"):
            row["probe"] = probe()
    except RuntimeError as e:
        row.update(ok=False, error=str(e))
    finally:
        launch.stop()
        row["output_tail"] = launch.output()[-1500:]
    return row


def brief(row: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in row.items() if k != "output_tail"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--host-runs", type=int, default=1,
                        help="tries of the host-process way (expected to fail)")
    parser.add_argument("--tor-starts", type=int, default=3,
                        help="fresh tor containers started to time OnionShare's tor bootstrap")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/onionshare-venv"))
    parser.add_argument("--fetch-timeout", type=float, default=60.0)
    args = parser.parse_args()
    benchlib.require_local()
    exe = ensure_venv(args.venv)
    version = subprocess.run([str(args.venv / "bin" / "pip"), "show", "onionshare-cli"],
                             capture_output=True, text=True).stdout
    runtime = DockerRuntime()
    testnet = Testnet(runtime)
    testnet.up()
    proxy = testnet.socks()
    image = images.tor_image(runtime)

    work = Path(tempfile.mkdtemp(prefix="myonion-bench-onionshare-"))
    site = work / "site"
    site.mkdir()
    (site / "index.html").write_text(f"<h1>{MARKER}</h1>\n")
    guard = work / "guard"
    guard.mkdir()
    (guard / "tor").write_text(REFUSING_TOR)
    (guard / "tor").chmod(0o755)
    env = {**os.environ, "PATH": f"{guard}:{os.environ.get('PATH', '')}",
           "PYTHONUNBUFFERED": "1", "XDG_CONFIG_HOME": str(work / "config")}
    password = secrets.token_hex(16)
    hashed = hash_password(runtime, image, password)
    result: dict[str, Any] = {"measured": benchlib.stamp(), "machine": benchlib.machine(),
                              "onionshare": next((line.split(": ", 1)[1] for line in
                                                  version.splitlines()
                                                  if line.startswith("Version:")), "?")}
    try:
        boots = []
        control: tuple[str, int] = ("127.0.0.1", 0)
        for _ in range(max(1, args.tor_starts)):
            seconds, control = start_tor(runtime, testnet, image, hashed)
            boots.append(seconds)
            print(f"OnionShare's tor bootstrapped in {seconds:.2f} s", file=sys.stderr)
        result["tor_bootstrap_s"] = summary(boots)

        # the host-process way, as a user would first try it
        host_config = work / "host.json"
        host_rows = []
        for i in range(args.host_runs):
            write_config(host_config, control[0], control[1], password)
            row = run_once([str(exe), "--config", str(host_config), "--website", "--public",
                            str(site)], env, proxy, min(args.fetch_timeout, 30.0))
            host_rows.append(row)
            print(f"host run {i}: {brief(row)}", file=sys.stderr)
        result["host"] = {"runs": host_rows, "control_port": f"{control[0]}:{control[1]}"}

        # onionshare-cli in the tor container's network namespace
        ns_config = work / "netns.json"
        ns_rows = []
        pid = tor_pid(runtime)
        def probe() -> dict[str, Any]:
            rows = benchlib.container_processes(runtime, CONTAINER)
            return {**benchlib.container_memory(runtime, CONTAINER),
                    "tor": next((r for r in rows if r["comm"] == "tor"), None)}

        for i in range(args.runs):
            write_config(ns_config, "127.0.0.1", CONTROL_PORT, password)
            row = run_once(["nsenter", f"--net=/proc/{pid}/ns/net", "--", str(exe), "--config",
                            str(ns_config), "--website", "--public", str(site)], env, proxy,
                           args.fetch_timeout, probe if i == args.runs - 1 else None)
            ns_rows.append(row)
            print(f"netns run {i}: {brief(row)}", file=sys.stderr)
        ok = [r for r in ns_rows if r["ok"]]
        result["netns"] = {"runs": ns_rows, "ok": len(ok),
                           "url_printed": summary(r["url_printed"] for r in ok),
                           "fetched": summary(r["fetched"] for r in ok),
                           "onionshare_rss_mb": summary(r["onionshare_rss_mb"] for r in ok
                                                        if r["onionshare_rss_mb"]),
                           "onionshare_uss_mb": summary(r["onionshare_uss_mb"] for r in ok
                                                        if r["onionshare_uss_mb"])}
        result["tor_container"] = next((r["probe"] for r in reversed(ns_rows) if "probe" in r),
                                       None)
    finally:
        runtime.remove(CONTAINER)
    readiness = benchlib.RESULTS / "readiness.json"
    result["readiness"] = json.loads(readiness.read_text()) if readiness.exists() else None
    benchlib.write_results("onionshare_peer", result, markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# OnionShare {r['onionshare']} as a peer on the test network ({r['measured']}, "
             f"{r['machine']['cpus']} cores)", ""]
    ns = r["netns"]
    rows = ["| measure (s) | min | median | max | n |", "|---|---|---|---|---|",
            f"| OnionShare's tor: container start → bootstrapped (paid once) | "
            f"{fmt(r['tor_bootstrap_s'])} | {r['tor_bootstrap_s']['n']} |"]
    if ns["ok"]:
        rows += [f"| OnionShare (netns): launch → URL printed (descriptor uploaded) | "
                 f"{fmt(ns['url_printed'])} | {ns['url_printed']['n']} |",
                 f"| OnionShare (netns): launch → page fetched | {fmt(ns['fetched'])} | "
                 f"{ns['fetched']['n']} |"]
    ready = r.get("readiness")
    if ready:
        m = ready["myonion"]
        rows.append(f"| myonion share, warm: container start → fetched | {fmt(m['fetched'])} | "
                    f"{m['fetched']['n']} |")
        if "share_call" in m:
            rows.append(f"| myonion share, warm: `Manager.share` call → reachable | "
                        f"{fmt(m['share_call'])} | {m['share_call']['n']} |")
        f = ready["floor"]["fetched"]
        rows.append(f"| bare `docker run` floor: container start → fetched | {fmt(f)} | "
                    f"{f['n']} |")
    lines += [*rows, ""]
    if ns["ok"] and ready:
        mine = ready["myonion"]["fetched"]["median"]
        floor = ready["floor"]["fetched"]["median"]
        peer = ns["fetched"]["median"]
        lines.append(f"Ratios of medians: myonion / OnionShare = {round(mine / peer, 2)}; "
                     f"myonion / floor = {round(mine / floor, 2)}; OnionShare / floor = "
                     f"{round(peer / floor, 2)}. OnionShare adds an onion to a tor that is "
                     "already bootstrapped; myonion starts a tor per service (bootstrap "
                     "included).")
        lines.append("")
    lines.append(f"OnionShare (netns) runs that fetched the page: {ns['ok']} of "
                 f"{len(ns['runs'])}; its Python process: "
                 f"{ns['onionshare_rss_mb']['median']} MiB RSS, "
                 f"{ns['onionshare_uss_mb']['median']} MiB USS (medians).")
    tc = r.get("tor_container")
    if tc and tc.get("tor"):
        lines.append(f"Its tor container while serving: {tc['usage_mb']} MiB (docker stats); "
                     f"tor RSS / PSS / USS {tc['tor']['rss_mb']} / {tc['tor']['pss_mb']} / "
                     f"{tc['tor']['uss_mb']} MiB.")
    lines += ["", "## onionshare-cli on the host, control port published on 127.0.0.1", ""]
    for row in r["host"]["runs"]:
        if row["ok"]:
            lines.append(f"- fetched after {row['fetched']} s (URL after {row['url_printed']} s)")
        else:
            lines.append(f"- URL printed after {row.get('url_printed', '-')} s; then **failed**"
                         f" after {row.get('gave_up_after', '-')} s: {row['error']}")
    lines += ["", "Why: onionshare-cli's web server listens on 127.0.0.1 of the machine it runs "
              "on, and ADD_ONION maps the onion's port 80 to 127.0.0.1:PORT of *tor's* machine "
              "(its container). With tor in a container those are two different loopbacks, so "
              "the onion is published but nothing answers behind it."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
