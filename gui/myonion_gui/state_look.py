"""How a service's state looks, in one place: its words, its tone (colour) and its reason.

Everything comes from the core's ``ServiceView`` (``state``, ``stage``, ``percent``, ``reason``)
or from a live progress event while an operation runs; nothing is guessed here.

A stage the core adds later plugs in through ``STAGE_TONES``: issue 15's deeper probe ("the onion
is up, the service behind it fails") is meant to arrive as its own stage with a ``reason`` and
take the ``WARN`` tone (amber), its reason shown beside the state. A running service whose stage
is unknown here is shown with that stage's own name and, if it has a reason, in amber too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from myonion.events import Event, Stage
from myonion.manager import ServiceView


class Tone(Enum):
    """What a state means to the user, and its colour (text, and a light background)."""

    OK = ("#1b7f3b", "#e3f3e7")  # reachable: proven through a separate tor client
    READY = ("#2e6e8e", "#e2eff5")  # published, not proven yet
    BUSY = ("#5a5a8c", "#ebebf5")  # building, starting, bootstrapping
    WARN = ("#8a5a00", "#fdf0d5")  # up, but something is wrong (issue 15's probe)
    BAD = ("#b3261e", "#fbe9e7")  # failed
    OFF = ("#6b6b6b", "#eeeeee")  # stopped

    @property
    def colour(self) -> str:
        return self.value[0]

    @property
    def background(self) -> str:
        return self.value[1]


STAGE_TONES: dict[str, Tone] = {
    Stage.REACHABLE: Tone.OK,
    Stage.PUBLISHED: Tone.READY,
    Stage.BUILDING: Tone.BUSY,
    Stage.STARTING: Tone.BUSY,
    Stage.BOOTSTRAPPING: Tone.BUSY,
    Stage.FAILED: Tone.BAD,
    Stage.STOPPED: Tone.OFF,
    Stage.DOWN: Tone.OFF,
    # issue 15: "failing": Tone.WARN  (the onion answers, the service behind it does not)
}


@dataclass(frozen=True)
class StateLook:
    """The state as shown: ``text`` in the list, ``tone`` its colour, ``reason`` beside it."""

    text: str
    tone: Tone
    reason: str | None = None


def look(view: ServiceView, live: Event | None = None) -> StateLook:
    """The state of ``view``; a live event (an operation in progress) takes precedence."""
    if live is not None:
        percent = f" {live.percent}%" if live.percent is not None else ""
        return StateLook(f"{live.stage}{percent}", STAGE_TONES.get(live.stage, Tone.BUSY))
    if view.state in ("failed", "missing"):
        return StateLook("failed", Tone.BAD, view.reason)
    if view.state in ("running", "restarting"):
        percent = f" {view.percent}%" if view.percent is not None else ""
        tone = STAGE_TONES.get(view.stage)
        if tone is None:  # a stage this app does not know yet: its name, amber if explained
            tone = Tone.WARN if view.reason else Tone.BUSY
        return StateLook(f"{view.stage}{percent}", tone, view.reason)
    if view.state == "creating":
        return StateLook("creating", Tone.BUSY)
    return StateLook(view.state, Tone.OFF, view.reason if view.stage == Stage.DOWN else None)
