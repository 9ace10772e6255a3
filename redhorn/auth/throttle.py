"""Failed-login throttling: a password cannot be guessed faster than the settings allow.

Failures are counted per (username, client address) and per client address, in a sliding window.
Past the limit every login from there is refused with 429 until the window has moved on, right
passwords included, so guessing gains nothing.

Every worker counts in its own memory, and with a shared store (`failures.py`: a SQLite file
every worker of the host shares, or Redis shared by every host) there too, so that the limit holds
for the installation, not per worker or per host. The shared counts decide; when they cannot be
read or written (Redis down) the process's own counts do, with a warning, and the limit then holds
per process until the store is back.

Its memory is bounded whatever clients send: usernames are kept as a fixed-size digest (a 1 MB
username costs 16 bytes), each key keeps only its last `limit` failures, and past `_MAX_KEYS`
keys the oldest are forgotten.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import deque

from redhorn.auth.failures import FailureStore, StoreUnreachable
from redhorn.errors import TooManyFailedLogins
from redhorn.settings import AuthenticationSettings

logger = logging.getLogger("redhorn.auth")

_MAX_KEYS = 100_000


class LoginThrottle:
    def __init__(self, settings: AuthenticationSettings) -> None:
        self.per_user = settings.max_failed_logins
        self.per_address = settings.max_failed_logins_per_address
        self.window = settings.failed_login_window_seconds
        self._failures: dict[tuple[bytes, str], deque[float]] = {}
        self.shared: FailureStore | None = None
        self._shared_down = False

    def share(self, store: FailureStore | None) -> None:
        """Count in `store` as well from now on, and let it decide (None: this process alone)."""
        self.shared = store

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

    async def admit(self, username: str, address: str) -> None:
        """Raise `TooManyFailedLogins` if this username or address is over its limit, as counted everywhere."""
        if self.shared is None:
            self.check(username, address)
            return
        now = time.time()
        user_key, address_key = self._keys(username, address)
        try:
            counts = await self.shared.recent((_shared_key(user_key), _shared_key(address_key)), now - self.window)
        except StoreUnreachable as exc:
            self._fell_back(exc)
            self.check(username, address)
            return
        self._back()
        for (count, oldest), limit in zip(counts, (self.per_user, self.per_address), strict=True):
            if count >= limit:
                retry_after = max(1, math.ceil(oldest + self.window - now))
                raise TooManyFailedLogins(
                    f"Too many failed logins; try again in {retry_after} s", retry_after=retry_after
                )

    async def failed(self, username: str, address: str) -> None:
        """Count a failed login here and in the shared store."""
        self.record_failure(username, address)
        if self.shared is None:
            return
        user_key, address_key = self._keys(username, address)
        keys = ((_shared_key(user_key), self.per_user), (_shared_key(address_key), self.per_address))
        try:
            await self.shared.add(keys, time.time(), self.window)
        except StoreUnreachable as exc:
            self._fell_back(exc)

    async def succeeded(self, username: str, address: str) -> None:
        """Forget the username's failures from this address, here and in the shared store."""
        self.record_success(username, address)
        if self.shared is None:
            return
        try:
            await self.shared.forget(_shared_key(self._keys(username, address)[0]))
        except StoreUnreachable as exc:
            self._fell_back(exc)

    def _fell_back(self, exc: StoreUnreachable) -> None:
        if not self._shared_down:  # once per outage, not once per login
            self._shared_down = True
            logger.warning("Failed logins are counted by this process alone until the shared count is back: %s", exc)

    def _back(self) -> None:
        if self._shared_down:
            self._shared_down = False
            logger.warning("Failed logins are counted in the shared store again")


def _shared_key(key: tuple[bytes, str]) -> str:
    """A key of the shared store: the username's digest (hex, empty for the address's own key) and the address."""
    return f"{key[0].hex()}|{key[1]}"
