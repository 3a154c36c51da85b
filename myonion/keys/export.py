"""A service key protected by a passphrase, and every key file a user may bring.

:func:`export_key` / :func:`import_key` protect a service key with a passphrase (scrypt and
AES-256-GCM, in a small JSON document; see ``docs/key-export.md``); :func:`read_key_file` takes
such a document, tor's ``hs_ed25519_secret_key`` or an ``ED25519-V3:`` key.
No message of any error here contains key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import unicodedata
from typing import Any

from myonion import onion
from myonion.errors import OptionError
from myonion.keys.onion_key import (
    DAMAGED_HINT,
    KeyFileError,
    OnionKey,
    parse_control_port_key,
    parse_secret_key_file,
)

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "MIN_PASSPHRASE_LENGTH",
    "check_passphrase",
    "export_key",
    "import_key",
    "is_export",
    "read_key_file",
]

EXPORT_FORMAT = "myonion-onion-key"
EXPORT_VERSION = 1
EXPORT_CIPHER = "AES-256-GCM"
#: scrypt cost of new exports: 32 MiB of memory and a fraction of a second
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
#: the most an exported file may ask for (a crafted file must not exhaust the machine)
SCRYPT_MAX_N, SCRYPT_MAX_R, SCRYPT_MAX_P = 2**20, 32, 16
MIN_PASSPHRASE_LENGTH = 8


def _passphrase_bytes(passphrase: str) -> bytes:
    # NFC, so that the same passphrase typed on systems that compose differently matches
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def check_passphrase(passphrase: str) -> None:
    """OptionError unless ``passphrase`` may protect an export (non-empty, long enough)."""
    if not isinstance(passphrase, str) or not passphrase:
        raise OptionError(
            "An exported key needs a passphrase; an empty one would not protect it.",
            hint=f"Choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters.",
        )
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise OptionError(
            f"The passphrase is too short to protect the key: it has {len(passphrase)} "
            f"characters, at least {MIN_PASSPHRASE_LENGTH} are needed.",
            hint=f"Choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters; "
            "several unrelated words are easy to remember and hard to guess.",
        )


def _kdf(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    memory = 128 * r * (n + p + 2)  # what scrypt needs, plus a margin below
    return hashlib.scrypt(
        _passphrase_bytes(passphrase), salt=salt, n=n, r=r, p=p, maxmem=memory + 2**20, dklen=32
    )


def _associated_data(address: str) -> bytes:
    """What the cipher authenticates besides the key: format, version and address."""
    header = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "address": address}
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def export_key(key: OnionKey, passphrase: str, service: str = "") -> bytes:
    """The service key encrypted with ``passphrase``, as a small UTF-8 JSON document.

    scrypt (n=2^15, r=8, p=1, random 16-byte salt) makes a 256-bit key from the passphrase;
    AES-256-GCM encrypts the 64-byte expanded key and authenticates it together with the format,
    version and address. ``service`` is a suggested name for import (not authenticated).
    Raises :class:`~myonion.errors.OptionError` for an empty or short passphrase.
    """
    check_passphrase(passphrase)
    salt = os.urandom(16)
    nonce = os.urandom(12)
    address = key.address
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    cipher_key = _kdf(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ciphertext = AESGCM(cipher_key).encrypt(nonce, key.secret, _associated_data(address))
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "service": service,
        "address": address,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
        "cipher": EXPORT_CIPHER,
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _damaged(what: str) -> KeyFileError:
    return KeyFileError(f"The exported key file is damaged: {what}.", hint=DAMAGED_HINT)


def _field(document: dict[str, Any], name: str, kind: type) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _damaged(f"its field '{name}' is missing or not a {kind.__name__}")
    return value


def _b64_field(document: dict[str, Any], name: str, length: int | None = None) -> bytes:
    try:
        value = base64.b64decode(_field(document, name, str), validate=True)
    except (binascii.Error, ValueError):
        raise _damaged(f"its field '{name}' is not valid base64") from None
    if length is not None and len(value) != length:
        raise _damaged(f"its field '{name}' does not have {length} bytes")
    return value


def _load_export(data: bytes) -> dict[str, Any]:
    """The JSON document of an export, with its format and version checked."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        document = None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise KeyFileError(
            "The file is not a key exported by myonion.",
            hint="Give a file made by `myonion keys export`, or the hs_ed25519_secret_key "
            "file from a HiddenServiceDir.",
        )
    version = document.get("version")
    if type(version) is not int or version != EXPORT_VERSION:
        raise KeyFileError(
            f"The exported key file has version {version!r}, but this myonion reads only "
            f"version {EXPORT_VERSION}.",
            hint="Import it with the version of myonion that exported it, or a newer one.",
        )
    return document


