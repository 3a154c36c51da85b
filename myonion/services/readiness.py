"""Readiness, measured: a service's tor is held off the network (``hold``), its container
started, tor's events subscribed to before the network is released, and the wait ends when
the descriptor is published; on the local network the service is then proven to work through
the test network's separate tor client (:func:`check`, every probe its template declares).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from myonion import config, tor
from myonion.errors import MyOnionError, ServiceFailing, TorError
from myonion.events import Stage
from myonion.services import clients, hostdirs
from myonion.services.context import ServiceContext, container_name
from myonion.services.store import ServiceRecord
from myonion.templates import TemplateSpec
from myonion.tor import probes

DEFAULT_TIMEOUT = 120.0
#: in a service's conf folder: its service is held until the share is released (the entry
#: script waits for the file to go; see :func:`start`)
HOLD_SERVICE = "hold-service"
#: the reason shown for a share prepared ahead
PREPARED = "prepared ahead: its service starts when it is shared"
LOG_TAIL = 20


@dataclass
class CheckResult:
    """The outcome of probing a service through a separate tor client (every probe its
    template declares): ``reachable`` only if each one passed; ``onion_up`` when tor reached
    the onion, so a failure is the service's (``error`` says why)."""

    name: str
    address: str
    reachable: bool
    seconds: float
    status: int | None = None
    bytes: int = 0
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    onion_up: bool = False
    #: the container's health as Docker's healthcheck sees it (healthy, unhealthy, starting)
    health: str | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def socks_for(ctx: ServiceContext, network: str) -> tuple[str, int]:
    """The SOCKS port of a tor client *separate* from the service, for the given network."""
    if network == "local":
        return ctx.testnet.socks()
    return config.public_socks()


def start(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec, wait: bool,
          timeout: float, hold_service: bool = False) -> None:
    """Start the service's container; ``wait``: tor starts with its network disabled until
    its events are subscribed to, and this returns once it serves (see :func:`wait_ready`).
    ``hold_service``: a share prepared ahead: tor publishes the onion, the service itself
    starts only in :func:`release` (and this returns once published)."""
    name = record.name
    hostdirs.clear_control_dir(ctx.runtime, ctx.control_dir(name), name, hold=wait)
    held = ctx.conf_dir(name) / HOLD_SERVICE
    if hold_service:
        held.touch()
        held.chmod(0o644)
    else:
        held.unlink(missing_ok=True)
    ctx.store.update(name, stage=Stage.STARTING, reason=None)
    ctx.report(Stage.STARTING, "Starting the container", name)
    started = time.monotonic()
    ctx.runtime.start(container_name(name))
    if wait:
        wait_ready(ctx, record, template, started, timeout, prove=not hold_service)


def release(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
            timeout: float) -> bool:
    """Start the service of a share prepared ahead (its onion published, its service held;
    see :func:`start`) and, on the local network, prove it works. False if none was held."""
    held = ctx.conf_dir(record.name) / HOLD_SERVICE
    if not held.exists():
        return False
    started = time.monotonic()
    held.unlink()
    ctx.store.update(record.name, reason=None)
    ctx.report(Stage.STARTING, "Starting the service", record.name)
    address = record.address or hostdirs.read_address(ctx.control_dir(record.name))
    if record.network == "local" and address:
        prove_works(ctx, record, template, address, started, timeout,
                    dict(record.timings or {}))
    return True


def wait_ready(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
               started: float, timeout: float, prove: bool = True) -> None:
    """Wait until the descriptor is published (and, on the local network and with ``prove``,
    the service works through the test network); a service that does not is marked failed
    (raises)."""
    name = record.name
    ctl = ctx.control_dir(name)

    def alive() -> bool:
        info = ctx.runtime.get(container_name(name))
        return info is not None and info.status in ("running", "created")

    ctx.store.update(name, stage=Stage.BOOTSTRAPPING, reason=None)
    # tor's milestones count from when the container was started, as the reachable one does
    # (the engine's start itself is part of a share, and slow with many at once)
    offset = time.monotonic() - started
    try:
        readiness = tor.wait_published(
            ctl, lambda: hostdirs.read_address(ctl), release_network=True,
            timeout=timeout, alive=alive, reporter=ctx.reporter_for(name), service=name)
    except TorError as e:
        error = with_stopped_nodes(ctx, record, e)
        fail(ctx, name, error)
        if error is e:
            raise
        raise error from e
    address = hostdirs.read_address(ctl)
    timings = {"bootstrapped": round(offset + readiness.bootstrapped, 3)
               if readiness.bootstrapped is not None else 0.0,
               "published": round(offset + (readiness.uploaded or 0), 3)}
    info = ctx.runtime.get(container_name(name))
    ctx.store.update(name, address=address, stage=Stage.PUBLISHED,
                     reason=None if prove else PREPARED, timings=timings,
                     started_at=info.started_at if info else None)
    if not prove:
        ctx.report(Stage.PUBLISHED, f"Published ahead; {PREPARED}", name)
        return
    if record.network == "local":
        assert address is not None  # published: tor wrote it
        prove_works(ctx, record, template, address, started, timeout, timings)


