"""Progress events. A Reporter is any callable taking an Event; surfaces decide how to show it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger(__name__)


class Stage(StrEnum):
    """The stages a service passes through, in order."""

    BUILDING = "building"
    STARTING = "starting"
    BOOTSTRAPPING = "bootstrapping"
    PUBLISHED = "published"
    REACHABLE = "reachable"
    #: the onion answers, but the service behind it does not work (the reason says why)
    FAILING = "failing"
    STOPPED = "stopped"
    FAILED = "failed"
    #: taken down by ``myonion down``: no container, record, keys and data kept
    DOWN = "down"


@dataclass(frozen=True)
class Event:
    """One step of progress: a stage, a human line, an optional percent and raw detail."""

    stage: Stage
    message: str
    percent: int | None = None
    service: str | None = None
    #: e.g. one line of the build log
    detail: str | None = None
    data: dict[str, object] = field(default_factory=dict)


Reporter = Callable[[Event], None]


def log_reporter(event: Event) -> None:
    """The default reporter: send events to the logging system."""
    log.info("%s: %s", event.stage, event.detail or event.message)
