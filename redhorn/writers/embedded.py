"""The embedded executor: a `WriteRequest` applied to a company's SQLite database in one transaction.

It stands where Visma Business Services stands in production: each row's assignments run in
order with the business rules of `rules` after each one, new rows start from Visma's "not set"
values, keys come from number series when the body leaves them out, and the whole request
commits or none of it does.

Each database gets one writer thread with its own connection (SQLite takes one writer at a
time, so more threads would only queue inside SQLite). Transactions start with `BEGIN
IMMEDIATE`, which takes the database's write lock at once: writers in other processes wait for
it (up to `busy_timeout`) instead of failing half-way, and number series read and advance under
that lock. The database runs in write-ahead-log mode, so readers never wait for a writer.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import sqlite3
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from redhorn.errors import (
    DuplicateKey,
    InvalidValue,
    KeyImmutable,
    MissingValue,
    NumberSeriesMissing,
    PreconditionFailed,
    ReadOnlyResource,
    RowNotFound,
    UnknownProperty,
)
from redhorn.metadata import Column, Database, Table
from redhorn.writers import receipts, rules, tombstones
from redhorn.writers.lookups import Lookups
from redhorn.writers.model import (
    AddRows,
    Assign,
    DeleteRow,
    Join,
    Message,
    RowWrite,
    Suggest,
    UpdateRow,
    WriteRequest,
    WriteResult,
)
from redhorn.writers.numberseries import LineNumbers, ensure_table, next_number
from redhorn.writers.rules import LINE_TABLES, RowState, decimal_of, quote, today_number
from redhorn.writers.sqlite_writer import SqliteWriter

T = TypeVar("T")


class EmbeddedExecutor:
    """Runs write requests against `<folder>/<database>.db`.

    Args:
        path_of: the file of a database, by name.
        database_of: the database's metadata as of now, by name.
        busy_timeout: how long a write waits for another process's write to finish.
        today: today as yyyymmdd (tests pin it).
    """

    def __init__(
        self,
        path_of: Callable[[str], Path],
        database_of: Callable[[str], Database],
        *,
        busy_timeout: float = 10.0,
        today: Callable[[], int] = today_number,
        tombstone_days: int = tombstones.RETENTION_DAYS,
    ) -> None:
        self._path_of = path_of
        self._database_of = database_of
        self._busy_timeout = busy_timeout
        self._today = today
        self._tombstone_days = tombstone_days
        self._writers: dict[str, SqliteWriter] = {}

    # Records a receipt in each keyed write's own transaction (see receipts.py).
    records_receipts = True

    def _writer(self, database: str) -> SqliteWriter:
        writer = self._writers.get(database)
        if writer is None:
            writer = self._writers[database] = SqliteWriter(self._path_of(database), self._busy_timeout, _setup)
        return writer

    async def execute(self, database: str, request: WriteRequest, *, receipt: str | None = None) -> WriteResult:
        """Apply `request` to `database`; all of it or, on any error, none of it.

        Args:
            receipt: recorded with the write, in its transaction, for a write with an Idempotency-Key.

        Raises:
            ApiError: the first problem met (404 row, 409 key, 412 precondition, 422 value, 503 lock).
        """
        metadata = self._database_of(database)
        today = self._today()
        moment = dt.datetime.now()
        return await self._writer(database).run(
            lambda connection: apply_request(
                connection,
                metadata,
                request,
                today,
                receipt=receipt,
                moment=moment,
                tombstone_days=self._tombstone_days,
            )
        )

    async def find_receipt(self, database: str, receipt: str) -> WriteResult | None:
        """The result of the write that committed with `receipt`, or None if none did."""
        return await self._writer(database).run(lambda connection: receipts.find(connection, receipt))

    async def close(self) -> None:
        writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            await writer.close()


def _setup(connection: sqlite3.Connection) -> None:
    ensure_table(connection)
    receipts.ensure_table(connection)
    tombstones.ensure_tables(connection)


def apply_request(
    connection: sqlite3.Connection,
    database: Database,
    request: WriteRequest,
    today: int,
    *,
    receipt: str | None = None,
    moment: dt.datetime | None = None,
    tombstone_days: int = tombstones.RETENTION_DAYS,
) -> WriteResult:
    """Run `request` in one transaction on `connection` (the caller's thread owns it), with its receipt.

    `moment` is the write's time of day for Visma's change stamps (now when not given).
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        clock = rules.time_of_day(moment or dt.datetime.now())
        result = _Transaction(connection, database, today, clock, tombstone_days).run(request)
        if receipt is not None:
            receipts.record(connection, receipt, result)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result


class _Transaction:
    def __init__(
        self,
        connection: sqlite3.Connection,
        database: Database,
        today: int,
        time_of_day: tuple[int, int],
        tombstone_days: int,
    ) -> None:
        self.connection = connection
        self.database = database
        self.today = today
        self.time_of_day = time_of_day
        self.tombstone_days = tombstone_days
        self.messages: list[Message] = []
        self.changed_heads: set[Any] = set()
        self.lookups = Lookups(connection)
        self.line_numbers = LineNumbers(connection)

    def run(self, request: WriteRequest) -> WriteResult:
        rows: list[dict[str, Any]] = []
        for number, operation in enumerate(request.operations):
            table = self._table(operation.table)
            if isinstance(operation, AddRows):
                rules.want_lookups(self.lookups, self.database, table, operation.rows)
                for index, row in enumerate(operation.rows):
                    state = self._add(table, row, head=None, foreign_key=())
                    self._keep_messages(state, number, index)
                    rows.append(_project(table, state.values, request.projection))
            elif isinstance(operation, UpdateRow):
                state = self._update(table, operation)
                self._keep_messages(state, number, 0)
                rows.append(_project(table, state.values, request.projection))
            else:
                self._delete(table, operation)
        rules.update_head_totals(
            self.connection, self.database, sorted(self.changed_heads), (self.today, *self.time_of_day)
        )
        return WriteResult(tuple(rows), tuple(self.messages))

    def _keep_messages(self, state: RowState, operation: int, row: int) -> None:
        self.messages.extend(msgspec.structs.replace(m, operation=operation, row=row) for m in state.messages)

    def _table(self, sql_name: str) -> Table:
        table = self.database.table_by_sql_name(sql_name)
        if table is None:
            raise UnknownProperty(f"No table {sql_name!r} in {self.database.name!r}", target=sql_name)
        if table.is_view:
            raise ReadOnlyResource(f"{table.resource!r} is a view and cannot be written", target=table.resource)
        return table

    def _state(self, table: Table, values: dict[str, Any], head: dict[str, Any] | None) -> RowState:
        return RowState(
            self.connection, self.database, table, values, self.today, head, self.time_of_day, lookups=self.lookups
        )

    # Adding -------------------------------------------------------------------------------------

    def _add(self, table: Table, row: RowWrite, head: dict[str, Any] | None, foreign_key: tuple[str, ...]) -> RowState:
        state = self._state(table, dict(_not_set_row(table)), head)
        for link in foreign_key:
            state.values[link] = head[link] if head is not None else state.values[link]
        rules.on_new_row(state)
        given = set(foreign_key)
        for step in row.steps:
            column = _column(table, step.column)
            if isinstance(step, Suggest):
                state.values[column.sql_name] = self._suggested(table, column, step)
            else:
                state.values[column.sql_name] = wire_value(column, step.value)
            given.add(column.sql_name)
            rules.after_assignment(state, column.sql_name)
        self._number_key(state, given)
        self._insert(table, state.values)
        if table.sql_name in LINE_TABLES:
            self.changed_heads.add(state.values[table.key[0].sql_name])
        for join in row.joins:
            self._add_joined(state, join)
        return state

    def _add_joined(self, head: RowState, join: Join) -> None:
        child = self._table(join.table)
        if LINE_TABLES.get(child.sql_name) != head.table.sql_name:
            raise InvalidValue(f"Rows of {child.resource!r} cannot be nested in {head.table.resource!r}")
        link = tuple(column.sql_name for column in child.key[: len(head.table.key)])
        if join.foreign_key != link:
            raise InvalidValue(f"Rows of {child.resource!r} join {head.table.resource!r} by {', '.join(link)}")
        for row in join.rows:
            head.messages.extend(self._add(child, row, head=head.values, foreign_key=join.foreign_key).messages)

    def _suggested(self, table: Table, column: Column, step: Suggest) -> int:
        return next_number(
            self.connection, table.sql_name, column.sql_name, interval=step.interval, column_no=step.column_no or 0
        )

    def _number_key(self, state: RowState, given: set[str]) -> None:
        """Key columns the body left out: a line number within the head, else the column's number series."""
        table = state.table
        for position, column in enumerate(table.key):
            name = column.sql_name
            if name in given:
                continue
            if table.sql_name in LINE_TABLES and position == len(table.key) - 1:
                state.values[name] = self.line_numbers.next(table, state.values)
                continue
            try:
                state.values[name] = next_number(self.connection, table.sql_name, name, column_no=column.number or 0)
            except NumberSeriesMissing:
                message = f"{column.name!r} is required: no number series gives it"
                raise MissingValue(message, target=column.name) from None

    def _insert(self, table: Table, values: dict[str, Any]) -> None:
        sql = _insert_sql(table, values)
        try:
            self.connection.execute(sql, [v if type(v) in PLAIN else bind(v) for v in values.values()])
        except sqlite3.IntegrityError as exc:
            raise _integrity_error(table, values, exc) from None
        self.lookups.forget(table.sql_name)
        if table.sql_name in LINE_TABLES:
            self.line_numbers.added(table, values)

    # Changing and deleting ----------------------------------------------------------------------

    def _select(self, table: Table, key: tuple[Assign, ...]) -> tuple[dict[str, Any], str, list[Any]]:
        if len(key) != len(table.key) or not table.key:
            raise MissingValue(f"{table.resource!r} rows are selected by their whole key")
        where = " AND ".join(f"{quote(_column(table, a.column).sql_name)} = ?" for a in key)
        params = [bind(a.value) for a in key]
        names = [column.sql_name for column in table.columns]
        row = self.connection.execute(
            f"SELECT {', '.join(quote(n) for n in names)} FROM {quote(table.sql_name)} WHERE {where}", params
        ).fetchone()
        if row is None:
            shown = "/".join(str(a.value) for a in key)
            raise RowNotFound(f"No row of {table.resource!r} has the key {shown!r}")
        return dict(zip(names, row, strict=True)), where, params

    def _check_expected(self, table: Table, current: dict[str, Any], expect: tuple[Assign, ...] | None) -> None:
        for assign in expect or ():
            column = table.column_by_sql_name(assign.column)
            if assign.column in current and not same_as_shown(column, current[assign.column], assign.value):
                raise PreconditionFailed(
                    f"The row of {table.resource!r} has changed since it was read (If-Match)", target="If-Match"
                )

    def _update(self, table: Table, operation: UpdateRow) -> RowState:
        current, where, params = self._select(table, operation.key)
        self._check_expected(table, current, operation.expect)
        if operation.row.joins:
            raise InvalidValue(f"Rows cannot be nested in an update of {table.resource!r}; write them on their own")
        state = self._state(table, dict(current), head=None)
        keys = {column.sql_name for column in table.key}
        for step in operation.row.steps:
            column = _column(table, step.column)
            if column.sql_name in keys:
                if isinstance(step, Suggest) or not same_key(current[column.sql_name], step.value):
                    raise KeyImmutable(
                        f"{column.name!r} is part of the key and cannot change ({current[column.sql_name]!r})",
                        target=column.name,
                    )
                continue
            if isinstance(step, Suggest):
                state.values[column.sql_name] = self._suggested(table, column, step)
            else:
                state.values[column.sql_name] = wire_value(column, step.value)
            rules.after_assignment(state, column.sql_name)
        if any(not same_value(current[n], v) for n, v in state.values.items()):
            rules.on_changed_row(state)
        changed = [n for n, v in state.values.items() if not same_value(current[n], v)]
        if changed:
            assignments = ", ".join(f"{quote(n)} = ?" for n in changed)
            self.connection.execute(
                f"UPDATE {quote(table.sql_name)} SET {assignments} WHERE {where}",
                [bind(state.values[n]) for n in changed] + params,
            )
            self.lookups.forget(table.sql_name)
        if table.sql_name in LINE_TABLES:
            self.changed_heads.add(current[table.key[0].sql_name])
        return state

    def _delete(self, table: Table, operation: DeleteRow) -> None:
        current, where, params = self._select(table, operation.key)
        self._check_expected(table, current, operation.expect)
        for line_table, head_table in LINE_TABLES.items():
            lines = self.database.table_by_sql_name(line_table)
            if head_table == table.sql_name and lines is not None:
                link = " AND ".join(f"{quote(c.sql_name)} = ?" for c in table.key)
                line_key = ", ".join(quote(c.sql_name) for c in lines.key)
                keys = self.connection.execute(
                    f"SELECT {line_key} FROM {quote(lines.sql_name)} WHERE {link}", params
                ).fetchall()
                self.connection.execute(f"DELETE FROM {quote(lines.sql_name)} WHERE {link}", params)
                tombstones.record(self.connection, lines, keys, days=self.tombstone_days)
                self.lookups.forget(lines.sql_name)
        self.connection.execute(f"DELETE FROM {quote(table.sql_name)} WHERE {where}", params)
        self.lookups.forget(table.sql_name)
        self.line_numbers.forget()  # a head's highest line may be gone
        key = [current[column.sql_name] for column in table.key]
        tombstones.record(self.connection, table, [key], days=self.tombstone_days)
        if table.sql_name in LINE_TABLES:
            self.changed_heads.add(current[table.key[0].sql_name])


def _column(table: Table, sql_name: str) -> Column:
    column = table.column_by_sql_name(sql_name)
    if column is None:
        raise UnknownProperty(f"No column {sql_name!r} in {table.resource!r}", target=sql_name)
    return column


def _project(table: Table, values: dict[str, Any], projection: tuple[str, ...]) -> dict[str, Any]:
    if not projection:
        return dict(values)
    return {name: values[name] for name in projection if name in values}


def _integrity_error(table: Table, values: dict[str, Any], exc: sqlite3.IntegrityError) -> Exception:
    text = str(exc)
    if "UNIQUE" in text or "PRIMARY KEY" in text:
        key = "/".join(str(values[column.sql_name]) for column in table.key)
        return DuplicateKey(f"A row of {table.resource!r} with the key {key!r} exists already")
    column = text.rsplit(".", 1)[-1] if "NOT NULL" in text else None
    found = table.column_by_sql_name(column) if column else None
    name = found.name if found else None
    return InvalidValue(f"The row of {table.resource!r} was refused by the database ({text})", target=name)


def wire_value(column: Column, value: Any) -> Any:
    """A value as the column takes it, also when it came as JSON text (base64 bytes, ISO dates)."""
    if isinstance(value, str) and column.kind == "binary":
        return base64.b64decode(value)
    if isinstance(value, str) and column.kind == "datetime":
        return dt.datetime.fromisoformat(value)
    return value


# Values sqlite3 binds as they are.
PLAIN = frozenset((int, str, float, bytes, type(None)))


@functools.lru_cache(maxsize=1024)
def insert_statement(table: str, columns: tuple[str, ...]) -> str:
    """The INSERT of these columns, made once: the same tables and columns come again and again."""
    names, marks = ", ".join(quote(n) for n in columns), ", ".join("?" * len(columns))
    return f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})"


