from __future__ import annotations

import os

from myonion.tor import is_valid_onion, onion_from_public_key


def test_address_from_key_is_valid() -> None:
    addr = onion_from_public_key(os.urandom(32))
    assert len(addr) == 62 and addr.endswith(".onion")
    assert is_valid_onion(addr)


def test_checksum_and_version_are_checked() -> None:
    addr = onion_from_public_key(bytes(range(32)))
    # change one character of the key part: the checksum no longer matches
    flipped = ("b" if addr[0] == "a" else "a") + addr[1:]
    assert not is_valid_onion(flipped)
    assert not is_valid_onion(addr[:-7] + ".com")
    assert not is_valid_onion("short.onion")
    # the known address of the Tor Project's website (v3)
    assert is_valid_onion("2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion")
