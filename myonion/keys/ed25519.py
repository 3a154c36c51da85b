"""ed25519 as onion services use it: tor's *expanded* secret key → public key, through libsodium.

tor keeps a v3 service's secret key expanded: a 32-byte clamped scalar and a 32-byte nonce
prefix (RFC 8032, section 5.1.5, after hashing the seed). A vanity key (mkp224o) has no seed at
all, only the scalar, so the public key is the scalar times the base point, computed without
clamping again: libsodium's ``crypto_scalarmult_ed25519_base_noclamp`` (constant-time), reached
through PyNaCl. PyNaCl is imported on first use: most commands never derive a key.
"""

from __future__ import annotations

import hashlib

__all__ = ["clamp", "expand_seed", "is_clamped", "public_key", "scalarmult_base"]


def is_clamped(scalar: bytes) -> bool:
    """True if the low 3 bits are clear, bit 255 clear and bit 254 set (RFC 8032 / RFC 7748)."""
    return scalar[0] & 0b111 == 0 and scalar[31] & 0b1100_0000 == 0b0100_0000


def clamp(scalar: bytes) -> bytes:
    """``scalar`` with the low 3 bits and bit 255 cleared and bit 254 set."""
    clamped = bytearray(scalar)
    clamped[0] &= 0b1111_1000
    clamped[31] &= 0b0111_1111
    clamped[31] |= 0b0100_0000
    return bytes(clamped)


def expand_seed(seed: bytes) -> bytes:
    """The 64-byte expanded secret key of an RFC 8032 32-byte seed: SHA-512, first half
    clamped (what tor writes to ``hs_ed25519_secret_key``)."""
    if len(seed) != 32:
        raise ValueError(f"An ed25519 seed has 32 bytes, not {len(seed)}.")
    digest = hashlib.sha512(seed).digest()
    return clamp(digest[:32]) + digest[32:]


def scalarmult_base(scalar: bytes) -> bytes:
    """The encoded point ``scalar`` times the base point, for a 32-byte little-endian scalar
    below 2^255 taken as it is (not clamped). ``ValueError`` if the result is the neutral
    element (a multiple of the group order), which is no public key."""
    from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp
    from nacl.exceptions import RuntimeError as NaclRuntimeError

    if len(scalar) != 32 or scalar[31] & 0x80:
        raise ValueError("An ed25519 scalar has 32 bytes and is below 2^255.")
    try:
        point: bytes = crypto_scalarmult_ed25519_base_noclamp(scalar)
    except NaclRuntimeError:  # libsodium refuses a result of zero (the neutral element)
        raise ValueError("The scalar is a multiple of the group order.") from None
    return point


def public_key(expanded: bytes) -> bytes:
    """The 32-byte public key of a 64-byte expanded secret key (its scalar times the base point)."""
    if len(expanded) != 64:
        raise ValueError(f"An expanded ed25519 secret key has 64 bytes, not {len(expanded)}.")
    return scalarmult_base(expanded[:32])
