"""What a node's log and directory say: its bootstrap, a published consensus, the routers and
microdescriptors it holds (pure: the text is read elsewhere)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from myonion.testnet.layout import DATA_DIR

BOOTSTRAP_RE = re.compile(r"Bootstrapped (\d{1,3})%")
#: an authority logs this once its first consensus is signed and published
CONSENSUS_RE = re.compile(r"\bPublished (?:ns|microdesc) consensus")
#: "enough_dirinfo": a tor at this bootstrap percentage has a live consensus
ENOUGH_DIRINFO = 75
CONSENSUS_FILE = f"{DATA_DIR}/cached-microdesc-consensus"
#: prints two numbers: routers in a tor's consensus, distinct microdescriptors it holds
DIRECTORY_COUNTS = (
    f"cd {DATA_DIR} && grep -c '^r ' cached-microdesc-consensus 2>/dev/null || echo 0; "
    "cat cached-microdescs cached-microdescs.new 2>/dev/null | grep '^id ed25519 ' "
    "| sort -u | wc -l"
)
LOG_TAIL = 40


def last_bootstrap(lines: Iterable[str]) -> int | None:
    """The last "Bootstrapped NN%" a tor logged, or None."""
    percent = None
    for line in lines:
        match = BOOTSTRAP_RE.search(line)
        if match:
            percent = int(match.group(1))
    return percent


def has_consensus(lines: Iterable[str]) -> bool:
    """True if an authority's log shows a published consensus."""
    return any(CONSENSUS_RE.search(line) for line in lines)


def parse_count(output: str) -> int | None:
    """The number ``grep -c`` printed (its last line), or None."""
    last = output.strip().splitlines()[-1:] or [""]
    return int(last[0]) if last[0].strip().isdigit() else None


def parse_counts(output: str) -> tuple[int | None, int | None]:
    """The two numbers :data:`DIRECTORY_COUNTS` prints (None where there is none)."""
    lines = [line.strip() for line in output.strip().splitlines()]
    numbers = [int(line) if line.isdigit() else None for line in lines[-2:]]
    if len(numbers) < 2:
        return None, None
    return numbers[0], numbers[1]


def can_signal(lines: list[str]) -> bool:
    """True once tor has logged its first "Bootstrapped" line: before that its signal handlers
    may not be set and a SIGHUP kills it (measured: exit status 129 right after a start)."""
    return last_bootstrap(lines) is not None


def tail(lines: list[str], n: int = LOG_TAIL) -> str:
    """The last ``n`` lines of a log, for an error's detail."""
    return "\n".join(lines[-n:])
