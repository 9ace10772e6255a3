"""When to try a request again: 429 and 503 (and a lost connection) are worth a wait, nothing else is.

The wait doubles with each attempt, with full jitter so that many clients refused at once do not come
back at once; a `Retry-After` from the server is a floor, never shortened.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass

RETRIED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a request is sent at most, and how long to wait between the sends."""

    attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    # A server asking for longer than this is waited for this long, then asked again.
    max_retry_after_seconds: float = 300.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after the `attempt`-th send (1-based) failed."""
        told = parse_retry_after(retry_after)
        if told is not None:
            return min(told, self.max_retry_after_seconds) + random.uniform(0, self.base_seconds)
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3); None if neither."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())