_not_set_rows: dict[int, tuple[Table, dict[str, Any], str]] = {}


def _not_set_entry(table: Table) -> tuple[Table, dict[str, Any], str]:
    """A new row of `table` before any assignment and its INSERT, remembered per table (metadata
    never changes in place)."""
    entry = _not_set_rows.get(id(table))
    if entry is None or entry[0] is not table:
        if len(_not_set_rows) > 4096:
            _not_set_rows.clear()
        row = {column.sql_name: not_set(column) for column in table.columns}
        entry = _not_set_rows[id(table)] = (table, row, insert_statement(table.sql_name, tuple(row)))
    return entry


def _not_set_row(table: Table) -> dict[str, Any]:
    return _not_set_entry(table)[1]


def _insert_sql(table: Table, values: dict[str, Any]) -> str:
    """The INSERT of a new row's values: its table's own, unless columns were added to the row."""
    _, row, sql = _not_set_entry(table)
    # A row starts as the not-set row and its columns are only assigned, so the same length is the same columns.
    return sql if len(values) == len(row) else insert_statement(table.sql_name, tuple(values))


def not_set(column: Column) -> Any:
    """Visma's "not set" value of a column: 0 for numbers and dates, '' for text."""
    if column.nullable:
        return None
    if column.kind == "string":
        return ""
    if column.kind == "binary":
        return b""
    if column.kind == "datetime":
        return "1900-01-01 00:00:00"
    return 0