def prove_works(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec,
                address: str, started: float, timeout: float,
                timings: dict[str, float]) -> None:
    """Prove the published service works through the test network (see :func:`check`);
    one that does not is marked failed (raises); ``timings`` gets the time to reachable
    from ``started``."""
    name = record.name
    if record.private and clients.check_key(ctx, name) is None:
        # private with every client removed: nobody can reach it, not even the check
        ctx.report(Stage.PUBLISHED, "Published; private with no client keys, so "
                   "reachability cannot be checked", name)
        return
    remaining = max(10.0, timeout - (time.monotonic() - started))
    if record.network == "local" and record.address == address:
        # served before, so the client may still hold its old descriptor, whose
        # introduction points are gone: it visits as someone who never came before
        ctx.testnet.forget_onions()
    result = check(ctx, record, template, address, None, timeout=remaining)
    if not result.reachable:
        error = (ServiceFailing(
            f"Service '{name}' is published, but it does not work: {result.error}.",
            hint="Fix what the reason says and share it again; the service's own log "
            f"is in `myonion logs {name}`.") if result.onion_up else TorError(
            f"Service '{name}' was published but could not be reached through the test "
            f"network: {result.error}"))
        if not result.onion_up:
            error = with_stopped_nodes(ctx, record, error)
        fail(ctx, name, error)
        raise error
    timings["reachable"] = round(time.monotonic() - started, 3)
    ctx.store.update(name, timings=timings)


def with_stopped_nodes(ctx: ServiceContext, record: ServiceRecord,
                       error: TorError) -> TorError:
    """``error`` of a share on the local network, naming the test network's nodes that do
    not run as its likely cause (the engine kills one that reaches its memory limit); the
    same error when every node runs, or on the public network."""
    if record.network != "local":
        return error
    try:
        stopped = ctx.testnet.stopped_nodes()
    except MyOnionError:  # the engine's own trouble must not hide the share's
        return error
    if not stopped:
        return error
    which = (f"nodes {', '.join(stopped)} do" if len(stopped) > 1
             else f"node {stopped[0]} does")
    return type(error)(
        f"{error.message} The test network's {which} not run, which is the likely cause.",
        hint="Start the test network's nodes again with `myonion testnet up`, then share "
        "again.", detail=error.detail)


def fail(ctx: ServiceContext, name: str, error: MyOnionError) -> None:
    """Mark the service failed with ``error``, which gets the end of its log."""
    error.detail = error.detail or "\n".join(log_tail(ctx, name))
    error.hint = error.hint or f"See the whole log with `myonion logs {name}`."
    ctx.store.update(name, stage=Stage.FAILED, reason=error.message)
    ctx.report(Stage.FAILED, error.message, name)


def log_tail(ctx: ServiceContext, name: str) -> list[str]:
    try:
        return list(ctx.runtime.logs(container_name(name), tail=LOG_TAIL))
    except MyOnionError:
        return []


def check(ctx: ServiceContext, record: ServiceRecord, template: TemplateSpec, address: str,
          health: str | None, timeout: float = 60.0) -> CheckResult:
    """Prove the running service at ``address`` works: every probe its template declares,
    through a separate tor client. The stage becomes reachable when each passes, failing
    (with the reason) when the onion answered but the service did not; a service tor could
    not reach keeps its stage."""
    name = record.name
    proxy = socks_for(ctx, record.network)
    if record.private and record.network == "local":
        client = clients.check_key(ctx, name)
        if client is None:
            return CheckResult(name, address, False, 0.0, health=health,
                               error="it is private and has no client key to check with")
        # the test network's client gets the key (one file per service, replaced)
        ctx.testnet.authorize(clients.testnet_key(name), client.auth_private_line(address))
    ctx.report(Stage.PUBLISHED, f"Checking {address} through a separate tor client", name)
    start_time = time.monotonic()
    # a client stuck on a rendezvous nobody answers forgets, then tries again
    stuck = ctx.testnet.forget_onions if record.network == "local" else None
    verdict = probes.Verdict()
    for spec in template.probes:
        if spec.applies(record.options):
            left = max(5.0, timeout - (time.monotonic() - start_time))
            verdict.results.append(probes.run_until(spec, proxy, address, left, stuck=stuck))
            if not verdict.results[-1].ok:
                break
    seconds = round(time.monotonic() - start_time, 3)
    info = ctx.runtime.get(container_name(name))
    started_at = info.started_at if info else None
    first = verdict.results[0] if verdict.results else None
    result = CheckResult(name, address, verdict.reachable, seconds,
                         status=first.status if first else None,
                         bytes=first.bytes if first else 0, error=verdict.reason,
                         onion_up=verdict.onion_up, health=info.health if info else None,
                         probes=[r.to_dict() for r in verdict.results])
    if verdict.reachable:
        ctx.store.update(name, stage=Stage.REACHABLE, reason=None, started_at=started_at,
                         address=address)
        ctx.report(Stage.REACHABLE, f"Reachable at {address} ({seconds:.1f} s)", name,
                   percent=100)
    elif verdict.onion_up:
        reason = f"the onion answers, but {verdict.reason}"
        ctx.store.update(name, stage=Stage.FAILING, reason=reason, started_at=started_at,
                         address=address)
        ctx.report(Stage.FAILING, reason, name)
    return result
