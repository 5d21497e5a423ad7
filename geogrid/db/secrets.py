"""The server secret of the register: where it lives and how the CLI and the API find the same one.

One secret of 32 random bytes gives the register's two keys (:func:`geogrid.register.derive_keys`):
the HMAC key that makes ID numbers searchable by exact match, and the Fernet key that encrypts
them.  It is read from, in order:

1. ``GEOGRID_REGISTER_KEY`` (64 hex characters, or URL-safe base64 of at least 32 bytes) — for a
   server whose secrets come from the environment or a vault;
2. ``<home>/register.key`` next to the project's database (:mod:`geogrid.db.home`), created on first
   use with 32 random bytes, readable by its owner only (mode 0600).

The secret never goes into the database: a database dump or backup holds masked ID numbers, keyed
hashes and ciphertexts, none of which reveals an ID number without the key file.  Keep the key
file (or the variable) backed up *apart from* the database backups; without it, ID numbers can no
longer be searched or decrypted (names, phones and masked numbers stay readable).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from functools import lru_cache
from pathlib import Path

from geogrid.errors import GeogridError
from geogrid.register import RegisterKeys, derive_keys

ENV_REGISTER_KEY = "GEOGRID_REGISTER_KEY"
KEY_FILE = "register.key"

__all__ = ["ENV_REGISTER_KEY", "KEY_FILE", "parse_secret", "register_keys", "register_secret"]


def parse_secret(text: str) -> bytes:
    """The bytes of a secret written as 64 hex characters or URL-safe base64 (≥ 32 bytes).

    Examples
    --------
    >>> len(parse_secret("ab" * 32))
    32
    """
    text = text.strip()
    try:
        raw = (
            bytes.fromhex(text)
            if len(text) == 64
            else base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
    except (ValueError, binascii.Error):
        raise GeogridError(f"{ENV_REGISTER_KEY} must be 64 hex characters or base64 of 32 bytes") from None
    if len(raw) < 32:
        raise GeogridError(f"{ENV_REGISTER_KEY} holds {len(raw)} bytes; the register needs at least 32")
    return raw


def _home_key(home: Path) -> bytes:
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    return parse_secret(path.read_text())


def register_secret(given: str | None = None, *, home: Path | None = None) -> bytes:
    """The register secret: ``given`` (the API's setting), else ``$GEOGRID_REGISTER_KEY``, else the
    home's key file (created on first use)."""
    text = given or os.environ.get(ENV_REGISTER_KEY)
    if text:
        return parse_secret(text)
    if home is None:
        from geogrid.db.home import find_home

        home = find_home().path
    return _home_key(home)


@lru_cache(maxsize=8)
def _keys(secret: bytes) -> RegisterKeys:
    return derive_keys(secret)


def register_keys(given: str | None = None, *, home: Path | None = None) -> RegisterKeys:
    """The register's keys from :func:`register_secret` (derived once per secret and process)."""
    return _keys(register_secret(given, home=home))