def bind(value: Any) -> Any:
    """A value as sqlite3 takes it: decimals as the REAL the demo stores, dates as ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def same_key(stored: Any, given: Any) -> bool:
    """Whether a key value names the same row: as `same_value`, text without regard to case (as Visma's keys)."""
    if isinstance(stored, str) and isinstance(given, str):
        return stored.casefold() == given.casefold()
    return same_value(stored, given)


def same_as_shown(column: Column | None, stored: Any, given: Any) -> bool:
    """Whether a stored value is the one a client was shown: a decimal at its column's scale, a
    binary float to the 15 significant digits JSON shows it with, anything else as `same_value`."""
    numbers = (int, float, Decimal)
    if column is not None and isinstance(stored, numbers) and isinstance(given, numbers):
        if column.kind == "decimal" and column.scale is not None:
            step = Decimal(1).scaleb(-column.scale)
            try:
                return decimal_of(stored).quantize(step) == decimal_of(given).quantize(step)
            except InvalidOperation:  # more digits than a Decimal context holds: compare as they are
                return same_value(stored, given)
        if isinstance(stored, float) or isinstance(given, float):
            return f"{float(stored):.15g}" == f"{float(given):.15g}"
    return same_value(stored, given)


def same_value(stored: Any, given: Any) -> bool:
    """Whether two values are the same for Visma: numbers by value, whatever their Python type."""
    numbers = (int, float, Decimal)
    if isinstance(stored, numbers) and isinstance(given, numbers):
        return decimal_of(stored) == decimal_of(given)
    if isinstance(given, dt.datetime | dt.date) and isinstance(stored, str):
        return bool(bind(given) == stored)
    equal: bool = stored == given
    return equal
