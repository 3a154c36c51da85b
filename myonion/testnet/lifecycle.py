"""Up and down of the test network, one at a time on this machine: ``up`` reuses a network
that is up, resumes a kept one, or removes what is left of a broken one and makes it afresh
(removing it again if that fails); ``down`` removes every object of it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from myonion import paths
from myonion.errors import DockerUnavailable, MyOnionError, TestnetError
from myonion.events import Stage
from myonion.runtime.base import LABEL_ROLE
from myonion.testnet.context import (
    ROLE_NETWORK,
    ROLE_PREFIX,
    ROLE_VOLUME,
    NetContext,
    mine,
    owns,
    report,
)
from myonion.testnet.layout import check_sizes
from myonion.testnet.make import make
from myonion.testnet.nodes import foreign_users, leftovers
from myonion.testnet.resume import kept_sizes, resume
from myonion.testnet.status import TestnetStatus, sizes, status, timings_file

log = logging.getLogger(__name__)

#: serialises up and down of every process on this machine (one file per test network)
LOCK_DIR = Path(tempfile.gettempdir())


def up(ctx: NetContext, relays: int, authorities: int, timeout: float) -> TestnetStatus:
    """Start the network and wait until the client has bootstrapped; idempotent.

    On failure everything made is removed again and TestnetError carries the log tail
    of the node that failed.
    """
    check_sizes(authorities, relays)
    ctx.runtime.ping()
    with locked(ctx):
        current = status(ctx)
        if current.up:
            have = sizes(current)
            if have != (authorities, relays):
                raise TestnetError(
                    f"The test network is already up with {have[0]} authorities and "
                    f"{have[1]} relays, not {authorities} and {relays}.",
                    hint="Run `myonion testnet down` first to start it with other sizes.")
            report(ctx, Stage.BOOTSTRAPPING, "The test network is already up.", 100)
            return current
        if kept_sizes(ctx) == (authorities, relays):
            try:
                return resume(ctx, authorities, relays, timeout)
            except TestnetError as e:
                if foreign_users(ctx):
                    raise  # it cannot be made afresh under running services anyway
                report(ctx, Stage.STARTING, f"{e} Making the test network afresh.", 0)
        if current.nodes or leftovers(ctx):
            report(ctx, Stage.STARTING, "Removing an incomplete test network", 0)
            remove(ctx)
        return _afresh(ctx, authorities, relays, timeout)


def _afresh(ctx: NetContext, authorities: int, relays: int, timeout: float) -> TestnetStatus:
    """:func:`~myonion.testnet.make.make`, and on failure everything made removed again."""
    try:
        return make(ctx, authorities, relays, timeout)
    except BaseException as e:
        with contextlib.suppress(BaseException):
            report(ctx, Stage.FAILED, f"The test network did not start: {e}", None)
        try:
            remove(ctx)
        except MyOnionError:
            log.warning("could not remove the broken test network", exc_info=True)
        if isinstance(e, TestnetError | DockerUnavailable) or not isinstance(e, Exception):
            raise  # already says what to do; or an interrupt
        if isinstance(e, MyOnionError):
            raise TestnetError(f"The test network could not be started: {e}",
                               hint=e.hint, detail=e.detail) from e
        raise TestnetError(f"The test network could not be started: {e!r}.") from e


def down(ctx: NetContext) -> None:
    """Remove every test network container, network and volume (found by label)."""
    ctx.runtime.ping()
    with locked(ctx):
        remove(ctx)


def remove(ctx: NetContext) -> None:
    """:func:`down` without the lock: refused while a container not ours uses the network."""
    users = foreign_users(ctx)
    if users:  # checked first, so a refused down changes nothing
        raise TestnetError(
            f"The test network is still used by {', '.join(sorted(users))}, so it cannot "
            "be removed.",
            hint="Remove the local-mode services first (`myonion ls`, `myonion rm NAME`), "
            "then run `myonion testnet down` again.")
    for info in ctx.runtime.list_containers({LABEL_ROLE: ""}):
        if info.labels.get(LABEL_ROLE, "").startswith(ROLE_PREFIX) and owns(ctx, info.name):
            ctx.runtime.remove(info.name)
    for name in mine(ctx, ctx.runtime.list_networks({LABEL_ROLE: ROLE_NETWORK})):
        try:
            ctx.runtime.remove_network(name)
        except MyOnionError as e:
            raise TestnetError(
                f"The test network {name} could not be removed: {e}",
                hint="Remove the containers still attached to it (`myonion ls`, "
                "`myonion rm NAME`), then run `myonion testnet down` again.") from e
    for name in mine(ctx, ctx.runtime.list_volumes({LABEL_ROLE: ROLE_VOLUME})):
        try:
            ctx.runtime.remove_volume(name)
        except MyOnionError as e:
            raise TestnetError(
                f"The test network volume {name} could not be removed: {e}",
                hint="Remove the containers that mount it (`myonion ls`, `myonion rm "
                "NAME`), then run `myonion testnet down` again.") from e
    with contextlib.suppress(OSError):
        timings_file(ctx).unlink()


@contextlib.contextmanager
def locked(ctx: NetContext) -> Iterator[None]:
    """One up/down at a time on this machine: the network is one per Docker engine, so the
    lock is machine-wide (in the temp dir, not under MYONION_HOME); read-only is enough for
    flock, so processes of other users can share it."""
    try:
        fd = os.open(LOCK_DIR / f"{ctx.name}.lock", os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW,
                     0o644)
    except OSError:
        fd = os.open(paths.testnet_dir() / f".{ctx.name}.lock", os.O_RDWR | os.O_CREAT,
                     0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report(ctx, Stage.STARTING, "Waiting for another `myonion testnet up/down` on "
                   "this machine to finish", None)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
