"""What differs between SQL engines, as flags and small hook methods.

The compiler asks the dialect only these questions; everything else it writes the same way for
every engine. A dialect knows nothing of HTTP or OData.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Dialect:
    """The base dialect: ANSI quoting and `LIMIT ? OFFSET ?` paging."""

    name: ClassVar[str] = "ansi"
    # Which characters open and close a quoted identifier?
    quote_start: ClassVar[str] = '"'
    quote_end: ClassVar[str] = '"'
    # Which character escapes % and _ in a LIKE pattern?
    like_escape: ClassVar[str] = "\\"
    # What does a parameter placeholder look like?
    placeholder: ClassVar[str] = "?"
    # Does paging need an ORDER BY to be present (T-SQL OFFSET/FETCH does)?
    paging_needs_order_by: ClassVar[bool] = False

    def quote_ident(self, name: str) -> str:
        """`name` quoted as an identifier, the closing quote doubled inside it."""
        return f"{self.quote_start}{name.replace(self.quote_end, self.quote_end * 2)}{self.quote_end}"

    def table_ref(self, table: str) -> str:
        """How a table of the connection's database is named in FROM."""
        return self.quote_ident(table)

    def select_prefix(self, limit: int | None, offset: int) -> tuple[str, list[Any]]:
        """Text after SELECT that limits rows (T-SQL's TOP), with its parameters."""
        return "", []

    def limit_offset(self, limit: int | None, offset: int) -> tuple[str, list[Any]]:
        """Paging text after ORDER BY, with its parameters."""
        if limit is None and not offset:
            return "", []
        if not offset:
            return " LIMIT ?", [limit]
        return " LIMIT ? OFFSET ?", [-1 if limit is None else limit, offset]

    def escape_like(self, text: str) -> str:
        """`text` with LIKE wildcards escaped so that they match literally."""
        esc = self.like_escape
        return text.replace(esc, esc + esc).replace("%", esc + "%").replace("_", esc + "_")

    def string_length(self, expression: str) -> str:
        return f"LENGTH({expression})"

    def count_sql(self, from_where: str) -> str:
        return f"SELECT COUNT(*) FROM {from_where}"
