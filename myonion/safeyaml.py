"""YAML the user hands in (deployment files, ``template.yaml``), read within bounds.

A file from elsewhere must not be able to make myonion spend minutes or gigabytes on it. So,
before or while it is parsed — never after the objects are built — a file is refused when:

- it is larger than :data:`MAX_BYTES` (checked before a byte is parsed; at most that much is
  ever read, so ``/dev/zero`` or a 50 MB file costs nothing);
- it uses an anchor or an alias (``&name``, ``*name``, ``<<: *name``): a deployment file has no
  need for them, and alias expansion ("billion laughs") turns a few hundred bytes into millions
  of nodes for anything that walks the result;
- it nests deeper than :data:`MAX_DEPTH` (the composer is recursive);
- it has more than :data:`MAX_NODES` nodes.

Bounded, pure-Python PyYAML reads the largest accepted file in a fraction of a second.
:class:`BoundedLoader` raises :class:`Refused` (a :class:`yaml.MarkedYAMLError`, so it carries
the line); :func:`read` and :func:`load` raise :class:`RefusedFile`, which names the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from myonion.errors import MyOnionError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 10_000


class Refused(yaml.MarkedYAMLError):
    """YAML that myonion does not read (an alias, too deep, too many nodes); has a mark."""


class RefusedFile(MyOnionError):
    """A YAML file refused: ``file``, ``line`` (0: the whole file) and ``reason``."""

    hint = (f"myonion reads YAML files of at most {MAX_BYTES // 1024} KiB, {MAX_DEPTH} levels "
            f"deep and {MAX_NODES} values, without anchors or aliases (&name, *name): write "
            "each value out.")

    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases, deep nesting and too many nodes while it
    composes, before any alias is resolved or any object is built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it untyped
        if isinstance(event, yaml.AliasEvent):
            self._refuse(event, f"uses the YAML alias *{event.anchor}, which myonion does not "
                         "read (no anchors or aliases)")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._refuse(event, f"sets the YAML anchor &{anchor}, which myonion does not read "
                         "(no anchors or aliases)")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            self._refuse(event, f"has more than {MAX_NODES} values")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._refuse(event, f"nests more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    @staticmethod
    def _refuse(event: yaml.Event, problem: str) -> None:
        raise Refused(problem=problem, problem_mark=event.start_mark)  # type: ignore[arg-type]


def read(path: str | Path, file: str | None = None) -> str:
    """The text of a YAML file the user gave, refused (:class:`RefusedFile`) when it is over
    :data:`MAX_BYTES` or not UTF-8; never reads more than that. ``OSError`` passes through."""
    file = str(path) if file is None else file
    with open(Path(path).expanduser(), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_BYTES:  # a regular file says its size: refused before it is read
            raise RefusedFile(file, 0, _too_big(size))
        data = f.read(MAX_BYTES + 1)  # a device or pipe does not: read one byte too many
    if len(data) > MAX_BYTES:
        raise RefusedFile(file, 0, _too_big(len(data), more=True))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RefusedFile(file, data.count(b"\n", 0, e.start) + 1,
                          "is not UTF-8 text") from None


def _too_big(size: int, more: bool = False) -> str:
    shown = f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"
    return (f"is {'more than ' if more else ''}{shown}; a YAML file myonion reads may be at most "
            f"{MAX_BYTES // 1024} KiB")


def parse(text: str, file: str) -> Any:
    """YAML text → plain data, within the bounds; raises :class:`RefusedFile` for a refusal and
    :class:`yaml.YAMLError` for text that is not YAML."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    except Refused as e:
        mark = e.problem_mark
        raise RefusedFile(file, mark.line + 1 if mark else 0, str(e.problem)) from None
    finally:
        loader.dispose()


def load(path: str | Path, file: str | None = None) -> Any:
    """Read and parse a YAML file within the bounds (see :func:`read` and :func:`parse`)."""
    file = str(path) if file is None else file
    return parse(read(path, file), file)


def parse_with_lines(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """Like :func:`parse`, and also the line (from 1) of every value, by its path: ``""`` for
    the document, ``key``, ``key.sub``, ``key[0]``, ``key[0].sub``... (a key's line for the
    value under it), for messages that say where in the file a value is wrong."""
    loader = BoundedLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except Refused as e:
        mark = e.problem_mark
        raise RefusedFile(file, mark.line + 1 if mark else 0, str(e.problem)) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _lines(node, "", lines)
    return data, lines


def _lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            sub = f"{path}.{key}" if path else str(key)
            lines[sub] = key_node.start_mark.line + 1
            _lines(value_node, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, f"{path}[{i}]", lines)


def load_with_lines(path: str | Path, file: str | None = None) -> tuple[Any, dict[str, int]]:
    """Read and parse a YAML file within the bounds, with the line of every value (see
    :func:`parse_with_lines`)."""
    file = str(path) if file is None else file
    return parse_with_lines(read(path, file), file)
