"""What the rest of redhorn needs from a database engine, and nothing more.

Engines map their driver's failures to three conditions the API understands: the database cannot be
reached (`DatabaseUnavailable`, 503 with Retry-After), a statement ran too long (`QueryTimeout`),
and a statement too deeply nested for the database's parser (`QueryTooComplex`, 400: the request
asked for it). Anything else a driver raises is a bug in the SQL we generated and surfaces as a
logged 500.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

Row = tuple[Any, ...]

# Statements take connections from one of two lanes per database. `lookup` is for reads of rows by
# their key (index seeks, done in milliseconds); `scan` for everything else. Lookups have
# connections of their own, so that no number of heavy scans can make a GET by key wait.
Lane = Literal["scan", "lookup"]

# How SQLite and SQL Server say that a statement is too deep or too large to parse or plan.
_TOO_COMPLEX = (
    "parser stack overflow",  # SQLite
    "expression tree is too large",  # SQLite
    "too many sql variables",  # SQLite
    "nested too deeply",  # SQL Server 191
    "stack limit has been reached",  # SQL Server 8631
    "ran out of internal resources",  # SQL Server 8623
)


def is_too_complex(message: str) -> bool:
    """Whether a driver's error message says the statement was too complex for the database."""
    lowered = message.lower()
    return any(part in lowered for part in _TOO_COMPLEX)


class Engine(Protocol):
    """An async database engine serving several databases (one per company, `vbsys`, `Catalog`)."""

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect statements for this engine are compiled in."""
        ...

    async def fetch(
        self, database: str, statement: Statement, *, timeout: float | None = None, lane: Lane = "scan"
    ) -> list[Row]:
        """All rows of `statement` run in `database`, on a connection of `lane`.

        Raises:
            DatabaseUnavailable: the database cannot be reached or read.
            DatabaseBusy: no connection of the lane came free in time.
            QueryTimeout: the statement ran longer than `timeout` seconds and was cancelled.
        """
        ...

    async def ping(self, database: str) -> None:
        """Raise `DatabaseUnavailable` unless `database` answers a trivial query."""
        ...

    async def close(self) -> None:
        """Close every pooled connection."""
        ...
