"""SQL generation: one compiler, one dialect class per engine, statements with parameters only."""

from __future__ import annotations

from redhorn.sql.dialect import Dialect
from redhorn.sql.mssql import MssqlDialect
from redhorn.sql.sqlite import SqliteDialect
from redhorn.sql.statement import Statement

__all__ = ["Dialect", "MssqlDialect", "SqliteDialect", "Statement"]
