"""Keep secrets out of log lines: credential-like query parameters are blanked in access logs.

redhorn refuses credentials in query strings, but uvicorn logs the request line before anything
answers it, so the log line itself is cleaned. Headers are never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote_plus

from redhorn.auth.backends import CREDENTIAL_PARAMETERS

_PARAMETER = re.compile(r"([?&])([^=&\s\"]*)=([^&\s\"]*)")
_CREDENTIALS = frozenset(name.lower() for name in CREDENTIAL_PARAMETERS)


def _blank_credential(match: re.Match[str]) -> str:
    separator, name, _ = match.groups()
    if unquote_plus(name).strip().lower() in _CREDENTIALS:  # `pass%77ord` is `password` once decoded
        return f"{separator}{name}=***"
    return match.group(0)


# A request line longer than this is logged cut, with its length: a 64 KB query string refused
# with 414 would otherwise cost 64 KB of log, for anyone, unauthenticated.
MAX_LOGGED_CHARACTERS = 2048


def redact(text: str) -> str:
    """`text` with the values of credential-like query parameters replaced by `***`, cut to
    `MAX_LOGGED_CHARACTERS`.

    Names are compared after percent-decoding, as the server that refuses them decodes them.
    """
    if "=" in text:
        text = _PARAMETER.sub(_blank_credential, text)
    if len(text) > MAX_LOGGED_CHARACTERS:
        text = f"{text[:MAX_LOGGED_CHARACTERS]}... ({len(text)} characters)"
    return text


class RedactSecrets(logging.Filter):
    """A logging filter that redacts the request line's credential-like parameters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, Mapping):  # `logger.info("%(line)s", {"line": ...})`
            record.args = {name: redact(arg) if isinstance(arg, str) else arg for name, arg in record.args.items()}
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_redaction(*logger_names: str) -> None:
    """Add the filter to the named loggers once, however many apps a process creates."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())
