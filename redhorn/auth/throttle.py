"""Failed-login throttling: a password cannot be guessed faster than the settings allow.

Failures are counted per (username, client address) and per client address, in a sliding window.
Past the limit every login from there is refused with 429 until the window has moved on, right
passwords included, so guessing gains nothing. The counts live in the process: with several
workers each counts on its own, which multiplies the limit by the number of workers at most.

Its memory is bounded whatever clients send: usernames are kept as a fixed-size digest (a 1 MB
username costs 16 bytes), each key keeps only its last `limit` failures, and past `_MAX_KEYS`
keys the oldest are forgotten.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque

from redhorn.errors import TooManyFailedLogins
from redhorn.settings import AuthenticationSettings

_MAX_KEYS = 100_000


class LoginThrottle:
    def __init__(self, settings: AuthenticationSettings) -> None:
        self.per_user = settings.max_failed_logins
        self.per_address = settings.max_failed_logins_per_address
        self.window = settings.failed_login_window_seconds
        self._failures: dict[tuple[bytes, str], deque[float]] = {}

    @staticmethod
    def _keys(username: str, address: str) -> tuple[tuple[bytes, str], tuple[bytes, str]]:
        """The (username, address) key and the address's own key; a username only as its digest."""
        digest = hashlib.blake2b(username.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        return (digest, address), (b"", address)

    def _recent(self, key: tuple[bytes, str], now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def check(self, username: str, address: str, *, now: float | None = None) -> None:
        """Raise `TooManyFailedLogins` if this username or address is over its limit."""
        moment = time.monotonic() if now is None else now
        user_key, address_key = self._keys(username, address)
        for key, limit in ((user_key, self.per_user), (address_key, self.per_address)):
            failures = self._recent(key, moment)
            if len(failures) >= limit:
                retry_after = max(1, math.ceil(failures[0] + self.window - moment))
                raise TooManyFailedLogins(
                    f"Too many failed logins; try again in {retry_after} s", retry_after=retry_after
                )

    def record_failure(self, username: str, address: str, *, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        if len(self._failures) >= _MAX_KEYS:
            for key in list(self._failures):
                self._recent(key, moment)
            while len(self._failures) > _MAX_KEYS - 2:  # all still recent: forget the oldest, room for two
                del self._failures[next(iter(self._failures))]
        user_key, address_key = self._keys(username, address)
        for key, limit in ((user_key, self.per_user), (address_key, self.per_address)):
            failures = self._failures.get(key)
            if failures is None:
                failures = self._failures[key] = deque(maxlen=max(1, limit))
            failures.append(moment)

    def record_success(self, username: str, address: str) -> None:
        self._failures.pop(self._keys(username, address)[0], None)
