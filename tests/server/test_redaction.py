"""Credentials in a logged request line are blanked, whether the line is the message or one of its
arguments, and long lines are cut: the access log never keeps a secret nor grows with a query string."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from redhorn.server.redaction import MAX_LOGGED_CHARACTERS, RedactSecrets, install_redaction, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "GET /api/1/orders?$top=5&token=abc&$skip=2 HTTP/1.1",
            "GET /api/1/orders?$top=5&token=***&$skip=2 HTTP/1.1",
            id="only-the-credential-value",
        ),
        pytest.param("GET /?apikey=a&api_key=b HTTP/1.1", "GET /?apikey=***&api_key=*** HTTP/1.1", id="several"),
        pytest.param("GET /?%20Password%20=x HTTP/1.1", "GET /?%20Password%20=*** HTTP/1.1", id="padded-name"),
        pytest.param("GET /?passwords=x&mytoken=y HTTP/1.1", "GET /?passwords=x&mytoken=y HTTP/1.1", id="lookalikes"),
        pytest.param("GET /api/1/orders HTTP/1.1", "GET /api/1/orders HTTP/1.1", id="no-query"),
        pytest.param("", "", id="empty"),
    ],
)
def test_credential_values_are_blanked_and_everything_else_kept(line: str, expected: str):
    assert redact(line) == expected


def test_a_long_line_is_cut_and_says_how_long_it_was():
    line = "GET /api/1/orders?$filter=" + "x" * 5000 + " HTTP/1.1"
    cut = redact(line)
    assert cut == f"{line[:MAX_LOGGED_CHARACTERS]}... ({len(line)} characters)"
    assert redact(line[:MAX_LOGGED_CHARACTERS]) == line[:MAX_LOGGED_CHARACTERS], "a line at the limit is whole"


def test_a_credential_before_the_cut_is_blanked_too():
    line = "GET /?password=hunter2&q=" + "y" * 3000
    assert "hunter2" not in redact(line)


def record(msg: object, args: object) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)  # type: ignore[arg-type]


def test_the_filter_redacts_string_arguments_and_leaves_the_others():
    entry = record('%s - "%s" %d', ("1.2.3.4:5", "GET /?access_token=hunter2 HTTP/1.1", 401))
    assert RedactSecrets().filter(entry) is True, "a redacted line is still logged"
    assert entry.args == ("1.2.3.4:5", "GET /?access_token=*** HTTP/1.1", 401)


def test_the_filter_redacts_a_message_logged_without_arguments():
    entry = record("GET /?password=hunter2 HTTP/1.1", None)
    assert RedactSecrets().filter(entry) is True
    assert entry.getMessage() == "GET /?password=*** HTTP/1.1"


def test_the_filter_redacts_mapping_arguments():
    # logging passes a lone dict as `record.args` itself, for "%(name)s" formats: the filter must look into it.
    entry = record("%(line)s", ({"line": "GET /?password=hunter2 HTTP/1.1"},))
    RedactSecrets().filter(entry)
    assert "hunter2" not in entry.getMessage()


def test_the_filter_leaves_a_message_that_is_no_text():
    message = {"event": "password=hunter2"}
    entry = record(message, None)
    assert RedactSecrets().filter(entry) is True
    assert entry.msg is message


@pytest.fixture
def logger_name() -> Iterator[str]:
    name = "tests.server.redaction"
    yield name
    logger = logging.getLogger(name)
    for existing in list(logger.filters):
        logger.removeFilter(existing)


def test_installing_twice_adds_one_filter_and_the_logger_logs_redacted(
    logger_name: str, caplog: pytest.LogCaptureFixture
):
    install_redaction(logger_name)
    install_redaction(logger_name)
    logger = logging.getLogger(logger_name)
    assert sum(isinstance(existing, RedactSecrets) for existing in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=logger_name):
        logger.info('"%s" %d', "GET /?token=hunter2 HTTP/1.1", 200)
    assert caplog.records[-1].getMessage() == '"GET /?token=*** HTTP/1.1" 200'
    assert "hunter2" not in caplog.text