def import_key(data: bytes, passphrase: str) -> OnionKey:
    """The service key in a document made by :func:`export_key`.

    Raises :class:`KeyFileError` if the file is not such a document, is damaged or was edited,
    or if the passphrase is wrong.
    """
    document = _load_export(data)
    address = _field(document, "address", str)
    if not onion.is_valid(address) or address != address.lower():
        raise _damaged("its address is not a valid v3 onion address")
    kdf = _field(document, "kdf", dict)
    if kdf.get("name") != "scrypt":
        raise _damaged("its key derivation is not scrypt")
    n, r, p = (_field(kdf, name, int) for name in ("n", "r", "p"))
    if not (
        2 <= n <= SCRYPT_MAX_N
        and n & (n - 1) == 0
        and 1 <= r <= SCRYPT_MAX_R
        and 1 <= p <= SCRYPT_MAX_P
    ):
        raise _damaged("its scrypt parameters are out of range")
    salt = _b64_field(kdf, "salt")
    if document.get("cipher") != EXPORT_CIPHER:
        raise _damaged(f"its cipher is not {EXPORT_CIPHER}")
    nonce = _b64_field(document, "nonce", 12)
    ciphertext = _b64_field(document, "ciphertext", 64 + 16)
    if not isinstance(passphrase, str) or not passphrase:
        raise KeyFileError(
            "The exported key file is encrypted, and no passphrase was given.",
            hint="Give the passphrase that was chosen when the key was exported.",
        )
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    cipher_key = _kdf(passphrase, salt, n, r, p)
    try:
        secret = AESGCM(cipher_key).decrypt(nonce, ciphertext, _associated_data(address))
    except InvalidTag:
        raise KeyFileError(
            "The passphrase is wrong, or the exported key file was changed after the export.",
            hint="Give the passphrase that was chosen when the key was exported; if it is "
            "right, the file was damaged or edited, so use another copy.",
        ) from None
    key = OnionKey(secret)
    if key.address != address:  # only possible if the exporter was wrong: the address is sealed
        raise KeyFileError(
            "The key in the exported file does not belong to the address the file states.",
            hint=DAMAGED_HINT,
        )
    return key


def is_export(data: bytes) -> bool:
    """True if ``data`` looks like a file made by :func:`export_key` (it then needs a passphrase).

    Only the shape is checked (a JSON object); :func:`read_key_file` says what is wrong with it.
    """
    return data.lstrip()[:1] == b"{"


def read_key_file(data: bytes, passphrase: str | None) -> OnionKey:
    """A service key from any file a user may bring.

    Accepts a file made by :func:`export_key` (needs ``passphrase``), tor's
    ``hs_ed25519_secret_key`` (e.g. a vanity key from mkp224o), or an ``ED25519-V3:<base64>``
    key as ADD_ONION returns it.
    """
    if data.startswith(b"== ed25519v1-"):
        return parse_secret_key_file(data)
    stripped = data.strip()
    if is_export(data):
        if passphrase is None:
            _load_export(data)  # a clear error if it is not ours at all
            raise KeyFileError(
                "The key file is encrypted with a passphrase, and none was given.",
                hint="Give the passphrase that was chosen when the key was exported.",
            )
        return import_key(data, passphrase)
    if stripped[:11].upper() == b"ED25519-V3:":
        return parse_control_port_key(stripped.decode("ascii", errors="replace"))
    return parse_secret_key_file(data)
