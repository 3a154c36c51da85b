"""Limited bandwidth on a named test network, for benchmarks: a ``tbf`` qdisc on every network
interface of each node container (authorities, relays), inside the container's own network
namespace (``nsenter -n``), so it limits what each node *sends* — what a new service downloads
from it — and touches no interface of this machine or of any other network. It goes away with
the container. Needs root and ``tc`` (iproute2); the kernel needs ``sch_tbf`` (``netem`` is not
needed). Not part of myonion.
"""

from __future__ import annotations

import subprocess

from myonion.runtime.docker import DockerRuntime


def interfaces(pid: int) -> list[str]:
    """The network interfaces (but loopback) in the network namespace of process ``pid``."""
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", "link", "show"],
                         check=True, capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()
             if line.count(":") >= 2]
    return [n for n in names if n != "lo"]


def shape(runtime: DockerRuntime, containers: list[str], rate: str,
          burst: str = "4kb", latency: str = "100ms") -> dict[str, list[str]]:
    """A ``tbf`` of ``rate`` (tc's units, e.g. ``8mbit``) on each interface of each container;
    returns what was shaped (container -> interfaces)."""
    done: dict[str, list[str]] = {}
    for name in containers:
        pid = int(runtime.client.api.inspect_container(name)["State"]["Pid"])
        if pid <= 0:
            raise RuntimeError(f"{name} is not running: it cannot be shaped")
        done[name] = interfaces(pid)
        for dev in done[name]:
            subprocess.run(["nsenter", "-t", str(pid), "-n", "tc", "qdisc", "replace", "dev",
                            dev, "root", "tbf", "rate", rate, "burst", burst, "latency",
                            latency], check=True, capture_output=True, text=True)
    return done
