"""Time to live: services whose time has run out are ended, an ephemeral one removed, a
persistent one stopped (its key and data kept).

The container ends itself at that time too (its entry script knows the deadline, see
:func:`myonion.services.containers.write_expiry`), so this only tidies up what is left; it runs
on every listing, in any process.
"""

from __future__ import annotations

import time

from myonion.errors import StateError
from myonion.events import Stage
from myonion.services import containers, lifecycle
from myonion.services.context import ServiceContext
from myonion.services.request import Mode
from myonion.services.store import ServiceRecord


def expire(ctx: ServiceContext, name: str | None = None) -> list[str]:
    """End the services whose time to live has run out (all, or just ``name``); returns
    their names."""
    if name is None:
        return expire_records(ctx, ctx.store.all())
    try:
        record = ctx.store.get(name)
    except StateError:
        return []  # an unreadable record is reported by whoever reads it next
    return expire_records(ctx, [record] if record is not None else [])


def expire_records(ctx: ServiceContext, records: list[ServiceRecord]) -> list[str]:
    """:func:`expire` for these records."""
    now = time.time()
    ended: list[str] = []
    for record in records:
        # the container ends itself at the whole second in conf/expires (write_expiry),
        # so the deadline is that second here too, not the fraction after it
        if not record.expires_at or int(record.expires_at) > now:
            continue
        if record.stage == Stage.BUILDING or ctx.store.busy(record.name):
            continue  # being made (or changed) right now by another command
        ctx.report(Stage.STOPPED, "Its time to live has run out", record.name)
        if record.mode is Mode.EPHEMERAL:
            lifecycle.forget(ctx, record.name)
        else:
            lifecycle.stop(ctx, record, message=None)
            ctx.store.update(record.name, expires_at=None, stage=Stage.STOPPED,
                             reason="its time to live ran out")
            record.expires_at = None
            containers.write_expiry(ctx, record)
        ended.append(record.name)
    return ended
