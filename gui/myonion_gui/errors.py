"""Turn exceptions into what the user reads: a message, a hint, optional detail. No tracebacks."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from myonion.errors import MyOnionError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserError:
    """An error as the window shows it."""

    message: str
    hint: str | None = None
    #: extra text such as a log tail, shown on request
    detail: str | None = None

    @classmethod
    def from_exception(cls, error: BaseException) -> UserError:
        """myonion's own errors carry their sentence; anything else is logged, not shown raw."""
        if isinstance(error, MyOnionError):
            return cls(error.message, error.hint, error.detail)
        log.error("unexpected error in the desktop app", exc_info=error)
        return cls(
            f"Something unexpected went wrong: {type(error).__name__}: {error}",
            hint="Run `myonion-gui` from a terminal to see the full log, and report it.",
        )

    def text(self) -> str:
        """Message and hint as one readable block."""
        return self.message if not self.hint else f"{self.message}\n{self.hint}"
