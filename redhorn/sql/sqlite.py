"""SQLite, the embedded default engine."""

from __future__ import annotations

from typing import ClassVar

from redhorn.sql.dialect import Dialect


class SqliteDialect(Dialect):
    name: ClassVar[str] = "sqlite"
