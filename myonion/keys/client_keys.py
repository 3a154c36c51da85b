"""v3 client authorization: x25519 key pairs named after their clients.

:class:`ClientKey` holds a client's key pair (or only its public half), with the lines tor reads
from ``authorized_clients/<name>.auth`` (service side) and ``<name>.auth_private`` (client
side). No message of any error here contains key bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

from myonion import onion
from myonion.errors import OptionError
from myonion.keys.ed25519 import clamp
from myonion.keys.onion_key import KeyFileError

__all__ = [
    "CLIENT_NAME_RE",
    "ClientKey",
    "check_client_name",
    "client_key_from_private",
    "client_key_from_public",
    "generate_client_key",
]

CLIENT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_BASE32_KEY_RE = re.compile(r"^[A-Z2-7]{52}$")


def check_client_name(name: str) -> str:
    """Return ``name`` if it is a valid client name, else raise OptionError."""
    if not isinstance(name, str) or not CLIENT_NAME_RE.fullmatch(name):
        raise OptionError(
            f"{name!r} is not a valid client name.",
            hint="Use 1-32 lower-case letters, digits, '-' and '_', starting with a letter "
            "or digit.",
        )
    return name


def _b32(key: bytes) -> str:
    return base64.b32encode(key).decode("ascii").rstrip("=")


def _x25519_public(private: bytes) -> bytes:
    # imported here: most commands never need cryptography, and importing it is slow
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def _decode_b32_key(text: str) -> bytes | None:
    text = text.strip().upper().rstrip("=")
    if not _BASE32_KEY_RE.fullmatch(text):
        return None
    try:
        return base64.b32decode(text + "====")
    except binascii.Error:
        return None


@dataclass(frozen=True, repr=False)
class ClientKey:
    """An x25519 key pair of v3 client authorization, named after the client."""

    name: str
    #: 32 bytes, or None when only the public half is known (the client kept the private one)
    private: bytes | None
    public: bytes

    def __post_init__(self) -> None:
        check_client_name(self.name)
        if not isinstance(self.public, bytes) or len(self.public) != 32:
            raise KeyFileError(
                "A client authorization public key must have 32 bytes.",
                hint="Give the key as 52 base32 characters, e.g. descriptor:x25519:ABC…",
            )
        if self.private is not None and (
            not isinstance(self.private, bytes)
            or len(self.private) != 32
            or _x25519_public(self.private) != self.public
        ):
            raise KeyFileError(
                f"The private and public keys of client '{self.name}' do not belong together.",
                hint="Give both halves of the same key pair, or only the public key.",
            )

    def auth_line(self) -> str:
        """``descriptor:x25519:<base32>``, the content of ``authorized_clients/<name>.auth``."""
        return f"descriptor:x25519:{_b32(self.public)}"

    def _require_private(self) -> bytes:
        if self.private is None:
            raise KeyFileError(
                f"Only the public key of client '{self.name}' is known here, so there is no "
                "private key to give.",
                hint="The client has its private key; or remove this client and add it again "
                "to make a new key pair.",
            )
        return self.private

    def private_b32(self) -> str:
        """The private key as 52 base32 characters: what Tor Browser asks for."""
        return _b32(self._require_private())

    def auth_private_line(self, address: str) -> str:
        """``<address without .onion>:descriptor:x25519:<base32 private>``.

        The content of a client's ``ClientOnionAuthDir/<name>.auth_private`` for the service at
        ``address`` (with or without ``.onion``).
        """
        if onion.public_key(address) is None:
            raise OptionError(
                f"{address!r} is not a v3 onion address.",
                hint="Give the service's address: 56 characters, optionally followed by .onion.",
            )
        label = onion.label(address)
        return f"{label}:descriptor:x25519:{self.private_b32()}"

    def control_port_key(self) -> str:
        """``x25519:<base64 private>``, as ONION_CLIENT_AUTH_ADD takes the key."""
        return "x25519:" + base64.b64encode(self._require_private()).decode("ascii")

    def __repr__(self) -> str:
        private = "None" if self.private is None else "<hidden>"
        return f"ClientKey(name={self.name!r}, public={_b32(self.public)!r}, private={private})"


def generate_client_key(name: str) -> ClientKey:
    """A new x25519 key pair for client ``name`` (clamped, as tor makes its own)."""
    check_client_name(name)
    private = clamp(os.urandom(32))
    return ClientKey(name=name, private=private, public=_x25519_public(private))


def client_key_from_public(name: str, text: str) -> ClientKey:
    """A client known by its public key only: ``descriptor:x25519:<BASE32>`` or bare BASE32.

    For a user who made the key pair themselves and keeps the private half.
    """
    check_client_name(name)
    value = text.strip() if isinstance(text, str) else ""
    if value.lower().startswith("descriptor:x25519:"):
        value = value[len("descriptor:x25519:") :]
    public = _decode_b32_key(value)
    if public is None:
        raise KeyFileError(
            f"The public key of client '{name}' is not an x25519 key in base32.",
            hint="Give it as descriptor:x25519:<52 base32 characters> (the content of a .auth "
            "file), or just the 52 characters.",
        )
    if public == bytes(32):
        raise KeyFileError(
            f"The public key of client '{name}' is all zeros, which is not a usable key.",
            hint="Make a new key pair and give its public half.",
        )
    return ClientKey(name=name, private=None, public=public)


def client_key_from_private(name: str, text: str) -> ClientKey:
    """A client key pair from its private key.

    Accepts a whole ``.auth_private`` line (``<address>:descriptor:x25519:<BASE32>``),
    ``descriptor:x25519:<BASE32>`` or the bare 52 base32 characters.
    """
    check_client_name(name)
    value = text.strip() if isinstance(text, str) else ""
    parts = value.split(":")
    if len(parts) in (3, 4) and [part.lower() for part in parts[-3:-1]] == [
        "descriptor",
        "x25519",
    ]:
        value = parts[-1]
    private = _decode_b32_key(value)
    if private is None:
        raise KeyFileError(
            f"The private key of client '{name}' is not an x25519 key in base32.",
            hint="Give the content of the client's .auth_private file, or the 52 base32 "
            "characters of its private key.",
        )
    return ClientKey(name=name, private=private, public=_x25519_public(private))
