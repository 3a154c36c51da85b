"""The directory authorities' keys: the script that makes them in a task container, and
reading what it prints (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from myonion.errors import TestnetError
from myonion.testnet.layout import DIR_PORT, UID, Node

FINGERPRINT_LINE_RE = re.compile(r"^(\w{1,19}) ((?:[0-9A-F]{4} ){9}[0-9A-F]{4})\s*$", re.MULTILINE)
V3IDENT_RE = re.compile(r"^fingerprint ([0-9A-F]{40})\s*$", re.MULTILINE)
SECTION = "@@myonion-node "


@dataclass(frozen=True)
class AuthorityKeys:
    """What the other tors need to trust an authority."""

    name: str
    v3ident: str  # fingerprint of the authority's v3 identity (from its certificate)
    fingerprint: str  # RSA identity fingerprint of its relay keys, 40 hex digits


def keygen_script(authorities: list[Node]) -> str:
    """A bash script making every authority's keys in ``/nodes/<name>`` (run as root with only
    CAP_CHOWN, no network), printing one section per authority, then handing every node's
    directory to the unprivileged user. The tors run here never touch a network: ``--list-
    fingerprint`` exits after making the keys, with the network disabled besides."""
    lines = [
        "set -eu",
        "umask 077",
        ": > /tmp/empty-torrc",
        # a placeholder authority on loopback: TestingTorNetwork refuses the default ones
        "placeholder='placeholder orport=1 no-v2 127.0.0.1:1 " + "0" * 40 + "'",
        "keys() {",
        '  mkdir -p "/nodes/$1/keys"',
        '  (cd "/nodes/$1/keys" && tor-gencert --create-identity-key -m 12 -a "$2:' +
        str(DIR_PORT) + '" --passphrase-fd 0 </dev/null >/dev/null)',
        '  tor --list-fingerprint --orport 1 --datadirectory "/nodes/$1" -f /tmp/empty-torrc '
        '--Nickname "$1" --DisableNetwork 1 --TestingTorNetwork 1 --DirAuthority "$placeholder" '
        '> "/tmp/$1.out" 2>&1',
        '  grep "^fingerprint " "/nodes/$1/keys/authority_certificate" >> "/tmp/$1.out"',
        "}",
    ]
    for node in authorities:
        lines.append(f"keys {node.name} {node.address} &")
    lines.append("for job in $(jobs -p); do wait \"$job\"; done")
    for node in authorities:
        lines.append(f"echo '{SECTION}{node.name}'; cat /tmp/{node.name}.out")
    lines += [
        "rm -f /nodes/*/lock",
        "chmod 0700 /nodes/*",
        f"chown -R {UID}:{UID} /nodes/*",
    ]
    return "\n".join(lines) + "\n"


def parse_fingerprint(output: str) -> tuple[str, str]:
    """(nickname, fingerprint) from ``tor --list-fingerprint`` output (its last such line)."""
    found = FINGERPRINT_LINE_RE.findall(output)
    if not found:
        raise TestnetError("tor --list-fingerprint printed no fingerprint.", detail=output[-2000:])
    nickname, spaced = found[-1]
    return nickname, spaced.replace(" ", "")


def parse_v3ident(certificate: str) -> str:
    """The v3 identity (``fingerprint`` line) of an authority certificate from tor-gencert."""
    match = V3IDENT_RE.search(certificate)
    if not match:
        raise TestnetError("The authority certificate has no fingerprint line.",
                           detail=certificate[-2000:])
    return match.group(1)


def parse_keygen_output(output: str, names: list[str]) -> dict[str, AuthorityKeys]:
    """Every authority's keys from the output of :func:`keygen_script`."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in output.splitlines():
        if line.startswith(SECTION):
            current = line[len(SECTION):].strip()
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    keys = {}
    for name in names:
        if name not in sections:
            raise TestnetError(f"Making the keys of authority {name} printed nothing.",
                               detail=output[-2000:])
        nickname, fingerprint = parse_fingerprint(sections[name])
        if nickname != name:
            raise TestnetError(f"The keys made for {name} carry the nickname {nickname}.",
                               detail=sections[name])
        keys[name] = AuthorityKeys(name, parse_v3ident(sections[name]), fingerprint)
    return keys

