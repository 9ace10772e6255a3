"""What can go wrong in a pull, as exceptions a script can catch: one base class, one line of text each."""

from __future__ import annotations

from typing import Any


class PullError(Exception):
    """A resource could not be pulled; the text is one line, fit for a log or a terminal."""


class UsageError(PullError):
    """The command or the call was given something that cannot work (a missing extra, a bad option)."""


class LoginError(PullError):
    """The token endpoint refused the credentials, or answered something that is not a token."""


class ConnectionFailed(PullError):
    """The server could not be reached, or went away, after every retry."""


class ServerError(PullError):
    """The server answered an error; `status` and `code` say which, as its JSON error body does."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}" if code else f"{status}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_body(cls, status: int, body: Any, text: str) -> ServerError:
        """From `{"error": {"code", "message"}}`, the token endpoint's RFC 6749 shape, or plain text."""
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                return cls(status, str(error.get("code", "")), _one_line(str(error.get("message", ""))))
            if isinstance(error, str):
                return cls(status, error, _one_line(str(body.get("error_description", ""))))
        return cls(status, "", _one_line(text)[:300] or "(no body)")


def _one_line(text: str) -> str:
    return " ".join(text.split())
