"""Password checks: plain passwords compared in constant time, or Argon2id hashes.

`ApiUsers[].Password` holds either the password itself (as the original product's file does) or an
Argon2id hash in the standard PHC form (`$argon2id$v=19$m=...`), which `redhorn hash-password`
prints. Hash checks are slow on purpose (~0.1 s) and run in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import hmac

import argon2

_hasher = argon2.PasswordHasher()
HASH_PREFIX = "$argon2"
# Checked against when the username is unknown, so that a wrong username costs what a wrong
# password does and usernames cannot be told apart by timing.
DUMMY_HASH = _hasher.hash("redhorn: no such user")
DUMMY_PLAIN = "redhorn: no such user"


def hash_password(password: str) -> str:
    """An Argon2id hash of `password` in PHC form, for the settings file."""
    return _hasher.hash(password)


def is_hashed(stored: str) -> bool:
    return stored.startswith(HASH_PREFIX)


def _verify_hash(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


async def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches `stored`, a plain password or an Argon2 hash."""
    if is_hashed(stored):
        return await asyncio.to_thread(_verify_hash, stored, password)
    return hmac.compare_digest(stored.encode("utf-8"), password.encode("utf-8"))
