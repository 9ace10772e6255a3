"""SQL Server (T-SQL), the production engine reached through ODBC."""

from __future__ import annotations

from typing import Any, ClassVar

from redhorn.sql.dialect import Dialect


class MssqlDialect(Dialect):
    name: ClassVar[str] = "mssql"
    quote_start: ClassVar[str] = "["
    quote_end: ClassVar[str] = "]"
    # T-SQL has no default LIKE escape; brackets would also work but ESCAPE keeps one rule for all.
    like_escape: ClassVar[str] = "\\"
    # SQL Server requires ORDER BY with OFFSET/FETCH.
    paging_needs_order_by: ClassVar[bool] = True

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

    def string_length(self, expression: str) -> str:
        # LEN ignores trailing blanks; DATALENGTH counts bytes. LEN(x + 'x') - 1 counts characters.
        return f"(LEN({expression} + N'x') - 1)"

    def count_sql(self, from_where: str) -> str:
        # COUNT_BIG: tables past 2^31 rows exist in large installations.
        return f"SELECT COUNT_BIG(*) FROM {from_where}"
