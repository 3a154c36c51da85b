"""Small parsers for the configuration files myonion renders, so tests compare *directives*
(what nginx, tor, mosquitto and sshd will read), not lines or substrings.

A value that sneaks a ``;`` into nginx.conf keeps the line count but adds a directive; a
newline in a torrc value adds a keyword. These parsers read the files the way the programs do
(well enough for our templates) and raise :class:`ConfigSyntaxError` where the program would
refuse the file.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field


class ConfigSyntaxError(ValueError):
    """The text is not a valid file of its kind (the program would refuse to start)."""


# nginx ----------------------------------------------------------------------------------------
@dataclass
class Directive:
    """One nginx directive: its name, its arguments and, for a block, what is inside."""

    name: str
    args: tuple[str, ...]
    block: list[Directive] | None = field(default=None)


_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def nginx_tokens(text: str) -> list[tuple[str, bool]]:
    """nginx's tokens: ``(token, quoted)``; ``;``, ``{`` and ``}`` are tokens of their own.

    As nginx's ``ngx_conf_read_token``: ``#`` starts a comment only where a token could start,
    quotes (double or single, with backslash escapes) make one token, and a quoted token must be
    followed by a space, ``;`` or ``{``.
    """
    tokens: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch in ";{}":
            tokens.append((ch, False))
            i += 1
        elif ch in "\"'":
            quote, value, i = ch, [], i + 1
            while True:
                if i >= n:
                    raise ConfigSyntaxError("unexpected end of file in a quoted string")
                if text[i] == "\\" and i + 1 < n:
                    value.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
                    i += 2
                elif text[i] == quote:
                    i += 1
                    break
                else:
                    value.append(text[i])
                    i += 1
            if i < n and text[i] not in " \t\r\n;{":
                raise ConfigSyntaxError(f"unexpected {text[i]!r} after a quoted string")
            tokens.append(("".join(value), True))
        else:
            start = i
            while i < n and text[i] not in " \t\r\n;{}\"'":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                i += 1
            tokens.append((text[start:i], False))
    return tokens


def nginx(text: str) -> list[Directive]:
    """The directives of an nginx configuration, blocks nested."""
    tokens = nginx_tokens(text)
    stack: list[list[Directive]] = [[]]
    words: list[tuple[str, bool]] = []
    for token, quoted in tokens:
        if quoted or token not in ";{}":
            words.append((token, quoted))
            continue
        if token == "}":
            if words:
                raise ConfigSyntaxError(f"directive '{words[0][0]}' has no ';' before '}}'")
            if len(stack) == 1:
                raise ConfigSyntaxError("unexpected '}'")
            stack.pop()
            continue
        if not words or words[0][1]:
            raise ConfigSyntaxError(f"unexpected '{token}'")
        directive = Directive(words[0][0], tuple(w for w, _ in words[1:]))
        stack[-1].append(directive)
        words = []
        if token == "{":
            directive.block = []
            stack.append(directive.block)
    if words:
        raise ConfigSyntaxError(f"unexpected end of file: '{words[0][0]}' has no ';'")
    if len(stack) != 1:
        raise ConfigSyntaxError("unexpected end of file, expecting '}'")
    return stack[0]


def nginx_flat(directives: list[Directive], context: str = "") -> list[tuple[str, str,
                                                                             tuple[str, ...]]]:
    """Every directive as ``(context, name, args)`` in file order; the context of a directive
    in ``http { server { … } }`` is ``"http/server"`` (a block adds its name and arguments)."""
    flat: list[tuple[str, str, tuple[str, ...]]] = []
    for d in directives:
        flat.append((context, d.name, d.args))
        if d.block is not None:
            inner = "/".join(filter(None, [context, " ".join((d.name, *d.args))]))
            flat.extend(nginx_flat(d.block, inner))
    return flat


def nginx_find(directives: list[Directive], path: str) -> list[Directive]:
    """The directives named by ``path`` ("http/server/index"): every match, in file order."""
    first, _, rest = path.partition("/")
    found = [d for d in directives if d.name == first]
    if not rest:
        return found
    return [m for d in found if d.block is not None for m in nginx_find(d.block, rest)]


# tor ------------------------------------------------------------------------------------------
def torrc(text: str) -> list[tuple[str, str]]:
    """``(keyword, value)`` of every line of a torrc, as tor reads it: ``#`` starts a comment
    (outside a quoted value), a backslash at the end of a line continues it, a value in double
    quotes is unquoted (C escapes), ``%include`` is a keyword like the others."""
    entries: list[tuple[str, str]] = []
    logical: list[str] = []
    for raw in text.split("\n"):
        line = _strip_tor_comment(raw)
        if line.rstrip().endswith("\\"):
            logical.append(line.rstrip()[:-1])
            continue
        line = "".join([*logical, line]).strip()
        logical = []
        if not line:
            continue
        keyword, _, value = line.partition(" ")
        if "\t" in keyword:
            keyword, _, more = keyword.partition("\t")
            value = f"{more} {value}".strip()
        value = value.strip()
        if value.startswith('"'):
            value = _tor_unquote(value)
        entries.append((keyword, value))
    if logical:
        raise ConfigSyntaxError("a line continued past the end of the file")
    return entries


def _strip_tor_comment(line: str) -> str:
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[:i]
    return line


def _tor_unquote(value: str) -> str:
    if len(value) < 2 or not value.endswith('"'):
        raise ConfigSyntaxError(f"a quoted torrc value is not closed: {value!r}")
    try:
        return value[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as e:
        raise ConfigSyntaxError(f"a bad escape in a torrc value: {value!r}") from e


def torrc_values(entries: list[tuple[str, str]], keyword: str) -> list[str]:
    """The values of one keyword (tor's keywords are case-insensitive)."""
    return [v for k, v in entries if k.lower() == keyword.lower()]


# mosquitto, sshd and other "keyword value" files ---------------------------------------------
def keyword_lines(text: str, *, lower: bool = False) -> list[tuple[str, str]]:
    """``(keyword, value)`` of every line that is not blank and not a comment (``#`` first on
    the line), as mosquitto.conf, its ACL file and sshd_config are read. sshd's keywords are
    case-insensitive: ``lower=True`` folds them."""
    entries = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, value = line.replace("\t", " ").partition(" ")
        entries.append((keyword.lower() if lower else keyword, value.strip()))
    return entries


def mosquitto(text: str) -> list[tuple[str, str]]:
    """mosquitto.conf (and its ACL file): every ``keyword value`` line."""
    return keyword_lines(text)


def sshd(text: str) -> list[tuple[str, str]]:
    """sshd_config: ``(keyword, value)`` with the keyword lower-cased (sshd ignores the case;
    for most keywords the *first* line wins, so duplicates matter)."""
    return keyword_lines(text, lower=True)


def env_file(text: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` lines (comments and blank lines skipped); a line without ``=`` is an
    error, as it is to a shell that sources the file."""
    entries = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigSyntaxError(f"not a KEY=VALUE line: {line!r}")
        entries.append((key, value))
    return entries


def shell_words(text: str) -> list[str]:
    """The words and operators of a shell script (comments dropped), near enough to how a
    POSIX shell splits them (shlex also ends a word at ``#``): one command more, or a quote
    closed early, changes the list."""
    # a newline ends a command as ";" does: it is an operator word of its own
    lexer = shlex.shlex(text, posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError as e:
        raise ConfigSyntaxError(f"the script does not parse: {e}") from e
