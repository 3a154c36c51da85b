"""myonion.onion: the v3 address rules (checksum, version, address of a public key, parsing)."""

from __future__ import annotations

import os
import re

import pytest

from myonion import onion
from myonion.keys import generate_onion_key
from myonion.onion import address_from_public_key, is_valid

# RFC 8032 test 1's public key and its address, as tor's ADD_ONION reports it
RFC1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC1_ADDRESS = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"


def test_address_from_key_is_valid() -> None:
    addr = address_from_public_key(os.urandom(32))
    assert len(addr) == 62 and addr.endswith(".onion")
    assert is_valid(addr)


def test_checksum_and_version_are_checked() -> None:
    addr = address_from_public_key(bytes(range(32)))
    # change one character of the key part: the checksum no longer matches
    flipped = ("b" if addr[0] == "a" else "a") + addr[1:]
    assert not is_valid(flipped)
    assert not is_valid(addr[:-7] + ".com")
    assert not is_valid("short.onion")
    # the known address of the Tor Project's website (v3)
    assert is_valid("2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion")


def test_the_address_of_a_known_public_key() -> None:
    assert address_from_public_key(bytes.fromhex(RFC1_PUBLIC)) == RFC1_ADDRESS


def test_addresses_of_generated_keys() -> None:
    for _ in range(10):
        key = generate_onion_key()
        assert re.fullmatch(r"[a-z2-7]{56}\.onion", key.address)
        assert is_valid(key.address)
        assert address_from_public_key(key.public) == key.address
        assert onion.public_key(key.address) == key.public


@pytest.mark.parametrize(
    "text",
    [
        RFC1_ADDRESS.replace("5sid", "5sie"),  # checksum
        RFC1_ADDRESS[:55] + "c.onion",  # version byte
        RFC1_ADDRESS[:-6],  # no .onion
        RFC1_ADDRESS[1:],
        "example.com",
        "",
    ],
)
def test_bad_addresses_are_refused(text: str) -> None:
    assert not is_valid(text)


def test_is_valid_takes_anything() -> None:
    assert is_valid(RFC1_ADDRESS.upper())
    assert is_valid(f"  {RFC1_ADDRESS}\n")
    assert not is_valid(None)
    assert not is_valid(42)
    assert not is_valid([RFC1_ADDRESS])


def test_address_from_public_key_needs_32_bytes() -> None:
    with pytest.raises(ValueError):
        address_from_public_key(bytes(31))


def test_parsing_and_normal_forms() -> None:
    public = bytes.fromhex(RFC1_PUBLIC)
    label = RFC1_ADDRESS.removesuffix(".onion")
    for text in (RFC1_ADDRESS, label, " " + label.upper() + ".ONION "):
        assert onion.public_key(text) == public
        assert onion.normalise(text) == RFC1_ADDRESS
        assert onion.label(text) == label
    # without .onion it parses, but is no whole address
    assert not is_valid(label)
    for bad in (RFC1_ADDRESS.replace("5sid", "5sie"), "nonsense", None, 7):
        assert onion.public_key(bad) is None
        assert onion.normalise(bad) is None
