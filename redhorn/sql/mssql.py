"""SQL Server (T-SQL), the production engine reached through ODBC.

On the option `Query.JsonFromDatabase` (`MssqlJsonDialect`) SQL Server also writes each row as a
JSON object itself, as SQLite always does; see `MssqlDialect.json_row` for how its text is made to
equal what redhorn's encoder writes from the same row's values.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from redhorn.encoding import ENCODER
from redhorn.metadata import Column
from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

# Tables and views of dbo, their columns, types and primary-key positions, in one statement.
# Columns: table, is_view, column, type, max_length (characters), precision, scale, nullable, key ordinal.
CATALOG = Statement(
    "SELECT o.name, o.is_view, c.name, t.name, "
    "CASE WHEN t.name IN ('nchar', 'nvarchar') AND c.max_length > 0 THEN c.max_length / 2 ELSE c.max_length END, "
    "c.precision, c.scale, c.is_nullable, COALESCE(ic.key_ordinal, 0) "
    "FROM (SELECT object_id, name, schema_id, 0 AS is_view FROM sys.tables WHERE is_ms_shipped = 0 "
    "UNION ALL SELECT object_id, name, schema_id, 1 AS is_view FROM sys.views WHERE is_ms_shipped = 0) AS o "
    "JOIN sys.columns AS c ON c.object_id = o.object_id "
    "JOIN sys.types AS t ON t.user_type_id = c.user_type_id "
    "LEFT JOIN sys.indexes AS i ON i.object_id = o.object_id AND i.is_primary_key = 1 "
    "LEFT JOIN sys.index_columns AS ic "
    "ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.column_id = c.column_id "
    "WHERE SCHEMA_NAME(o.schema_id) = 'dbo' "
    "ORDER BY o.name, c.column_id"
)
# The latest change to any table or view, as ISO 8601 text.
# SUBSTRING needs a length: this one reaches past the end of any string, which T-SQL allows.
SUBSTRING_TO_END = 2147483647
SCHEMA_VERSION = Statement(
    "SELECT CONVERT(varchar(33), MAX(modify_date), 126) FROM sys.objects WHERE type IN ('U', 'V')"
)

# The row as one JSON object: a correlated subquery over the outer row's columns is one nvarchar(max)
# value per row (a FOR JSON over the whole SELECT would reach the driver cut into 2,033-character
# pieces); INCLUDE_NULL_VALUES writes `null` members, as the encoder does, where FOR JSON would leave
# them out.
FOR_JSON = "FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES"
# FOR JSON escapes the solidus (`/` as `\/`), the encoder does not; every other escape is the same.
# A `\/` in FOR JSON's text is always an escaped `/` (a `\` of the data is written `\\`, so no `\`
# of an escape is ever followed by a bare `/`), so replacing every one is exact. A binary
# collation compares code points: the fastest REPLACE, and the only match wanted.
UNESCAPE_SOLIDUS = "REPLACE({0} COLLATE Latin1_General_100_BIN2, N'\\/', N'/')"
# T-SQL's longest identifier; a longer property name, or one with a dot (which FOR JSON PATH reads
# as a nested object), is written under a stand-in alias and renamed in the text afterwards.
MAX_ALIAS_LENGTH = 128
# Distinct column lists whose JSON expression is remembered, as for SQLite's `json_object`.
JSON_ROW_CACHE_SIZE = 4096
# The microseconds of a date and time, as Python's `datetime` has them (pyodbc reads the driver's
# nanoseconds into microseconds, cutting off the rest, as DATEPART does): `.ffffff` unless they are 0,
# the encoder's RFC 3339 form.
_FRACTION = (
    "CASE WHEN DATEPART(microsecond, {0}) = 0 THEN '' "
    "ELSE '.' + RIGHT('00000' + CONVERT(varchar(6), DATEPART(microsecond, {0})), 6) END"
)
# How a column of an SQL Server type is written into the row's JSON, where FOR JSON's own form of
# the type is not the encoder's (keyed by the catalog's type name, without its length or precision).
# Every other type is written as it is: integers and bit (`true`/`false`) alike in both; decimal and
# numeric with every digit of their scale (FOR JSON writes 12.500000 for a decimal(28,6), and pyodbc
# reads the driver's "12.500000" into a Decimal that the encoder writes the same); text as it is
# stored, trailing blanks and all, as pyodbc reads it. Binary and float columns never come here:
# rows with them are read as values (`redhorn.query.plan.can_render_json`).
JSON_VALUE_TEMPLATES: Mapping[str, str] = {
    # money: the driver reads it as decimal(19,4) (four decimals, 12.5000); FOR JSON's own text is not documented.
    "money": "CAST({0} AS decimal(19, 4))",
    "smallmoney": "CAST({0} AS decimal(10, 4))",
    # The deprecated large types and xml as the nvarchar(max) text pyodbc reads (FOR JSON's own form unused).
    "text": "CAST({0} AS nvarchar(max))",
    "ntext": "CAST({0} AS nvarchar(max))",
    "xml": "CAST({0} AS nvarchar(max))",
    # pyodbc reads a uniqueidentifier as the driver's upper-case text.
    "uniqueidentifier": "CONVERT(char(36), {0})",
    # Dates and times as the encoder writes Python's date, datetime and time: 2026-11-24,
    # 2026-11-24T13:45:00 and 13:45:00, with .ffffff only where there are microseconds.
    "date": "CONVERT(char(10), {0}, 23)",
    "datetime": "CONVERT(char(19), {0}, 126) + " + _FRACTION,
    "datetime2": "CONVERT(char(19), {0}, 126) + " + _FRACTION,
    "smalldatetime": "CONVERT(char(19), {0}, 126)",
    "time": "CONVERT(char(8), {0}, 108) + " + _FRACTION,
}


def sql_type_name(column: Column) -> str:
    """The catalog's type name of `column`, without its length, precision or scale: `decimal(28,6)` -> `decimal`."""
    return column.sql_type.split("(", 1)[0].strip().lower()


