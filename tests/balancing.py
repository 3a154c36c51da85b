"""Helpers of the balanced-service tests: a page fetched through a fresh tor client (the way a
new visitor gets it), and waiting until an Onionbalance frontend has republished a backend."""

from __future__ import annotations

import datetime
import time

from myonion.deploy import balance
from myonion.errors import MyOnionError
from myonion.manager import Manager
from myonion.runtime.docker import DockerRuntime
from myonion.testnet import Testnet
from myonion.tor import fetch
from tests.torclient import fresh_client


def get(address: str, proxy: tuple[str, int], timeout: float = 120) -> str:
    return fetch.http_get_retry(f"http://{address}/", proxy, timeout=timeout).body.decode()


def fresh_get(runtime: DockerRuntime, net: Testnet, address: str, attempts: int = 3
              ) -> tuple[str, float, float, int]:
    """Fetch through a fresh client (no cached descriptor): the page, the client's bootstrap and
    fetch seconds (of the attempt that worked), and how many attempts it took.

    Each attempt is a new client with 60 s: now and then (3 of 14 runs) a rendezvous through this
    tiny network hangs until the client gives up, and a client keeps its cached descriptor, so
    only a new one shows what a new visitor gets. Failed attempts are printed with the logs.
    """
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        with fresh_client(runtime, net) as (proxy, client):
            ready = time.monotonic()
            try:
                body = get(address, proxy, timeout=60)
            except MyOnionError as e:
                print(f"balance: attempt {attempt} (a fresh client) failed: {e.message}")
                print("\n".join(list(runtime.logs(client))[-5:]))
                if attempt == attempts:
                    raise
                continue
            if attempt > 1:
                print(f"balance: served on attempt {attempt}")
            return body, ready - started, time.monotonic() - ready, attempt
    raise AssertionError("unreachable")


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def wait_listed(manager: Manager, frontend: str, backend: str, since: str,
                timeout: float = 120) -> float:
    """Wait until ``frontend`` has seen ``backend``'s new intro points (changed at or after
    ``since``, UTC) and has published the master descriptor after that; returns the seconds.

    The status has whole seconds: a publish in the same second as the change may have come
    just before it, so only a later second counts."""
    started = time.monotonic()
    while True:
        view = balance.status(manager, frontend)
        state = next(b for b in view.backends if b.name == backend)
        published = min(view.published.get("first") or "", view.published.get("second") or "")
        changed = state.intro_set_changed or ""
        if state.listed and changed >= since and published > changed:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"{backend} not republished: {view}"
        time.sleep(2)
