"""myonion.keys: ed25519 derivation, key files, encrypted export, client authorization.

The address rules themselves are tested in test_onion.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import unicodedata
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from myonion.errors import MyOnionError, OptionError
from myonion.keys import (
    PUBLIC_HEADER,
    SECRET_HEADER,
    ClientKey,
    KeyFileError,
    OnionKey,
    check_client_name,
    client_key_from_private,
    client_key_from_public,
    ed25519,
    export_key,
    generate_client_key,
    generate_onion_key,
    import_key,
    is_export,
    onion_key_from_seed,
    parse_secret_key_file,
    read_key_file,
)
from myonion.onion import address_from_public_key, is_valid

PASSPHRASE = "correct horse battery"

# RFC 8032, section 7.1: (seed, public key)
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    ),
    (
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    ),
]
# The address of RFC 8032 test 1's public key, as tor's ADD_ONION reports it for the expanded
# key below (both published independently of this code).
RFC1_ADDRESS = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"
RFC1_EXPANDED_B64 = (
    "MHyDhk8oM8tCei7xwAoBPP3/J2jZgMCjpSDwBpBN6U+bTwr+KAt0aneGhOdUQlAgV7dHOgPwj5b1o46Sh+Afjw=="
)
BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
BASE_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960
# RFC 8032, section 5.1: the field prime, the curve constant d and the order of the base point
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
L = 2**252 + 27742317777372353535851937790883648493


def encode_point(x: int, y: int) -> bytes:
    """RFC 8032 encoding: y little-endian, the low bit of x in the top bit."""
    return (y | (x & 1) << 255).to_bytes(32, "little")


def times_base(scalar: int) -> bytes:
    """scalar times the base point, encoded (through myonion.keys.ed25519)."""
    return ed25519.scalarmult_base(scalar.to_bytes(32, "little"))


@pytest.fixture(scope="module")
def key() -> OnionKey:
    return generate_onion_key()


@pytest.fixture(scope="module")
def exported(key: OnionKey) -> bytes:
    return export_key(key, PASSPHRASE, service="blog")


def secret_forms(secret: bytes) -> list[str]:
    """Ways a key could leak into text."""
    forms = [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode()]
    forms.append(base64.b32encode(secret).decode().rstrip("="))
    forms.append(repr(secret))
    for half in (secret[:32], secret[32:]):
        if half:
            forms += [half.hex(), base64.b64encode(half).decode()[:40]]
            forms.append(base64.b32encode(half).decode()[:48])
    return [form for form in forms if form]


def assert_no_secret(text: str, secret: bytes) -> None:
    for form in secret_forms(secret):
        assert form not in text
        assert form.lower() not in text.lower()


def sign(key: OnionKey, message: bytes) -> bytes:
    """An RFC 8032 signature made from the expanded key alone (as tor signs)."""
    scalar = int.from_bytes(key.secret[:32], "little")
    r = int.from_bytes(hashlib.sha512(key.secret[32:] + message).digest(), "little") % L
    big_r = times_base(r)
    k = int.from_bytes(hashlib.sha512(big_r + key.public + message).digest(), "little")
    s = (r + k % L * scalar) % L
    return big_r + s.to_bytes(32, "little")


# --- ed25519 ---------------------------------------------------------------------------------


def test_the_base_point_is_the_one_of_rfc8032() -> None:
    x, y = BASE_X, BASE_Y
    assert (-x * x + y * y - 1 - D * x * x * y * y) % P == 0  # on the curve
    assert times_base(1) == encode_point(BASE_X, BASE_Y)
    # L is the order of the base point: L times it is the neutral element (x=0, y=1), which
    # libsodium refuses as a public key; L + 1 times it is the base point again
    assert encode_point(0, 1) == (1).to_bytes(32, "little")
    with pytest.raises(ValueError, match="multiple of the group order"):
        times_base(L)
    assert times_base(L + 1) == encode_point(BASE_X, BASE_Y)
    assert times_base(2 * L + 5) == times_base(5)


def test_scalars_are_taken_as_they_are() -> None:
    # noclamp: an unclamped scalar is multiplied as it is, not clamped first
    three = (3).to_bytes(32, "little")
    assert times_base(3) != ed25519.scalarmult_base(ed25519.clamp(three))
    assert ed25519.clamp(three) == (2**254).to_bytes(32, "little")
    with pytest.raises(ValueError):
        ed25519.scalarmult_base(bytes(31))
    with pytest.raises(ValueError):
        ed25519.scalarmult_base(bytes(31) + b"\x80")  # 2^255 and over: not a scalar here
    with pytest.raises(ValueError):
        ed25519.public_key(bytes(63))


@pytest.mark.parametrize(("seed", "public"), RFC8032)
def test_rfc8032_vectors(seed: str, public: str) -> None:
    key = onion_key_from_seed(bytes.fromhex(seed))
    assert key.public.hex() == public
    assert key.address == address_from_public_key(bytes.fromhex(public))


def test_the_expanded_key_is_the_one_tor_accepts() -> None:
    key = onion_key_from_seed(bytes.fromhex(RFC8032[0][0]))
    assert key.secret == base64.b64decode(RFC1_EXPANDED_B64)
    assert key.address == RFC1_ADDRESS
    assert key.control_port_key() == "ED25519-V3:" + RFC1_EXPANDED_B64


#: keys tor made in its own HiddenServiceDirs (see tests/data/README.md)
TOR_KEYS = sorted((Path(__file__).parent.parent / "data" / "tor-keys").glob("key*"))


def test_there_are_keys_made_by_tor() -> None:
    assert len(TOR_KEYS) >= 5


@pytest.mark.parametrize("folder", TOR_KEYS, ids=lambda p: p.name)
def test_the_address_is_the_one_tor_derived(folder: Path) -> None:
    key = parse_secret_key_file((folder / "hs_ed25519_secret_key").read_bytes())
    assert key.address == (folder / "hostname").read_text().strip()
    assert key.public_file() == (folder / "hs_ed25519_public_key").read_bytes()
    assert key.secret_file() == (folder / "hs_ed25519_secret_key").read_bytes()
    assert read_key_file((folder / "hs_ed25519_secret_key").read_bytes(), None) == key


def test_random_seeds_agree_with_cryptography() -> None:
    for _ in range(40):
        seed = os.urandom(32)
        expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        assert onion_key_from_seed(seed).public == expected


def test_signatures_from_the_expanded_key_are_those_of_cryptography() -> None:
    seed = os.urandom(32)
    key = onion_key_from_seed(seed)
    message = b"an onion service descriptor"
    assert sign(key, message) == Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def test_a_key_without_a_seed_derives_a_public_key_that_verifies() -> None:
    # mkp224o makes vanity keys by adding multiples of 8 to the scalar: no seed exists, so only
    # the scalar multiplication can find the public key. cryptography checks the signature.
    base = onion_key_from_seed(os.urandom(32))
    scalar = int.from_bytes(base.secret[:32], "little")
    for step in (8, 8 * 12345, 8 * 2**40):
        moved = (scalar + step).to_bytes(32, "little")
        if not ed25519.is_clamped(moved):
            continue
        key = OnionKey(moved + base.secret[32:])
        assert key.public != base.public
        message = b"vanity " + str(step).encode()
        Ed25519PublicKey.from_public_bytes(key.public).verify(sign(key, message), message)


def test_generated_keys_are_random_clamped_and_consistent() -> None:
    first, second = generate_onion_key(), generate_onion_key()
    assert first != second
    for key in (first, second):
        assert len(key.secret) == 64
        assert ed25519.is_clamped(key.secret[:32])
        assert len(key.public) == 32
        assert key.public is key.public  # derived once


# --- addresses (the rules themselves: test_onion.py) -------------------------------------------


def test_the_address_of_a_known_public_key() -> None:
    assert address_from_public_key(bytes.fromhex(RFC8032[0][1])) == RFC1_ADDRESS


def test_addresses_of_keys_are_valid() -> None:
    for _ in range(10):
        key = generate_onion_key()
        assert re.fullmatch(r"[a-z2-7]{56}\.onion", key.address)
        assert is_valid(key.address)
        assert address_from_public_key(key.public) == key.address


# --- tor's key files -------------------------------------------------------------------------


def test_key_files_have_tor_layout(key: OnionKey) -> None:
    assert len(SECRET_HEADER) == len(PUBLIC_HEADER) == 32
    secret_file, public_file = key.secret_file(), key.public_file()
    assert len(secret_file) == 96 and secret_file[:32] == SECRET_HEADER
    assert secret_file[32:] == key.secret
    assert len(public_file) == 64 and public_file[:32] == PUBLIC_HEADER
    assert public_file[32:] == key.public


def test_secret_file_round_trip(key: OnionKey) -> None:
    assert parse_secret_key_file(key.secret_file()) == key
    assert read_key_file(key.secret_file(), None) == key
    assert read_key_file(key.secret_file(), "ignored passphrase") == key


def test_a_raw_key_keeps_its_prefix() -> None:
    # A vanity key's prefix is not sha512(seed)[32:]; it must survive unchanged.
    secret = ed25519.clamp(os.urandom(32)) + os.urandom(32)
    assert parse_secret_key_file(SECRET_HEADER + secret).secret == secret


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "header"),
        (b"garbage" * 20, "header"),
        (b"== ed25519v1-secret: type1 ==\x00\x00\x00" + bytes(64), "header"),
        (PUBLIC_HEADER + bytes(32), "public key"),
        (b"-----BEGIN RSA PRIVATE KEY-----\nMIIC...\n", "version 2"),
        (SECRET_HEADER + b"\x40" * 63, "95 bytes"),
        (SECRET_HEADER + b"\x40" * 65, "97 bytes"),
        (SECRET_HEADER, "32 bytes"),
    ],
)
def test_bad_secret_key_files(data: bytes, words: str) -> None:
    with pytest.raises(KeyFileError) as caught:
        parse_secret_key_file(data)
    assert words in str(caught.value)
    assert caught.value.hint


@pytest.mark.parametrize(
    ("index", "mask", "set_bits"),
    [(0, 0x01, True), (0, 0x04, True), (31, 0x80, True), (31, 0x40, False)],
)
def test_unclamped_scalars_are_refused(
    key: OnionKey, index: int, mask: int, set_bits: bool
) -> None:
    secret = bytearray(key.secret)
    secret[index] = secret[index] | mask if set_bits else secret[index] & ~mask
    with pytest.raises(KeyFileError, match="not clamped"):
        parse_secret_key_file(SECRET_HEADER + bytes(secret))


def test_onion_key_checks_its_length() -> None:
    with pytest.raises(KeyFileError, match="64-byte"):
        OnionKey(bytes(32))


def test_reprs_show_no_secret(key: OnionKey) -> None:
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert key.address in text
        assert_no_secret(text, key.secret)


# --- encrypted export ------------------------------------------------------------------------


def test_export_round_trip(key: OnionKey, exported: bytes) -> None:
    assert import_key(exported, PASSPHRASE) == key
    assert read_key_file(exported, PASSPHRASE) == key


def test_export_document(key: OnionKey, exported: bytes) -> None:
    document = json.loads(exported.decode("utf-8"))
    assert document["format"] == "myonion-onion-key"
    assert document["version"] == 1
    assert document["service"] == "blog"
    assert document["address"] == key.address
    assert document["cipher"] == "AES-256-GCM"
    kdf = document["kdf"]
    assert (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) == ("scrypt", 2**15, 8, 1)
    assert len(base64.b64decode(kdf["salt"])) == 16
    assert len(base64.b64decode(document["nonce"])) == 12
    assert len(base64.b64decode(document["ciphertext"])) == 64 + 16
    assert_no_secret(exported.decode(), key.secret)


def test_decrypting_by_hand_as_documented(key: OnionKey, exported: bytes) -> None:
    # the recipe of docs/key-export.md, with nothing from myonion
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    doc = json.loads(exported)
    kdf = doc["kdf"]
    aes_key = hashlib.scrypt(
        unicodedata.normalize("NFC", PASSPHRASE).encode(),
        salt=base64.b64decode(kdf["salt"]),
        n=kdf["n"],
        r=kdf["r"],
        p=kdf["p"],
        maxmem=2**26,
        dklen=32,
    )
    aad = json.dumps(
        {"format": doc["format"], "version": doc["version"], "address": doc["address"]},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    secret = AESGCM(aes_key).decrypt(
        base64.b64decode(doc["nonce"]), base64.b64decode(doc["ciphertext"]), aad
    )
    assert secret == key.secret


def test_every_export_is_different(key: OnionKey, exported: bytes) -> None:
    again = json.loads(export_key(key, PASSPHRASE))
    first = json.loads(exported)
    assert again["kdf"]["salt"] != first["kdf"]["salt"]
    assert again["nonce"] != first["nonce"]
    assert again["ciphertext"] != first["ciphertext"]
    assert again["service"] == ""


def test_wrong_passphrase(exported: bytes) -> None:
    with pytest.raises(KeyFileError, match="passphrase is wrong") as caught:
        import_key(exported, "not the passphrase")
    assert "not the passphrase" not in str(caught.value)
    assert caught.value.hint


def test_passphrases_are_compared_after_unicode_normalization(key: OnionKey) -> None:
    composed = "Schlüssel-Grün-Öl"
    data = export_key(key, unicodedata.normalize("NFD", composed))
    assert import_key(data, unicodedata.normalize("NFC", composed)) == key


def edited(data: bytes, **changes: object) -> bytes:
    document = json.loads(data)
    for name, value in changes.items():
        document[name] = value
    return json.dumps(document).encode()


def flip(b64: str, index: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_a_flipped_ciphertext_byte_is_detected(exported: bytes) -> None:
    document = json.loads(exported)
    for index in (0, 40, 63, 70):  # key, key, key, tag
        changed = edited(exported, ciphertext=flip(document["ciphertext"], index))
        with pytest.raises(KeyFileError, match="changed after the export"):
            import_key(changed, PASSPHRASE)


def test_a_flipped_nonce_or_salt_is_detected(exported: bytes) -> None:
    document = json.loads(exported)
    with pytest.raises(KeyFileError, match="passphrase is wrong"):
        import_key(edited(exported, nonce=flip(document["nonce"], 3)), PASSPHRASE)
    kdf = dict(document["kdf"], salt=flip(document["kdf"]["salt"], 0))
    with pytest.raises(KeyFileError, match="passphrase is wrong"):
        import_key(edited(exported, kdf=kdf), PASSPHRASE)


def test_an_edited_address_is_detected(exported: bytes) -> None:
    other = generate_onion_key().address
    with pytest.raises(KeyFileError, match="changed after the export"):
        import_key(edited(exported, address=other), PASSPHRASE)
    with pytest.raises(KeyFileError, match="not a valid v3 onion address"):
        import_key(edited(exported, address="nonsense.onion"), PASSPHRASE)


def test_a_sealed_but_wrong_address_is_detected(key: OnionKey) -> None:
    # A buggy or malicious exporter that states another address and seals it correctly: only
    # deriving the address from the decrypted key catches that.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    other = generate_onion_key().address
    salt, nonce = os.urandom(16), os.urandom(12)
    aes_key = hashlib.scrypt(PASSPHRASE.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    aad = json.dumps(
        {"format": "myonion-onion-key", "version": 1, "address": other},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    document = {
        "format": "myonion-onion-key",
        "version": 1,
        "service": "",
        "address": other,
        "kdf": {
            "name": "scrypt",
            "n": 2**14,
            "r": 8,
            "p": 1,
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(AESGCM(aes_key).encrypt(nonce, key.secret, aad)).decode(),
    }
    with pytest.raises(KeyFileError, match="does not belong to the address"):
        import_key(json.dumps(document).encode(), PASSPHRASE)
    # and the same document with the right address imports (other scrypt costs are read)
    document["address"] = key.address
    aad = aad.replace(other.encode(), key.address.encode())
    document["ciphertext"] = base64.b64encode(
        AESGCM(aes_key).encrypt(nonce, key.secret, aad)
    ).decode()
    assert import_key(json.dumps(document).encode(), PASSPHRASE) == key


def test_the_service_name_is_only_a_suggestion(key: OnionKey, exported: bytes) -> None:
    assert import_key(edited(exported, service="renamed"), PASSPHRASE) == key


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda data: data[: len(data) // 2], "not a key exported by myonion"),
        (lambda data: b"\xff\xfe garbage", "not a key exported by myonion"),
        (lambda data: b"[1, 2, 3]", "not a key exported by myonion"),
        (lambda data: b'{"format": "something-else"}', "not a key exported by myonion"),
        (lambda data: edited(data, version=2), "version 2"),
        (lambda data: edited(data, version=True), "version True"),
        (lambda data: edited(data, ciphertext="!!not base64!!"), "'ciphertext' is not valid"),
        (lambda data: edited(data, ciphertext="AAAA"), "'ciphertext' does not have 80 bytes"),
        (lambda data: edited(data, nonce=None), "'nonce' is missing"),
        (lambda data: edited(data, cipher="ChaCha20"), "cipher is not AES-256-GCM"),
        (lambda data: edited(data, kdf={"name": "pbkdf2"}), "not scrypt"),
        (lambda data: edited(data, address=None), "'address' is missing"),
    ],
)
def test_damaged_or_foreign_exports(exported: bytes, mangle: object, words: str) -> None:
    assert callable(mangle)
    with pytest.raises(KeyFileError) as caught:
        import_key(mangle(exported), PASSPHRASE)
    assert words in str(caught.value)
    assert caught.value.hint


@pytest.mark.parametrize(
    "params", [{"n": 2**30}, {"n": 1000}, {"n": 0}, {"r": 0}, {"p": 10**6}, {"n": "32768"}]
)
def test_crafted_scrypt_parameters_are_refused_before_use(
    exported: bytes, params: dict[str, object]
) -> None:
    document = json.loads(exported)
    kdf = dict(document["kdf"], **params)
    with pytest.raises(KeyFileError, match="damaged"):
        import_key(edited(exported, kdf=kdf), PASSPHRASE)


@pytest.mark.parametrize("passphrase", ["", "short", "1234567"])
def test_weak_passphrases_are_refused(key: OnionKey, passphrase: str) -> None:
    with pytest.raises(OptionError, match="passphrase") as caught:
        export_key(key, passphrase)
    assert caught.value.hint


def test_eight_characters_are_enough(key: OnionKey) -> None:
    assert import_key(export_key(key, "12345678"), "12345678") == key


def test_read_key_file_asks_for_the_passphrase(exported: bytes) -> None:
    with pytest.raises(KeyFileError, match="encrypted with a passphrase") as caught:
        read_key_file(exported, None)
    assert caught.value.hint and "passphrase" in caught.value.hint
    with pytest.raises(KeyFileError, match="no passphrase"):
        read_key_file(exported, "")


def test_is_export(key: OnionKey, exported: bytes) -> None:
    assert is_export(exported)
    assert is_export(b"  \n" + exported)
    assert not is_export(key.secret_file())
    assert not is_export(key.control_port_key().encode())
    assert not is_export(b"")


def test_read_key_file_knows_other_formats(key: OnionKey) -> None:
    assert read_key_file(key.control_port_key().encode() + b"\n", None) == key
    with pytest.raises(KeyFileError, match="ED25519-V3"):
        read_key_file(b"ED25519-V3:AAAA", None)
    with pytest.raises(KeyFileError, match="not a key exported by myonion"):
        read_key_file(b'{"hello": "world"}', None)
    with pytest.raises(KeyFileError, match="header"):
        read_key_file(b"hello world", None)
    with pytest.raises(KeyFileError, match="public key"):
        read_key_file(key.public_file(), None)


def test_errors_show_no_secret(key: OnionKey, exported: bytes) -> None:
    attempts = [
        lambda: import_key(exported, "wrong passphrase"),
        lambda: read_key_file(exported, None),
        lambda: parse_secret_key_file(key.secret_file()[:-1]),
        lambda: parse_secret_key_file(key.secret_file() + b"\n"),
        lambda: parse_secret_key_file(SECRET_HEADER + key.secret[:31] + b"\xff" + key.secret[32:]),
        lambda: read_key_file(key.control_port_key()[:-8].encode(), None),
    ]
    for attempt in attempts:
        with pytest.raises(MyOnionError) as caught:
            attempt()
        error = caught.value
        assert error.message.endswith(".")
        assert error.hint
        assert_no_secret(f"{error} {error.hint} {error.detail}", key.secret)


# --- client authorization --------------------------------------------------------------------


def test_generated_client_key() -> None:
    client = generate_client_key("alice")
    assert client.name == "alice"
    assert client.private is not None and len(client.private) == 32
    assert len(client.public) == 32
    assert client.private[0] & 7 == 0 and client.private[31] & 0xC0 == 0x40  # clamped like tor's
    expected = X25519PrivateKey.from_private_bytes(client.private).public_key()
    assert client.public == expected.public_bytes_raw()
    assert generate_client_key("alice").public != client.public


def test_client_key_lines() -> None:
    client = generate_client_key("bob")
    assert client.private is not None
    line = client.auth_line()
    assert re.fullmatch(r"descriptor:x25519:[A-Z2-7]{52}", line)
    assert base64.b32decode(line.split(":")[2] + "====") == client.public

    address = generate_onion_key().address
    private_line = client.auth_private_line(address)
    label, rest = private_line.split(":", 1)
    assert label == address.removesuffix(".onion")
    assert re.fullmatch(r"descriptor:x25519:[A-Z2-7]{52}", rest)
    assert base64.b32decode(rest.split(":")[2] + "====") == client.private
    assert client.auth_private_line(label) == private_line
    assert client.auth_private_line(address.upper()) == private_line
    assert client.private_b32() == rest.split(":")[2]

    control = client.control_port_key()
    assert control.startswith("x25519:")
    assert base64.b64decode(control.removeprefix("x25519:"), validate=True) == client.private


def test_auth_private_line_needs_a_real_address() -> None:
    client = generate_client_key("carol")
    for address in ("example.com", RFC1_ADDRESS.replace("5sid", "5sie"), ""):
        with pytest.raises(OptionError, match="not a v3 onion address"):
            client.auth_private_line(address)


def test_client_key_from_public() -> None:
    made = generate_client_key("dave")
    for text in (
        made.auth_line(),
        made.auth_line() + "\n",
        made.auth_line().split(":")[2],
        made.auth_line().split(":")[2].lower(),
        made.auth_line().split(":")[2] + "====",
    ):
        client = client_key_from_public("dave", text)
        assert client.public == made.public
        assert client.private is None
        assert client.auth_line() == made.auth_line()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "descriptor:x25519:",
        "ABC",
        "descriptor:x25519:" + "A" * 51,
        "descriptor:x25519:" + "1" * 52,  # not base32
        base64.b64encode(os.urandom(32)).decode(),
        "descriptor:ed25519:" + "A" * 52,
        "A" * 52,  # all zeros
    ],
)
def test_bad_public_client_keys(text: str) -> None:
    with pytest.raises(KeyFileError) as caught:
        client_key_from_public("erin", text)
    assert caught.value.message.endswith(".")
    assert caught.value.hint


def test_a_public_only_client_has_no_private_lines() -> None:
    client = client_key_from_public("frank", generate_client_key("frank").auth_line())
    with pytest.raises(KeyFileError, match="Only the public key"):
        client.auth_private_line(RFC1_ADDRESS)
    with pytest.raises(KeyFileError, match="Only the public key"):
        client.control_port_key()
    assert "private=None" in repr(client)


def test_client_key_from_private() -> None:
    made = generate_client_key("grace")
    line = made.auth_private_line(RFC1_ADDRESS)
    for text in (line, line.split(":", 1)[1], made.private_b32(), made.private_b32().lower()):
        assert client_key_from_private("grace", text) == made
    with pytest.raises(KeyFileError, match="private key"):
        client_key_from_private("grace", "descriptor:x25519:nonsense")


def test_mismatched_client_halves_are_refused() -> None:
    one, other = generate_client_key("heidi"), generate_client_key("heidi")
    with pytest.raises(KeyFileError, match="do not belong together"):
        ClientKey("heidi", one.private, other.public)
    with pytest.raises(KeyFileError, match="32 bytes"):
        ClientKey("heidi", None, b"short")


def test_client_repr_shows_no_private() -> None:
    client = generate_client_key("ivan")
    assert client.private is not None
    text = repr(client)
    assert "ivan" in text and client.auth_line().split(":")[2] in text
    assert_no_secret(text + str(client), client.private)


@pytest.mark.parametrize("name", ["a", "alice", "bob-laptop", "phone_2", "0", "a" * 32])
def test_good_client_names(name: str) -> None:
    assert check_client_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Alice", "-bob", "_bob", "a" * 33, "a b", "a/b", "../x", "a.auth", "é", "a\n"]
)
def test_bad_client_names(name: str) -> None:
    with pytest.raises(OptionError, match="not a valid client name") as caught:
        check_client_name(name)
    assert caught.value.hint
    with pytest.raises(OptionError):
        generate_client_key(name)
