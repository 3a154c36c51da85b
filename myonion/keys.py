"""Key material of onion services: v3 service keys and v3 client authorization keys.

Pure functions and small value types, no Docker, no tor, no stem:

- :class:`OnionKey` is tor's *expanded* ed25519 secret key of a v3 onion service (what tor keeps
  in ``HiddenServiceDir/hs_ed25519_secret_key``), with its public key and ``.onion`` address.
  The public key is derived by ed25519 base-point multiplication of the clamped scalar, done here
  in pure Python because an expanded key (e.g. a vanity key from mkp224o) has no seed that
  ``cryptography`` could take.
- :func:`export_key` / :func:`import_key` protect a service key with a passphrase (scrypt and
  AES-256-GCM, in a small JSON document; see ``docs/key-export.md``).
- :class:`ClientKey` is an x25519 key pair of v3 client authorization, with the lines tor reads
  from ``authorized_clients/<name>.auth`` (service side) and ``<name>.auth_private`` (client side).

No message of any error here contains key bytes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from myonion.errors import MyOnionError, OptionError

__all__ = [
    "CLIENT_NAME_RE",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "MIN_PASSPHRASE_LENGTH",
    "PUBLIC_HEADER",
    "SECRET_HEADER",
    "ClientKey",
    "KeyFileError",
    "OnionKey",
    "check_client_name",
    "check_passphrase",
    "client_key_from_private",
    "client_key_from_public",
    "export_key",
    "generate_client_key",
    "generate_onion_key",
    "import_key",
    "is_export",
    "is_onion_address",
    "onion_address",
    "onion_key_from_seed",
    "parse_secret_key_file",
    "read_key_file",
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

EXPORT_FORMAT = "myonion-onion-key"
EXPORT_VERSION = 1
EXPORT_CIPHER = "AES-256-GCM"
#: scrypt cost of new exports: 32 MiB of memory and a fraction of a second
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
#: the most an exported file may ask for (a crafted file must not exhaust the machine)
SCRYPT_MAX_N, SCRYPT_MAX_R, SCRYPT_MAX_P = 2**20, 32, 16
MIN_PASSPHRASE_LENGTH = 8

CLIENT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_BASE32_KEY_RE = re.compile(r"^[A-Z2-7]{52}$")
_ONION_RE = re.compile(r"^[a-z2-7]{56}$")

_SERVICE_KEY_HINT = KeyFileError.hint
_DAMAGED_HINT = (
    "The file may be damaged or truncated: copy it again, byte for byte, from where it was made."
)


# ---------------------------------------------------------------------------------------------
# ed25519 arithmetic (RFC 8032, section 5.1), just enough to derive a public key from a scalar.
# Points in extended twisted-Edwards coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z.
# Not constant-time: it runs only when a key is generated, imported or exported.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

_Point = tuple[int, int, int, int]


def _recover_x(y: int, sign: int) -> int:
    """The x coordinate of the curve point with ``y`` whose low bit is ``sign``."""
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        raise ValueError("not a point on the curve")
    if x & 1 != sign:
        x = _P - x
    return x


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)
_BASE: _Point = (_BX, _BY, 1, _BX * _BY % _P)
_IDENTITY: _Point = (0, 1, 1, 0)


def _point_add(p: _Point, q: _Point) -> _Point:
    """p + q (the complete addition law for a = -1; also right for p == q)."""
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


@functools.cache
def _base_powers() -> tuple[_Point, ...]:
    """B, 2B, 4B, ... 2^255 B."""
    powers = [_BASE]
    for _ in range(255):
        powers.append(_point_add(powers[-1], powers[-1]))
    return tuple(powers)


def _scalarmult_base(scalar: int) -> _Point:
    """scalar * B."""
    result = _IDENTITY
    for i, power in enumerate(_base_powers()):
        if scalar >> i & 1:
            result = _point_add(result, power)
    return result


def _encode_point(point: _Point) -> bytes:
    """RFC 8032 encoding: y little-endian, the low bit of x in the top bit."""
    zinv = pow(point[2], _P - 2, _P)
    x = point[0] * zinv % _P
    y = point[1] * zinv % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _is_clamped(scalar: bytes) -> bool:
    """True if the low 3 bits are clear, bit 255 clear and bit 254 set (RFC 8032 / RFC 7748)."""
    return scalar[0] & 0b111 == 0 and scalar[31] & 0b1100_0000 == 0b0100_0000


def _clamp(scalar: bytes) -> bytes:
    clamped = bytearray(scalar)
    clamped[0] &= 0b1111_1000
    clamped[31] &= 0b0111_1111
    clamped[31] |= 0b0100_0000
    return bytes(clamped)


# ---------------------------------------------------------------------------------------------
# onion addresses (rend-spec-v3, section 6 "Encoding onion addresses")

_ONION_VERSION = b"\x03"


def _checksum(public: bytes) -> bytes:
    return hashlib.sha3_256(b".onion checksum" + public + _ONION_VERSION).digest()[:2]


def onion_address(public: bytes) -> str:
    """The v3 ``.onion`` address (56 characters + ``.onion``) of a 32-byte ed25519 public key."""
    if len(public) != 32:
        raise ValueError(f"An ed25519 public key has 32 bytes, not {len(public)}.")
    raw = public + _checksum(public) + _ONION_VERSION
    return base64.b32encode(raw).decode("ascii").lower() + ".onion"


def _onion_public_key(text: str) -> bytes | None:
    """The public key in a v3 address (with or without ``.onion``), or None if it is not one."""
    label = text.strip().lower().removesuffix(".onion")
    if not _ONION_RE.fullmatch(label):
        return None
    raw = base64.b32decode(label.upper())
    public, checksum, version = raw[:32], raw[32:34], raw[34:]
    if version != _ONION_VERSION or checksum != _checksum(public):
        return None
    return public


def is_onion_address(text: object) -> bool:
    """True if ``text`` is a v3 onion address (``.onion`` suffix required) with a valid checksum.

    The same rule as :func:`myonion.tor.is_valid_onion`, without importing stem.
    """
    if not isinstance(text, str) or not text.strip().lower().endswith(".onion"):
        return False
    return _onion_public_key(text) is not None


# ---------------------------------------------------------------------------------------------
# service keys


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
                hint=_SERVICE_KEY_HINT,
            )
        if not _is_clamped(self.secret[:32]):
            raise KeyFileError(
                "The onion service secret key is not a valid ed25519 key: "
                "its scalar is not clamped as tor's keys always are.",
                hint=_DAMAGED_HINT,
            )

    @functools.cached_property
    def public(self) -> bytes:
        """The 32-byte ed25519 public key (scalar times the base point)."""
        return _encode_point(_scalarmult_base(int.from_bytes(self.secret[:32], "little")))

    @property
    def address(self) -> str:
        """The service's ``<56 characters>.onion`` address."""
        return onion_address(self.public)

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
    if len(seed) != 32:
        raise ValueError(f"An ed25519 seed has 32 bytes, not {len(seed)}.")
    digest = hashlib.sha512(seed).digest()
    return OnionKey(_clamp(digest[:32]) + digest[32:])


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
            hint=_SERVICE_KEY_HINT,
        )
    if len(data) != SECRET_FILE_LENGTH:
        raise KeyFileError(
            f"The onion service secret key file is {len(data)} bytes long, "
            f"but tor's hs_ed25519_secret_key is exactly {SECRET_FILE_LENGTH} bytes.",
            hint=_DAMAGED_HINT,
        )
    return OnionKey(data[len(SECRET_HEADER) :])


def _parse_control_port_key(text: str) -> OnionKey:
    blob = text.strip().split(":", 1)[1]
    try:
        secret = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != 64:
        raise KeyFileError(
            "The ED25519-V3 key is not the base64 encoding of a 64-byte expanded key.",
            hint=_DAMAGED_HINT,
        )
    return OnionKey(secret)


# ---------------------------------------------------------------------------------------------
# encrypted export


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
    return KeyFileError(f"The exported key file is damaged: {what}.", hint=_DAMAGED_HINT)


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
    if not is_onion_address(address) or address != address.lower():
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
            hint=_DAMAGED_HINT,
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
        return _parse_control_port_key(stripped.decode("ascii", errors="replace"))
    return parse_secret_key_file(data)


# ---------------------------------------------------------------------------------------------
# client authorization


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
        if _onion_public_key(address) is None:
            raise OptionError(
                f"{address!r} is not a v3 onion address.",
                hint="Give the service's address: 56 characters, optionally followed by .onion.",
            )
        label = address.strip().lower().removesuffix(".onion")
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
    private = _clamp(os.urandom(32))
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