def _stand_ins() -> Iterator[str]:
    return (f"_{number}" for number in itertools.count(1))


def needs_stand_in(name: str) -> bool:
    """Whether a property name cannot be a FOR JSON PATH alias as it is."""
    return not name or "." in name or len(name) > MAX_ALIAS_LENGTH


class MssqlDialect(Dialect):
    name: ClassVar[str] = "mssql"
    quote_start: ClassVar[str] = "["
    quote_end: ClassVar[str] = "]"
    # T-SQL has no default LIKE escape; brackets would also work but ESCAPE keeps one rule for all.
    like_escape: ClassVar[str] = "\\"
    # SQL Server requires ORDER BY with OFFSET/FETCH.
    paging_needs_order_by: ClassVar[bool] = True
    # `%` takes decimals in T-SQL, and `/` divides integers as integers and decimals as decimals, as
    # OData's div does. CHARINDEX of '' is 0 where OData's indexof is 0 only at the start: an empty
    # needle is tested with LEN(x + 'x'), as LEN ignores trailing blanks. `now()` reads the
    # server's clock (GETDATE, its local time, as Visma's clients write dates).
    function_templates: ClassVar[Mapping[str, str]] = {
        **Dialect.function_templates,
        "mod": "({0} % NULLIF({1}, 0))",
        "mod_decimal": "({0} % NULLIF({1}, 0))",
        "substring2": f"SUBSTRING({{0}}, {{1}} + 1, {SUBSTRING_TO_END})",
        "substring3": "SUBSTRING({0}, {1} + 1, {2})",
        "indexof": "(CASE WHEN LEN({1} + N'x') = 1 THEN (CASE WHEN {0} IS NULL THEN NULL ELSE 0 END) "
        "ELSE CHARINDEX({1}, {0}) - 1 END)",
        "now_date": "CAST(CONVERT(char(8), GETDATE(), 112) AS int)",
        "now_time": "(DATEPART(hour, GETDATE()) * 100 + DATEPART(minute, GETDATE()))",
    }

    def table_ref(self, table: str) -> str:
        return f"[dbo].{self.quote_ident(table)}"

    def json_row(self, columns: tuple[Column, ...]) -> tuple[str, list[Any]]:
        """`(SELECT [Col] AS [Property], ... FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES)`.

        The row's JSON text is byte for byte what redhorn's encoder writes from the values pyodbc
        reads of the same row: same members in the same order, nulls as `null`, the same numbers
        and escapes (see `JSON_VALUE_TEMPLATES` and `UNESCAPE_SOLIDUS`).

        FOR JSON PATH, not SQL Server 2022's JSON_OBJECT: FOR JSON works on every version Visma
        Business runs on (2016 and later) and takes as many columns as a SELECT does (4,096; Visma's
        widest tables have about 400), where JSON_OBJECT needs 2022 and takes a function's
        arguments. Property names are aliases quoted from the metadata, never parameters; a name
        FOR JSON cannot take as an alias (`needs_stand_in`) is written under `_1`, `_2`, ... and
        renamed by a REPLACE whose two texts are parameters.
        """
        sql, params = self._json_row(
            tuple((column.name, column.sql_name, column.kind, sql_type_name(column)) for column in columns)
        )
        return sql, list(params)

    @functools.lru_cache(maxsize=JSON_ROW_CACHE_SIZE)  # noqa: B019 - dialects live as long as the process
    def _json_row(self, columns: tuple[tuple[str, str, str, str], ...]) -> tuple[str, tuple[Any, ...]]:
        taken = {name for name, *_ in columns}
        members: list[str] = []
        renames: list[tuple[str, str]] = []
        for name, sql_name, _, type_name in columns:
            value = JSON_VALUE_TEMPLATES.get(type_name, "{0}").format(self.quote_ident(sql_name))
            alias = name
            if needs_stand_in(name):
                alias = next(alias for alias in _stand_ins() if not any(f'"{alias}' in f'"{other}' for other in taken))
                taken.add(alias)
                renames.append((f'"{alias}":', ENCODER.encode(name).decode() + ":"))
            members.append(f"{value} AS {self.quote_ident(alias)}")
        sql = f"(SELECT {', '.join(members)} {FOR_JSON})"
        if any(kind == "string" or "/" in name for name, _, kind, _ in columns):
            sql = UNESCAPE_SOLIDUS.format(sql)
        params: list[str] = []
        for stand_in, real in renames:
            # `"_1":` is found only as this member's name: inside a JSON string every `"` is escaped, and
            # no other name holds `"_1` (the stand-in is chosen so).
            sql = f"REPLACE({sql}, ?, ?)"
            params += [stand_in, real]
        return sql, tuple(params)

    def select_prefix(self, limit: int | None, offset: int) -> tuple[str, list[Any]]:
        # TOP is the cheapest form when nothing is skipped; the parentheses allow a parameter.
        if limit is not None and not offset:
            return "TOP (?) ", [limit]
        return "", []

    def limit_offset(self, limit: int | None, offset: int) -> tuple[str, list[Any]]:
        if not offset:
            return "", []
        if limit is None:
            return " OFFSET ? ROWS", [offset]
        return " OFFSET ? ROWS FETCH NEXT ? ROWS ONLY", [offset, limit]

    def concat(self, parts: Sequence[str]) -> str:
        # T-SQL's `+` (CONCAT would turn a NULL into '', where `+` keeps NULL as `||` does).
        return " + ".join(parts)

    def string_length(self, expression: str) -> str:
        # LEN ignores trailing blanks; DATALENGTH counts bytes. LEN(x + 'x') - 1 counts characters.
        return f"(LEN({expression} + N'x') - 1)"

    def count_sql(self, from_where: str) -> str:
        # COUNT_BIG: tables past 2^31 rows exist in large installations.
        return f"SELECT COUNT_BIG(*) FROM {from_where}"

    def catalog_statements(self) -> tuple[Statement, Statement]:
        return CATALOG, SCHEMA_VERSION

    # SQL Server records deletions itself where Change Tracking is on for the database and the
    # table (`ALTER TABLE ... ENABLE CHANGE_TRACKING`); the minimum valid version is NULL where it is not.

    def deletions_tracked(self, table: str) -> Statement:
        return Statement(
            "SELECT CASE WHEN CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(?)) IS NULL THEN 0 ELSE 1 END",
            (self.table_ref(table),),
        )

    def deletion_versions(self, table: str) -> Statement:
        return Statement(
            "SELECT CHANGE_TRACKING_CURRENT_VERSION(), CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(?))",
            (self.table_ref(table),),
        )

    def deleted_keys(
        self, table: str, key: tuple[str, ...], since: int, through: int, after: tuple[Any, ...] | None, limit: int
    ) -> Statement:
        columns = ["CT.SYS_CHANGE_VERSION", *(f"CT.{self.quote_ident(name)}" for name in key)]
        params: list[Any] = [limit, since, through]
        position = ""
        if after:
            # (version, key...) > after, written out: T-SQL has no row-value comparison.
            terms = []
            for index, column in enumerate(columns):
                equal = " AND ".join(f"{earlier} = ?" for earlier in columns[:index])
                terms.append(f"({equal + ' AND ' if equal else ''}{column} > ?)")
                params.extend([*after[:index], after[index]])
            position = " AND (" + " OR ".join(terms) + ")"
        sql = (
            f"SELECT TOP (?) {', '.join(columns)} FROM CHANGETABLE(CHANGES {self.table_ref(table)}, ?) AS CT "
            f"WHERE CT.SYS_CHANGE_OPERATION = 'D' AND CT.SYS_CHANGE_VERSION <= ?{position} "
            f"ORDER BY {', '.join(columns)}"
        )
        return Statement(sql, tuple(params))

    def deleted_key_row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row)


class MssqlJsonDialect(MssqlDialect):
    """SQL Server writing each row as a JSON object itself (`Query.JsonFromDatabase`), as SQLite does.

    The server then does the work redhorn's encoder does per value, and the rows cross the
    driver as one text each rather than as one Python object per value.
    """

    renders_json_rows: ClassVar[bool] = True


def mssql_dialect(*, json_rows: bool = False) -> MssqlDialect:
    """SQL Server's dialect; with `json_rows` it has the server write each row as JSON (`MssqlJsonDialect`)."""
    return MssqlJsonDialect() if json_rows else MssqlDialect()
