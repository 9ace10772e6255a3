"""How every worker writes its log: one JSON object a line (or plain text for a person), the request id on each.

`redhorn serve` hands uvicorn the configuration `log_config` builds, and uvicorn applies it in the
supervisor and again in each worker it starts, so every process writes the same format. Each line
names its time (ISO 8601, UTC, milliseconds), level, logger and message; a line logged while a
request is being answered names that request's id too (`request_id`, from a context variable the
request middleware sets), so a warning can be joined to the access line of its request. The
access line (logger `redhorn.access`) adds its fields as `fields`.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, Literal

import msgspec

# The id of the request being answered, for every line logged while it is.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

ACCESS_LOGGER = "redhorn.access"
# The attribute of a record that carries an access line's fields.
FIELDS = "fields"

_encode = msgspec.json.Encoder().encode


class _Clock:
    """ISO 8601 UTC text of a record's time; the seconds part made once per second, not per line."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def text(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second, self._text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._text}.{int((created - second) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, pid, request_id when there is one, fields, exception."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._clock.text(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which worker, under --workers N
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        fields = getattr(record, FIELDS, None)
        if fields is not None:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line).decode("utf-8")


class TextFormatter(logging.Formatter):
    """One line for a person: time, level, logger, message, and the request id when there is one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        text = f"{self._clock.text(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        current = request_id.get()
        if current is not None and getattr(record, FIELDS, None) is None:  # the access line names its id itself
            text += f" [request {current}]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


LogFormat = Literal["auto", "json", "text"]


def chosen_format(setting: LogFormat, stream: Any = None) -> Literal["json", "text"]:
    """`Logs.Format` made definite: `auto` is text when the log goes to a terminal, json otherwise."""
    if setting != "auto":
        return setting
    target = sys.stderr if stream is None else stream
    try:
        return "text" if target.isatty() else "json"
    except (AttributeError, ValueError):  # no stream, or a closed one
        return "json"


def log_config(setting: LogFormat = "auto", *, access_log: bool = True, level: str = "info") -> dict[str, Any]:
    """The `logging.config.dictConfig` document for uvicorn to apply in every process.

    Every logger writes through one handler on stderr in one format: redhorn's, uvicorn's and any
    library's (the root's), so no line of another shape slips in. uvicorn's own access log is
    left off (`redhorn serve` passes `access_log=False`); `redhorn.access` replaces it, and
    `access_log=False` (`--no-access-log`) silences that instead.
    """
    formatter = JsonFormatter if chosen_format(setting) == "json" else TextFormatter
    threshold = level.upper()
    handler = {"handlers": ["default"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {**handler, "level": threshold},
            "uvicorn.error": {"level": threshold},
            "uvicorn.access": {**handler, "level": "WARNING"},
            "redhorn": {**handler, "level": threshold},
            ACCESS_LOGGER: {**handler, "level": "INFO" if access_log else "WARNING"},
        },
    }
