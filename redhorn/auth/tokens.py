"""Access tokens: self-contained JWTs (HS256) that every worker holding the shared key can verify.

A token names its user (`sub`), its expiry (`exp`) and a fingerprint of the user's stored password
(`pfp`). It is accepted while it has not expired, its user is still in `ApiUsers` and the password
is unchanged, so removing a user or changing a password revokes that user's tokens at the next
restart. Nothing else is kept about tokens anywhere, so any number of workers and hosts can share
them. Verified tokens are remembered per process (the check is pure, so remembering is safe).
"""

from __future__ import annotations

import math
import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from redhorn.auth.principal import Principal
from redhorn.auth.users import UserDirectory
from redhorn.errors import InvalidToken

ALGORITHM = "HS256"
ISSUER = "redhorn"
_CACHE_SIZE = 10_000


class TokenService:
    """Issues and verifies access tokens with one signing key."""

    def __init__(self, key: bytes, lifetime_seconds: int, users: UserDirectory) -> None:
        self._key = OctKey.import_key(key)
        self.lifetime_seconds = lifetime_seconds
        self._users = users
        self._verified: dict[str, tuple[Principal, int]] = {}

    def issue(self, principal: Principal, *, now: float | None = None) -> str:
        """A token for `principal`, valid for at least `lifetime_seconds` from `now`.

        JWT times are whole seconds: the expiry is rounded up, so that a token never lives less
        than its lifetime (rounded down, a one-second token issued late in a second lived a tenth).
        """
        moment = time.time() if now is None else now
        claims = {
            "iss": ISSUER,
            "sub": principal.username,
            "iat": math.floor(moment),
            "exp": math.ceil(moment + self.lifetime_seconds),
            "pfp": self._users.fingerprint(principal.username),
        }
        return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, self._key)

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        """The principal a valid token speaks for.

        Raises:
            InvalidToken: malformed, signed with another key, expired, or its user or password changed.
        """
        moment = time.time() if now is None else now
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires = remembered
            if moment < expires:
                return principal
            raise InvalidToken("The access token has expired")
        principal, expires = self._check(token, moment)
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _check(self, token: str, moment: float) -> tuple[Principal, int]:
        if len(token) > 4096:
            raise InvalidToken("The access token is malformed")
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError):
            raise InvalidToken("The access token is malformed or was not issued here") from None
        claims = decoded.claims
        subject, expires, fingerprint = claims.get("sub"), claims.get("exp"), claims.get("pfp")
        if claims.get("iss") != ISSUER or not isinstance(subject, str) or not isinstance(expires, int):
            raise InvalidToken("The access token is malformed or was not issued here")
        if moment >= expires:
            raise InvalidToken("The access token has expired")
        principal = self._users.principal(subject)
        if principal is None or fingerprint != self._users.fingerprint(subject):
            raise InvalidToken("The access token's user no longer exists or changed password")
        return principal, expires
