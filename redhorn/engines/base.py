"""What the rest of redhorn needs from a database engine, and nothing more.

Engines map their driver's failures to two conditions the API understands: the database cannot be
reached (`DatabaseUnavailable`, 503 with Retry-After) and a statement ran too long (`QueryTimeout`).
Anything else a driver raises is a bug in the SQL we generated and surfaces as a logged 500.
"""

from __future__ import annotations

from typing import Any, Protocol

from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

Row = tuple[Any, ...]


class Engine(Protocol):
    """An async database engine serving several databases (one per company, `vbsys`, `Catalog`)."""

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect statements for this engine are compiled in."""
        ...

    async def fetch(self, database: str, statement: Statement, *, timeout: float | None = None) -> list[Row]:
        """All rows of `statement` run in `database`.

        Raises:
            DatabaseUnavailable: the database cannot be reached or read.
            QueryTimeout: the statement ran longer than `timeout` seconds and was cancelled.
        """
        ...

    async def ping(self, database: str) -> None:
        """Raise `DatabaseUnavailable` unless `database` answers a trivial query."""
        ...

    async def close(self) -> None:
        """Close every pooled connection."""
        ...
