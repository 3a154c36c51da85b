"""What the user asked the GUI to do, as plain data handed from dialogs to workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ShareRequest:
    """Everything ``Manager.share`` needs, as chosen in the share dialog (or by a drop)."""

    template: str
    options: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    network: str | None = None
    persistent: bool = False
    #: client names: private from the first second when given
    clients: tuple[str, ...] = ()
    #: time to live in seconds (None: until stopped)
    ttl: float | None = None
