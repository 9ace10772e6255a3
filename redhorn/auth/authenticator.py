"""Credentials to principals: Basic and Bearer, with throttling and a cache of what is safe to cache.

Both the `Authorization` header and the token endpoint come through here, so the rules are one:
failures are throttled per username and client address; a username that does not exist costs what
a wrong password costs; successful Basic checks are remembered under a keyed digest of the header
(never the password itself), so a hashed password is not re-hashed on every request. The throttle
decides before that memory is consulted: a locked-out address is refused even the right password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets

from redhorn.auth.principal import Principal
from redhorn.auth.throttle import LoginThrottle
from redhorn.auth.tokens import TokenService
from redhorn.auth.users import UserDirectory
from redhorn.errors import BasicAuthenticationNotAllowed, InvalidCredentials

_CACHE_SIZE = 10_000


class Authenticator:
    def __init__(self, users: UserDirectory, tokens: TokenService, throttle: LoginThrottle) -> None:
        self.users = users
        self.tokens = tokens
        self.throttle = throttle
        self._cache_key = secrets.token_bytes(32)
        self._basic: dict[bytes, Principal] = {}

    async def login(self, username: str, password: str, address: str) -> Principal:
        """The principal for a username and password, as the token endpoint and Basic check them.

        Raises:
            TooManyFailedLogins: this username or address failed too often lately.
            InvalidCredentials: the username or the password is wrong.
        """
        await self.throttle.admit(username, address)
        principal = await self.users.check_password(username, password)
        if principal is None:
            await self.throttle.failed(username, address)
            raise InvalidCredentials("The username or password is wrong")
        await self.throttle.succeeded(username, address)
        return principal

    async def basic(self, encoded: str, address: str) -> Principal:
        """The principal for the credentials of an `Authorization: Basic ...` header.

        Raises:
            InvalidCredentials: malformed, or a wrong username or password.
            BasicAuthenticationNotAllowed: right, but the user must use a token.
            TooManyFailedLogins: see `login`.
        """
        username, password = _decode_basic(encoded)
        await self.throttle.admit(username, address)
        digest = hmac.digest(self._cache_key, encoded.encode("latin-1", "replace"), "sha256")
        principal = self._basic.get(digest)
        if principal is None:
            principal = await self.login(username, password, address)
            if len(self._basic) >= _CACHE_SIZE:
                self._basic.clear()
            self._basic[digest] = principal
        if not principal.allow_basic:
            raise BasicAuthenticationNotAllowed(
                f"User {principal.username!r} may not use Basic authentication; get a token from /api/oauth/token"
            )
        return principal

    def bearer(self, token: str) -> Principal:
        """The principal of a bearer token (see `TokenService.verify`)."""
        return self.tokens.verify(token.strip())


def _decode_basic(encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCredentials("Malformed Basic credentials; expected base64 of 'username:password'") from None
    username, separator, password = decoded.partition(":")
    if not separator or not username:
        raise InvalidCredentials("Malformed Basic credentials; expected base64 of 'username:password'")
    return username, password
