"""v3 onion addresses (rend-spec-v3, section 6 "Encoding onion addresses"), in one place.

An address is ``base32(PUBKEY | CHECKSUM | VERSION)`` in lower case followed by ``.onion``:
56 characters of which the 32-byte ed25519 public key, a 2-byte checksum
``SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2]`` and the version byte 3.

Everyone who checks, parses or makes an address imports this module (as stem keeps its
``is_valid_*`` checks in one ``tor_tools`` module); it imports nothing of myonion and no
third-party package, so the CLI, the GUI and the keys use it without loading stem.

- :func:`is_valid` — a whole address (``.onion`` required), any case, surrounding blanks
  ignored; takes any object (a value from a YAML file may be anything).
- :func:`public_key` — the public key in an address, with or without ``.onion``.
- :func:`normalise` / :func:`label` — the canonical lower-case forms.
- :func:`address_from_public_key` — the address of a 32-byte public key.
"""

from __future__ import annotations

import base64
import hashlib
import re

__all__ = [
    "LABEL_LENGTH",
    "SUFFIX",
    "VERSION",
    "address_from_public_key",
    "checksum",
    "is_valid",
    "label",
    "normalise",
    "public_key",
]

#: the version byte of v3 addresses
VERSION = b"\x03"
#: characters of an address before ``.onion``
LABEL_LENGTH = 56
SUFFIX = ".onion"
_LABEL_RE = re.compile(rf"[a-z2-7]{{{LABEL_LENGTH}}}")


def checksum(public: bytes) -> bytes:
    """The 2-byte checksum of an address over ``public`` (and the version)."""
    return hashlib.sha3_256(b".onion checksum" + public + VERSION).digest()[:2]


def address_from_public_key(public: bytes) -> str:
    """The v3 ``.onion`` address (56 characters + ``.onion``) of a 32-byte ed25519 public key;
    ``ValueError`` for another length."""
    if len(public) != 32:
        raise ValueError(f"An ed25519 public key has 32 bytes, not {len(public)}.")
    raw = public + checksum(public) + VERSION
    return base64.b32encode(raw).decode("ascii").lower() + SUFFIX


def label(text: str) -> str:
    """``text`` stripped, lower-cased and without ``.onion`` (not checked: see
    :func:`public_key`)."""
    return text.strip().lower().removesuffix(SUFFIX)


def public_key(text: object) -> bytes | None:
    """The public key in a v3 address given with or without ``.onion`` (any case, blanks
    around it ignored); None unless ``text`` is one, with the right version and checksum."""
    if not isinstance(text, str):
        return None
    bare = label(text)
    if not _LABEL_RE.fullmatch(bare):
        return None
    raw = base64.b32decode(bare.upper())
    public, check, version = raw[:32], raw[32:34], raw[34:]
    if version != VERSION or check != checksum(public):
        return None
    return public


def is_valid(text: object) -> bool:
    """True if ``text`` is a v3 onion address with ``.onion`` (in any case, blanks around it
    ignored), a correct checksum and version. Anything else (not text) is not one."""
    if not isinstance(text, str) or not text.strip().lower().endswith(SUFFIX):
        return False
    return public_key(text) is not None


def normalise(text: object) -> str | None:
    """The canonical form of an address (lower case, ``.onion``, no blanks) given with or
    without ``.onion``; None if ``text`` is no v3 address."""
    if public_key(text) is None:
        return None
    assert isinstance(text, str)
    return label(text) + SUFFIX
