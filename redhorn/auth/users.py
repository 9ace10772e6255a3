"""The API users of the settings file, looked up by name, with their password checks."""

from __future__ import annotations

import base64
import hashlib
import hmac

from redhorn.auth.passwords import DUMMY_HASH, DUMMY_PLAIN, is_hashed, verify_password
from redhorn.auth.principal import Principal, principal_of
from redhorn.settings import ApiUser, Settings


class UserDirectory:
    """`ApiUsers`, immutable after startup. Usernames match exactly, as the settings spell them."""

    def __init__(self, settings: Settings, key: bytes) -> None:
        self._users: dict[str, ApiUser] = {user.username: user for user in settings.api_users}
        self._principals = {user.username: principal_of(user, settings) for user in settings.api_users}
        self._fingerprints = {user.username: _fingerprint(key, user) for user in settings.api_users}
        # With any hashed password, every check costs one Argon2 verify: a plain-password user's
        # wrong guess would otherwise answer in microseconds, an unknown user's in a tenth of a
        # second, and timing would tell which usernames exist.
        self._any_hashed = any(is_hashed(user.password) for user in settings.api_users)
        self._dummy = DUMMY_HASH if self._any_hashed else DUMMY_PLAIN

    def principal(self, username: str) -> Principal | None:
        return self._principals.get(username)

    def fingerprint(self, username: str) -> str | None:
        """A short keyed digest of the user's stored password: tokens carry it, so that a token
        stops working when the password changes, without the token revealing anything of it."""
        return self._fingerprints.get(username)

    async def check_password(self, username: str, password: str) -> Principal | None:
        """The user's principal when the password is right, else None (same cost either way)."""
        user = self._users.get(username)
        stored = user.password if user else self._dummy
        matches = await verify_password(stored, password)
        if self._any_hashed and not is_hashed(stored):
            await verify_password(DUMMY_HASH, password)  # the cost of a hashed check, result unused
        return self._principals[username] if user is not None and matches else None


def _fingerprint(key: bytes, user: ApiUser) -> str:
    message = b"password-fingerprint\x00" + user.username.encode() + b"\x00" + user.password.encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(digest).decode("ascii")
