"""SQL Server (T-SQL), the production engine reached through ODBC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

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
