"""Secrets at rest: which rendered files hold a secret option's value, and writing them 0600.

A template marks options ``secret: true`` (device tokens, broker passwords, routes with tokens).
Their values end up in some of the service's runtime files (``conf/``, mounted read-only into the
container). Those files are written with mode 0600 and handed to the container's user (uid
10001), so only tor's and the service's user can read them in the container, and only root on the
host; the other runtime files (torrc, nginx.conf, …) stay 0644 so they can be read for debugging.

A file counts as holding a secret when it contains a *piece* of a secret value: the whole value,
or any of its words (split at white space and ``:``) of :data:`MIN_PIECE` characters or more.
Comment lines of a secret value are not pieces. This errs on the safe side: a file that merely
repeats a long device id is protected too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from myonion.templates import TemplateSpec

#: words of a secret value shorter than this are not looked for (ids such as "kitchen" are
#: shorter than every secret the built-in templates accept: tokens ≥ 16, passwords ≥ 12)
MIN_PIECE = 8
_SPLIT = re.compile(r"[\s:]+")


def secret_pieces(template: TemplateSpec, values: dict[str, Any]) -> set[str]:
    """The strings whose presence makes a file secret, for these (validated) option values."""
    pieces: set[str] = set()
    for option in template.options:
        value = values.get(option.name)
        if not option.secret or value in (None, ""):
            continue
        text = str(value).replace("\r", "")
        if text.strip():
            pieces.add(text.strip())
        for line in text.split("\n"):
            if line.strip().startswith("#"):
                continue
            pieces.update(w for w in _SPLIT.split(line) if len(w) >= MIN_PIECE)
    return pieces


def holds_secret(text: str, pieces: Iterable[str]) -> bool:
    """True if ``text`` contains any of the secret ``pieces``."""
    return any(piece in text for piece in pieces)


def write_file(path: Path, text: str, secret: bool) -> None:
    """Write ``text`` to ``path``: 0600 if ``secret`` (never readable by others, not even for
    a moment), else 0644. An old file is replaced, whoever owns it (a secret one was handed to
    the container's user, which a non-root host user could not open for writing)."""
    mode = 0o600 if secret else 0o644
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)  # against a umask that took bits away
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_rendered(conf: Path, template: TemplateSpec, values: dict[str, Any],
                   rendered: dict[str, str]) -> list[str]:
    """Write a service's rendered runtime files into ``conf``: those that hold a piece of one
    of its secret option ``values`` 0600, the others 0644. Returns the secret files' names
    (to be handed to the container's user)."""
    pieces = secret_pieces(template, values)
    secret_files = []
    for filename, text in rendered.items():
        secret = holds_secret(text, pieces)
        write_file(conf / filename, text, secret=secret)
        if secret:
            secret_files.append(filename)
    return secret_files


def wider_than_private(path: Path) -> bool:
    """True if group or others may read, write or run ``path``."""
    return bool(path.stat().st_mode & 0o077)
