"""Key material of onion services, one module per job (no Docker, no tor, no stem):

- :mod:`~myonion.keys.ed25519` — tor's expanded secret key → public key (libsodium);
- :mod:`~myonion.keys.onion_key` — :class:`OnionKey` and tor's key files;
- :mod:`~myonion.keys.export` — the passphrase-protected export, and reading any key file;
- :mod:`~myonion.keys.client_keys` — x25519 keys of v3 client authorization.

Onion addresses are :mod:`myonion.onion`'s. No message of any error here contains key bytes.
"""

from myonion.keys.client_keys import (
    CLIENT_NAME_RE,
    ClientKey,
    check_client_name,
    client_key_from_private,
    client_key_from_public,
    generate_client_key,
)
from myonion.keys.export import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    MIN_PASSPHRASE_LENGTH,
    check_passphrase,
    export_key,
    import_key,
    is_export,
    read_key_file,
)
from myonion.keys.onion_key import (
    PUBLIC_HEADER,
    SECRET_HEADER,
    KeyFileError,
    OnionKey,
    generate_onion_key,
    onion_key_from_seed,
    parse_secret_key_file,
)

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
    "onion_key_from_seed",
    "parse_secret_key_file",
    "read_key_file",
]
