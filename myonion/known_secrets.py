"""Secrets that are not secret: refused wherever a secret option is given.

Whatever the project's own examples and docs have ever shipped as a token or password
(``KNOWN``) is known to everyone who read them, and so are placeholders such as
``change-me-…``: a device token or broker password made of one would let anyone who has seen
the repository speak for the device. A secret option's value holding one is refused with a hint
to leave it out (myonion then generates one, see :mod:`myonion.gateway_secrets`).

``KNOWN`` is kept by hand; ``tests/unit/test_known_secrets.py`` reads every example and doc of
the repository and fails if a literal secret in them is missing here, so the list stays complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from myonion.errors import OptionError

#: every literal secret the project's examples, docs and template manifests show or showed
KNOWN = frozenset({
    # README and docs/deployments.md before issue 20
    "kitchen-token-0123456789",
    "garden-token-0123456789",
    "correct-horse-battery",
    "correct-horse-battery-staple",
    # compose/pi-iot-gateway before issue 20
    "change-me-kitchen-token-01",
    "change-me-garden-token-001",
    "change-me-broker-password",
    # the iot-receiver's manifest example before issue 20
    "Ax7oL2q9Vd3mKp8sTw4n",
})
#: words that are placeholders, not secrets
PLACEHOLDER = re.compile(
    r"(?i)change[-_.]?me|replace[-_.]?me|placeholder|fill[-_.]?me|"
    r"your[-_.]?(?:own[-_.]?)?(?:device[-_.]?)?(?:token|password|secret|passphrase)|"
    r"^(?:x+|0+|1234567890?\w*)$")
#: shorter words are not looked at (device ids and user names are words too)
MIN_WORD = 8
_SPLIT = re.compile(r"[\s:]+")
HINT = ("Leave the secret out (write just the device id): myonion then generates one and "
        "shows it with `myonion secrets NAME`. A secret you choose yourself must not appear "
        "in any example or document.")


def words(text: str) -> Iterator[str]:
    """The words of a secret option's value that could be secrets (not comments or URLs)."""
    for line in text.replace("\r", "").split("\n"):
        if line.strip().startswith("#"):
            continue
        for word in _SPLIT.split(line):
            if len(word) >= MIN_WORD and not word.startswith("//"):
                yield word


def known(word: str) -> bool:
    """True if ``word`` is a published example secret or a placeholder."""
    return word in KNOWN or bool(PLACEHOLDER.search(word))


def refuse_known(option: str, text: str) -> None:
    """Raise OptionError if ``text`` (a secret option's value) holds a known secret."""
    for word in words(text):
        if known(word):
            shown = word if len(word) <= 40 else word[:39] + "…"
            raise OptionError(
                f"Option '{option}' holds '{shown}', a secret published in myonion's examples "
                "or a placeholder: anyone could use it.", hint=HINT)
