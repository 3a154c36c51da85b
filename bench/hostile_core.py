"""The frame every attack of bench/hostile.py runs in: the services it shares (and removes), a
watched container, and waves (an attacking crowd held for a while, a real client's tries during
it, the container's cost during and after)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostile_net import Crowd, Proxy, Try, tries_during, tries_summary
from hostile_watch import NetGuard, Watch

from myonion.cli.gateway import secrets_of
from myonion.manager import Manager, ServiceView, container_name
from myonion.runtime.docker import DockerRuntime

log = logging.getLogger("hostile")
PREFIX = "hostile"


def say(text: str) -> None:
    """Progress on stderr (the results go to bench/results)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    """What the attacks share: the manager, the engine, the test network's SOCKS port, a
    scratch folder and the durations."""

    manager: Manager
    runtime: DockerRuntime
    proxy: Proxy
    workdir: Path
    window: float = 40.0  # seconds a wave lasts once the crowd has arrived
    arrive: float = 10.0  # seconds the crowd gets to arrive before the real client tries
    after: float = 10.0  # seconds watched after a wave
    every: float = 8.0  # seconds between the starts of two real-client tries
    made: list[str] = field(default_factory=list)

    def share(self, template: str, options: dict[str, Any], name: str) -> ServiceView:
        """Share a service (ephemeral) on the test network and wait until it is reachable."""
        started = time.monotonic()
        self.made.append(name)
        view = self.manager.share(template, options, name=name, network="local", timeout=180)
        say(f"{name}: {view.stage} at {view.address} after {time.monotonic() - started:.1f} s")
        if view.stage != "reachable" or not view.address:
            raise RuntimeError(f"{name} did not become reachable: {view.stage} {view.reason}")
        return view

    def device_secrets(self, name: str) -> dict[str, str]:
        """{device: secret} of a gateway or receiver, generated ones too, read back as
        `myonion secrets NAME --json` shows them."""
        found = {d["device"]: d["secret"] for d in secrets_of(self.manager, name)["devices"]}
        missing = [device for device, secret in found.items() if not secret]
        if missing:
            raise RuntimeError(f"{name}: no secret made for {', '.join(missing)}")
        return found

    def remove_all(self) -> dict[str, dict[str, int]]:
        """Remove every service made; returns what their logs said (see LOG_SIGNS)."""
        signs = {name: log_signs(self, name) for name in self.made}
        for name in reversed(self.made):
            try:
                self.manager.remove(name)
            except Exception as e:  # a benchmark cleans up what it can
                say(f"could not remove {name}: {e}")
        self.made.clear()
        return signs

    def watch(self, service: str, volumes: tuple[str, ...] = ()) -> Watch:
        return Watch(self.runtime, container_name(service),
                     tuple(f"{container_name(service)}-{v}" for v in volumes)).start()

    def address_now(self, service: str, wait: float = 60.0) -> str | None:
        """The address the service's tor has now (after a restart it may take a moment)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                address = self.manager.status(service).address
            except Exception:  # the record or container is being changed
                address = None
            if address or time.monotonic() > deadline:
                return address
            time.sleep(2)


#: log lines that tell why a service stopped answering (counted per attack)
LOG_SIGNS = ("worker_connections are not enough", "can't start new thread", "past MaxStartups",
             "Timeout before authentication", "MemoryError", "Traceback", "Killed",
             "Resource temporarily unavailable", "Too many open files",
             "Maximum streams per circuit limit reached")


def log_signs(bench: Bench, service: str) -> dict[str, int]:
    """How often each of LOG_SIGNS is in the container's log (those seen at all)."""
    try:
        lines = bench.runtime.logs(container_name(service))
    except Exception:  # the container is gone
        return {}
    counts = {sign: sum(sign in line for line in lines) for sign in LOG_SIGNS}
    return {sign: n for sign, n in counts.items() if n}


def baseline(watch: Watch, attempt: Callable[[], Try], tries: int = 2) -> dict[str, Any]:
    """The real client's tries before any attack."""
    watch.phase = "baseline"
    return tries_summary([attempt() for _ in range(tries)])


def wave(bench: Bench, watch: Watch, name: str, crowds: list[Crowd],
         attempt: Callable[[], Try], limit: int = 5) -> dict[str, Any]:
    """Start the crowds, give them ``bench.arrive`` seconds, let the real client try during
    ``bench.window`` seconds, stop the crowds and watch ``bench.after`` seconds more."""
    say(f"wave '{name}': {sum(c.count for c in crowds)} attacker connections")
    watch.phase = name

    def trip(reason: str) -> None:
        say(f"wave '{name}': the test network is short of memory ({reason}): attack stopped")
        for crowd in crowds:
            crowd.abort(reason)

    guard = NetGuard(bench.runtime, trip).start()
    for crowd in crowds:
        crowd.start()
    time.sleep(bench.arrive)
    tries = tries_during(attempt, bench.window, bench.every, limit)
    attackers = [crowd.stop() for crowd in crowds]
    watch.phase = f"{name}: after"
    time.sleep(bench.after)
    network = guard.stop()
    client = tries_summary(tries)
    say(f"wave '{name}': client ok {client['ok']}/{client['n']}, "
        f"median {client['all_median_s']} s, attackers {attackers}, test network {network}")
    return {"wave": name, "attackers": attackers, "client": client, "testnet": network,
            "during": watch.summary(name), "after": watch.summary(f"{name}: after")}
