"""The secret key of a v3 onion service, and tor's files of it.

:class:`OnionKey` is tor's *expanded* ed25519 secret key (what tor keeps in
``HiddenServiceDir/hs_ed25519_secret_key``), with its public key and ``.onion`` address.
No message of any error here contains key bytes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from dataclasses import dataclass

from myonion import onion
from myonion.errors import MyOnionError
from myonion.keys import ed25519

__all__ = [
    "PUBLIC_HEADER",
    "SECRET_FILE_LENGTH",
    "SECRET_HEADER",
    "KeyFileError",
    "OnionKey",
    "generate_onion_key",
    "onion_key_from_seed",
    "parse_control_port_key",
    "parse_secret_key_file",
]


class KeyFileError(MyOnionError):
    """A key, key file or exported key is unusable (wrong format, damaged, wrong passphrase)."""

    hint = (
        "Give the hs_ed25519_secret_key file from a HiddenServiceDir, "
        "or a file made by `myonion keys export`."
    )


#: tor's 32-byte header of ``hs_ed25519_secret_key`` (followed by the 64-byte expanded key)
SECRET_HEADER = b"== ed25519v1-secret: type0 ==\x00\x00\x00"
#: tor's 32-byte header of ``hs_ed25519_public_key`` (followed by the 32-byte public key)
PUBLIC_HEADER = b"== ed25519v1-public: type0 ==\x00\x00\x00"
assert len(SECRET_HEADER) == len(PUBLIC_HEADER) == 32

SECRET_FILE_LENGTH = len(SECRET_HEADER) + 64

SERVICE_KEY_HINT = KeyFileError.hint
DAMAGED_HINT = (
    "The file may be damaged or truncated: copy it again, byte for byte, from where it was made."
)


@dataclass(frozen=True, repr=False)
class OnionKey:
    """The secret key of a v3 onion service: tor's 64-byte expanded ed25519 secret key.

    ``secret`` is the clamped scalar (32 bytes, little-endian) followed by the 32-byte prefix
    used for signing nonces, exactly the payload of tor's ``hs_ed25519_secret_key``.
    """

    secret: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != 64:
            raise KeyFileError(
                "An onion service secret key must be tor's 64-byte expanded ed25519 key.",
                hint=SERVICE_KEY_HINT,
            )
        if not ed25519.is_clamped(self.secret[:32]):
            raise KeyFileError(
                "The onion service secret key is not a valid ed25519 key: "
                "its scalar is not clamped as tor's keys always are.",
                hint=DAMAGED_HINT,
            )

    @functools.cached_property
    def public(self) -> bytes:
        """The 32-byte ed25519 public key (scalar times the base point)."""
        return ed25519.public_key(self.secret)

    @property
    def address(self) -> str:
        """The service's ``<56 characters>.onion`` address."""
        return onion.address_from_public_key(self.public)

    def secret_file(self) -> bytes:
        """The 96 bytes tor writes as ``HiddenServiceDir/hs_ed25519_secret_key``."""
        return SECRET_HEADER + self.secret

    def public_file(self) -> bytes:
        """The 64 bytes tor writes as ``HiddenServiceDir/hs_ed25519_public_key``."""
        return PUBLIC_HEADER + self.public

    def control_port_key(self) -> str:
        """``ED25519-V3:<base64>``, the key as ADD_ONION takes it (and OnionShare stores it)."""
        return "ED25519-V3:" + base64.b64encode(self.secret).decode("ascii")

    def __repr__(self) -> str:
        return f"OnionKey(address={self.address!r})"


def onion_key_from_seed(seed: bytes) -> OnionKey:
    """The expanded key of an RFC 8032 32-byte seed: SHA-512, then the first half clamped."""
    return OnionKey(ed25519.expand_seed(seed))


def generate_onion_key() -> OnionKey:
    """A new random service key (from 32 random bytes, as tor makes its own)."""
    return onion_key_from_seed(os.urandom(32))


def parse_secret_key_file(data: bytes) -> OnionKey:
    """The key in tor's ``hs_ed25519_secret_key`` file (96 bytes: header + expanded key).

    Vanity keys from mkp224o have the same format. Raises :class:`KeyFileError` saying whether
    the header, the length or the key itself is wrong.
    """
    header = data[: len(SECRET_HEADER)]
    if header != SECRET_HEADER:
        if header == PUBLIC_HEADER:
            raise KeyFileError(
                "The file is the onion service's public key (hs_ed25519_public_key), "
                "not its secret key.",
                hint="Give the hs_ed25519_secret_key file from the same HiddenServiceDir.",
            )
        if data.lstrip().startswith(b"-----BEGIN RSA PRIVATE KEY"):
            raise KeyFileError(
                "The file is the key of a version 2 onion service, which tor no longer supports.",
                hint="Only version 3 keys (hs_ed25519_secret_key) can be used.",
            )
        raise KeyFileError(
            "The file is not an onion service secret key: "
            "it does not start with tor's ed25519v1-secret header.",
            hint=SERVICE_KEY_HINT,
        )
    if len(data) != SECRET_FILE_LENGTH:
        raise KeyFileError(
            f"The onion service secret key file is {len(data)} bytes long, "
            f"but tor's hs_ed25519_secret_key is exactly {SECRET_FILE_LENGTH} bytes.",
            hint=DAMAGED_HINT,
        )
    return OnionKey(data[len(SECRET_HEADER) :])


def parse_control_port_key(text: str) -> OnionKey:
    """The key in ``ED25519-V3:<base64>`` (as ADD_ONION returns it)."""
    blob = text.strip().split(":", 1)[1]
    try:
        secret = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != 64:
        raise KeyFileError(
            "The ED25519-V3 key is not the base64 encoding of a 64-byte expanded key.",
            hint=DAMAGED_HINT,
        )
    return OnionKey(secret)
