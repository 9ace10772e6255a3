"""Number series: the next free value of a column, assigned atomically in the company database.

Visma numbers orders, associates and order lines from number series, and RedHorn 1.4 lets an API
user take non-key values such as `CustomerNo` from intervals of their own (`ApiUsers[]
.AccessibleCompanies[].NumberSerieIntervals[]`). The embedded writer keeps the series in the
company database, in a table of its own:

    RedhornNumberSeries(TableName, ColumnName, IntervalFrom, IntervalTo, ColumnNo, LastAssigned, IsDefault)
    primary key (TableName, ColumnName, IntervalFrom)

A row with `IsDefault = 1` is the company's default interval for a column; a user's interval gets
a row the first time it is used. `LastAssigned` is the interval's high-water mark. The next value
is the first one above the mark that no row holds (rows written by Visma itself, or given
explicitly), so a value the series handed out is never handed out again, even once its row is
deleted, and one explicit key far up the interval (`OrderNo: 99999999`) blocks nothing: the series
steps over it when it gets there. Assignment happens inside the caller's write transaction (`BEGIN IMMEDIATE` in
SQLite), so two processes can never take the same value; an exhausted interval is 409.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from redhorn.errors import NumberSeriesExhausted, NumberSeriesMissing
from redhorn.metadata import Table
from redhorn.writers.rules import quote

TABLE = "RedhornNumberSeries"
CREATE_TABLE = (
    f'CREATE TABLE IF NOT EXISTS "{TABLE}" ('
    '"TableName" VARCHAR(60) NOT NULL, "ColumnName" VARCHAR(60) NOT NULL, '
    '"IntervalFrom" BIGINT NOT NULL, "IntervalTo" BIGINT NOT NULL, "ColumnNo" INT NOT NULL DEFAULT 0, '
    '"LastAssigned" BIGINT NOT NULL, "IsDefault" INT NOT NULL DEFAULT 0, '
    'PRIMARY KEY ("TableName", "ColumnName", "IntervalFrom"))'
)


def ensure_table(connection: sqlite3.Connection) -> None:
    connection.execute(CREATE_TABLE)


def set_default_interval(
    connection: sqlite3.Connection, table: str, column: str, interval: tuple[int, int], *, column_no: int = 0
) -> None:
    """Make `interval` the company's default for a column (the demo builder and administrators call this).

    A new series continues after the rows already in its interval; an existing one keeps its mark.
    """
    ensure_table(connection)
    quoted_table, quoted_column = quote(table), quote(column)
    (highest,) = connection.execute(
        f"SELECT MAX({quoted_column}) FROM {quoted_table} WHERE {quoted_column} BETWEEN ? AND ?", interval
    ).fetchone()
    mark = int(highest) if highest is not None else interval[0] - 1
    connection.execute(
        f'UPDATE "{TABLE}" SET "IsDefault" = 0 WHERE "TableName" = ? AND "ColumnName" = ?', (table, column)
    )
    connection.execute(
        f'INSERT INTO "{TABLE}" ("TableName", "ColumnName", "IntervalFrom", "IntervalTo", "ColumnNo", '
        '"LastAssigned", "IsDefault") VALUES (?, ?, ?, ?, ?, ?, 1) '
        'ON CONFLICT ("TableName", "ColumnName", "IntervalFrom") DO UPDATE SET "IntervalTo" = excluded."IntervalTo", '
        '"IsDefault" = 1',
        (table, column, interval[0], interval[1], column_no, mark),
    )


def next_number(
    connection: sqlite3.Connection,
    table: str,
    column: str,
    *,
    interval: tuple[int, int] | None = None,
    column_no: int = 0,
) -> int:
    """The next free value of `table.column` in `interval` (else the company's default), now taken.

    The caller holds the write transaction; `table` and `column` are SQL names from the metadata.

    Raises:
        NumberSeriesMissing: no interval given and no default configured.
        NumberSeriesExhausted: the interval has no value left.
    """
    if interval is None:  # the default interval's row is its series: its mark comes with it
        row = connection.execute(
            f'SELECT "IntervalFrom", "IntervalTo", "LastAssigned" FROM "{TABLE}" '
            'WHERE "TableName" = ? AND "ColumnName" = ? AND "IsDefault" = 1',
            (table, column),
        ).fetchone()
        if row is None:
            raise NumberSeriesMissing(f"No number series is configured for {table}.{column}", target=column)
        low, high, mark = int(row[0]), int(row[1]), row[2]
    else:
        low, high = interval
        connection.execute(
            f'INSERT OR IGNORE INTO "{TABLE}" ("TableName", "ColumnName", "IntervalFrom", "IntervalTo", "ColumnNo", '
            '"LastAssigned") VALUES (?, ?, ?, ?, ?, ?)',
            (table, column, low, high, column_no, low - 1),
        )
        (mark,) = connection.execute(
            f'SELECT "LastAssigned" FROM "{TABLE}" WHERE "TableName" = ? AND "ColumnName" = ? AND "IntervalFrom" = ?',
            (table, column, low),
        ).fetchone()
    candidate = _first_free(connection, table, column, int(mark) + 1, high)
    if candidate is None:
        raise NumberSeriesExhausted(
            f"The number series {low}-{high} of {column} is used up; ask for another interval", target=column
        )
    connection.execute(
        f'UPDATE "{TABLE}" SET "LastAssigned" = ? WHERE "TableName" = ? AND "ColumnName" = ? AND "IntervalFrom" = ?',
        (candidate, table, column, low),
    )
    return candidate


def _first_free(connection: sqlite3.Connection, table: str, column: str, start: int, high: int) -> int | None:
    """The smallest value from `start` to `high` that no row of `table` holds in `column`.

    Usually `start` itself (one probe of the key's index); past rows that others wrote, the first
    gap after them, found in one statement.
    """
    if start > high:
        return None
    quoted_table, quoted_column = quote(table), quote(column)
    taken = f"SELECT 1 FROM {quoted_table} WHERE {quoted_column} = ?"
    if connection.execute(taken, (start,)).fetchone() is None:
        return start
    (gap,) = connection.execute(
        f"SELECT MIN(t.{quoted_column} + 1) FROM {quoted_table} AS t "
        f"WHERE t.{quoted_column} BETWEEN ? AND ? "
        f"AND NOT EXISTS (SELECT 1 FROM {quoted_table} AS u WHERE u.{quoted_column} = t.{quoted_column} + 1)",
        (start, high),
    ).fetchone()
    return int(gap) if gap is not None and int(gap) <= high else None


class LineNumbers:
    """Line numbers within a head (an order's lines): one above the head's highest line.

    The highest is read once a transaction and then kept as the transaction adds lines, so an
    order's twenty lines cost one `MAX` rather than twenty.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._highest: dict[tuple[Any, ...], int] = {}

    def next(self, table: Table, values: dict[str, Any]) -> int:
        """The line number of a new line of `table` whose head key `values` holds."""
        head_key = table.key[:-1]
        head = (table.sql_name, *(values[column.sql_name] for column in head_key))
        highest = self._highest.get(head)
        if highest is None:
            where = " AND ".join(f"{quote(column.sql_name)} = ?" for column in head_key)
            line = quote(table.key[-1].sql_name)
            (stored,) = self.connection.execute(
                f"SELECT MAX({line}) FROM {quote(table.sql_name)} WHERE {where}", head[1:]
            ).fetchone()
            highest = self._highest[head] = int(stored or 0)
        return highest + 1

    def added(self, table: Table, values: dict[str, Any]) -> None:
        """A line was added: its head's highest is kept past it (forgotten when its number is not a plain int)."""
        head = (table.sql_name, *(values[column.sql_name] for column in table.key[:-1]))
        number, highest = values[table.key[-1].sql_name], self._highest.get(head)
        if highest is not None and type(number) is int:
            self._highest[head] = max(highest, number)
        else:
            self._highest.pop(head, None)

    def forget(self) -> None:
        """Rows were deleted: a head's highest line may be gone."""
        self._highest.clear()
