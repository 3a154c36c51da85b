"""The named checks of an option's value (``format:`` in a manifest), and how values are quoted.

Each check takes a description of where the value came from (for the message) and the text
(of a ``file`` option: the file's content), and raises
:class:`~myonion.errors.OptionError` naming what is wrong. A new format is a function here and
its name in :data:`FORMATS` (and in the schema's ``format`` list: template.schema.json).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
from collections.abc import Callable
from typing import Any

from myonion.errors import OptionError

__all__ = [
    "FORMATS",
    "SSH_KEY_TYPES",
    "check_ip_address",
    "check_openssh_public_keys",
    "shown",
    "whole_number",
]

#: the OpenSSH public key types the ``openssh_public_keys`` format accepts
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                 "sk-ecdsa-sha2-nistp256@openssh.com")
SSH_KEY_HINT = ("Give one key a line as in a .pub file, e.g. 'ssh-ed25519 AAAA… me@laptop' "
                "(types: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-…); blank lines and "
                "# comments are fine; key options such as command= or from= are not allowed.")
SSH_KEY_BLOB = re.compile(r"AAAA[A-Za-z0-9+/]{16,8192}={0,3}")
PRINTABLE = re.compile(r"[ -~\t]*")
#: a whole number as the CLI or a file may give it (ASCII digits only, no "1_000")
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,30}")
#: how much of a refused value an error message quotes (of a path: all but absurd ones)
SHOWN = 60
PATH_SHOWN = 1000


def shown(value: Any, limit: int = SHOWN) -> str:
    """A value as an error message quotes it: control characters escaped, cut to ``limit``."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def whole_number(raw: Any) -> int | None:
    """``raw`` as an int if it is one (an int, an integral float, or decimal digits), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str) and WHOLE_NUMBER.fullmatch(raw.strip()):
        return int(raw.strip())
    return None


def check_openssh_public_keys(where: str, text: str) -> None:
    """Raise OptionError unless ``text`` is OpenSSH public keys, one a line (an
    ``authorized_keys`` without key options), with comments and blank lines; names the bad line.
    """
    keys = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip(" \t")
        bad = f"{where}, line {number}"
        if not PRINTABLE.fullmatch(line):
            raise OptionError(f"{bad} holds a control character or non-ASCII text.",
                              hint=SSH_KEY_HINT)
        if not line or line.startswith("#"):
            continue
        if "PRIVATE KEY" in line:
            raise OptionError(f"{bad} is a private key: never give it away.",
                              hint="Give the public key instead (the file ending in .pub).")
        kind, _, rest = line.replace("\t", " ").partition(" ")
        blob, _, comment = rest.strip().partition(" ")
        if kind not in SSH_KEY_TYPES:
            raise OptionError(f"{bad} is not an OpenSSH public key: it must start with a key "
                              "type such as ssh-ed25519 (key options are not allowed).",
                              hint=SSH_KEY_HINT)
        if not SSH_KEY_BLOB.fullmatch(blob) or _ssh_blob_type(blob) != kind:
            raise OptionError(f"{bad}: the key data after '{kind}' is not a valid {kind} key "
                              "(was it cut off or changed when copied?).", hint=SSH_KEY_HINT)
        if len(comment) > 300:
            raise OptionError(f"{bad}: the comment after the key is longer than 300 characters.",
                              hint=SSH_KEY_HINT)
        keys += 1
    if not keys:
        raise OptionError(f"{where} holds no public key.", hint=SSH_KEY_HINT)


def _ssh_blob_type(blob: str) -> str | None:
    """The key type named inside an OpenSSH public key's base64 data, or None unless the data
    is a whole sequence of length-prefixed fields (so a key cut off when copied is caught)."""
    try:
        data = base64.b64decode(blob, validate=True)
    except binascii.Error:
        return None
    fields: list[bytes] = []
    while data:
        if len(data) < 4:
            return None
        (size,) = struct.unpack(">I", data[:4])
        if size > len(data) - 4:
            return None
        fields.append(data[4:4 + size])
        data = data[4 + size:]
    if len(fields) < 2:
        return None
    try:
        return fields[0].decode("ascii")
    except UnicodeDecodeError:
        return None


def check_ip_address(where: str, text: str) -> None:
    """Raise OptionError unless ``text`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise OptionError(f"{where} must be an IP address, not '{shown(text)}'.",
                          hint="For example 127.0.0.1 (this machine only), an address of this "
                          "machine on the LAN such as 192.168.1.20, or 0.0.0.0 (every "
                          "interface).") from None


#: named checks of an option's value (of a ``file`` option: of the file's content);
#: each gets a description of where the value came from and the text
FORMATS: dict[str, Callable[[str, str], None]] = {
    "openssh_public_keys": check_openssh_public_keys,
    "ip_address": check_ip_address,
}
