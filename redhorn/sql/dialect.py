"""What differs between SQL engines, as flags and small hook methods.

The compiler asks the dialect only these questions; everything else it writes the same way for
every engine. A dialect knows nothing of HTTP or OData.

Every difference between engines is a method or flag here, overridden in `sqlite.py` and
`mssql.py`: no caller asks which dialect it holds (`dialect.name == ...`), and none rewrites
SQL a dialect rendered. A new engine is then one subclass, and a difference cannot be missed in
one caller while handled in another.

The `$filter` functions and operators are templates (`function_template`): SQL with `{0}`, `{1}`
where the compiler puts its arguments. The compiler fills them itself, with each argument's
parameters as often as the argument appears, so a template may use an argument twice (a NULL
guard, SQLite's FLOOR as CAST) and values still only travel as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from redhorn.metadata import Column
from redhorn.sql.statement import Statement

# Distinct select lists remembered per dialect before the memory is cleared: far more than the
# (table, $select) pairs a deployment serves, so the bound is only against a client that varies them.
SELECT_LIST_CACHE_SIZE = 10_000

# Visma's dates are yyyymmdd integers, 0 when empty; times hhmm. The parts are integer arithmetic,
# the same in every engine (both divide integers truncating), so they live here, once.
VISMA_DATE_TIME_TEMPLATES: Mapping[str, str] = {
    "year": "(CASE WHEN {0} = 0 THEN NULL ELSE {0} / 10000 END)",
    "month": "(CASE WHEN {0} = 0 THEN NULL ELSE {0} / 100 % 100 END)",
    "day": "(CASE WHEN {0} = 0 THEN NULL ELSE {0} % 100 END)",
    "hour": "({0} / 100)",
    "minute": "({0} % 100)",
    # Visma keeps no seconds: 0, and null for a null time.
    "second": "(CASE WHEN {0} IS NULL THEN NULL ELSE 0 END)",
}
# The arithmetic every engine writes alike. Division and remainder by zero are NULL in every
# engine (NULLIF), as SQLite does by itself and SQL Server would raise an error for: a row with a
# zero divisor is then left out by a comparison, as OData's null semantics have it, never a 500.
ARITHMETIC_TEMPLATES: Mapping[str, str] = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "div": "({0} / NULLIF({1}, 0))",
    "mod": "({0} % NULLIF({1}, 0))",
    "negate": "(-{0})",
}


class Dialect:
    """The base dialect: ANSI quoting and `LIMIT ? OFFSET ?` paging."""

    name: ClassVar[str] = "ansi"
    # Which characters open and close a quoted identifier?
    quote_start: ClassVar[str] = '"'
    quote_end: ClassVar[str] = '"'
    # Which character escapes % and _ in a LIKE pattern?
    like_escape: ClassVar[str] = "\\"
    # Does paging need an ORDER BY to be present (T-SQL OFFSET/FETCH does)?
    paging_needs_order_by: ClassVar[bool] = False
    # Which statement proves that a database can be read, not only connected to?
    ping_sql: ClassVar[str] = "SELECT 1"
    # Can the engine write each row as a JSON object itself, so no Python object is made per value?
    # (SQLite's always does; SQL Server's on the option `Query.JsonFromDatabase`, `MssqlJsonDialect`.)
    renders_json_rows: ClassVar[bool] = False
    # `$filter` functions and operators as templates (see the module's docstring), ANSI SQL here.
    # Keys: the OData function names; `substring2`/`substring3` by argument count; `add` ... `mod`
    # and `negate`; `div_decimal`/`mod_decimal` where not both operands are integers; `now_date`,
    # `now_time` for `now()` as Visma stores today's date and this minute.
    function_templates: ClassVar[Mapping[str, str]] = {
        **VISMA_DATE_TIME_TEMPLATES,
        **ARITHMETIC_TEMPLATES,
        "div_decimal": "({0} / NULLIF({1}, 0))",
        "mod_decimal": "MOD({0}, NULLIF({1}, 0))",
        "mod": "MOD({0}, NULLIF({1}, 0))",
        "tolower": "LOWER({0})",
        "toupper": "UPPER({0})",
        "trim": "TRIM({0})",
        "substring2": "SUBSTRING({0} FROM {1} + 1)",
        "substring3": "SUBSTRING({0} FROM {1} + 1 FOR {2})",
        "indexof": "(POSITION({1} IN {0}) - 1)",
        "round": "ROUND({0}, 0)",
        "floor": "FLOOR({0})",
        "ceiling": "CEILING({0})",
        "now_date": "CAST(EXTRACT(YEAR FROM CURRENT_DATE) * 10000 + EXTRACT(MONTH FROM CURRENT_DATE) * 100 "
        "+ EXTRACT(DAY FROM CURRENT_DATE) AS INTEGER)",
        "now_time": "CAST(EXTRACT(HOUR FROM LOCALTIME) * 100 + EXTRACT(MINUTE FROM LOCALTIME) AS INTEGER)",
    }

    def __init__(self) -> None:
        self._select_lists: dict[tuple[tuple[str, str], ...], str] = {}

    def quote_ident(self, name: str) -> str:
        """`name` quoted as an identifier, the closing quote doubled inside it."""
        return f"{self.quote_start}{name.replace(self.quote_end, self.quote_end * 2)}{self.quote_end}"

    def select_list(self, columns: tuple[tuple[str, str], ...]) -> str:
        """The select list for (SQL name, kind) pairs; remembered, as the same lists come again and again."""
        text = self._select_lists.get(columns)
        if text is None:
            if len(self._select_lists) > SELECT_LIST_CACHE_SIZE:
                self._select_lists.clear()
            text = self._select_lists[columns] = ", ".join(self.select_column(name, kind) for name, kind in columns)
        return text

    def select_column(self, name: str, kind: str) -> str:
        """How a column of a kind is read (a dialect may cast, so that every driver reads it alike)."""
        return self.quote_ident(name)

    def adapt_parameter(self, value: Any) -> Any:
        """A parameter value as the engine's driver takes it."""
        return value

    def json_object(self, columns: tuple[tuple[str, str], ...]) -> tuple[str, list[Any]]:
        """An expression for the row as a JSON object of (property, SQL column) pairs, with its
        parameters; only for dialects with `renders_json_rows`."""
        raise NotImplementedError

    def json_row(self, columns: tuple[Column, ...]) -> tuple[str, list[Any]]:
        """An expression for the row as a JSON object of `columns`' properties, with its parameters;
        only for dialects with `renders_json_rows`. A dialect that must know each column's type to
        write its value as redhorn's encoder does overrides this; others write `json_object`."""
        return self.json_object(tuple((column.name, column.sql_name) for column in columns))

    def json_row_bytes(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """`rows` read with `json_row` first, that first value as the UTF-8 bytes the readers splice.

        SQLite hands its JSON over as bytes already (a BLOB), and the list is returned as it is; a
        driver that reads the JSON as text (SQL Server's nvarchar) has it encoded here, once per row.
        """
        if not rows or not isinstance(rows[0][0], str):
            return rows
        return [(row[0].encode(), *row[1:]) for row in rows]

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

    def concat(self, parts: Sequence[str]) -> str:
        """The string concatenation of SQL expressions `parts` (ANSI's `||`)."""
        return " || ".join(parts)

    def string_length(self, expression: str) -> str:
        """The length in characters of a string expression."""
        return f"LENGTH({expression})"

    def function_template(self, name: str) -> str:
        """The template of a `$filter` function or operator (keys: `function_templates`).

        `length` and `concat` come from `string_length` and `concat`, as the LIKE patterns use them too.
        """
        if name == "length":
            return self.string_length("{0}")
        if name == "concat":
            return self.concat(("{0}", "{1}"))
        return self.function_templates[name]

    def count_sql(self, from_where: str) -> str:
        """`SELECT COUNT(*) FROM` the table and condition given as `from_where`."""
        return f"SELECT COUNT(*) FROM {from_where}"

    def catalog_statements(self) -> tuple[Statement, Statement]:
        """The catalog query and the schema-version query of a database, in this order.

        The catalog query yields, for every column of every table and view, one row of nine
        values: table, is view, column, type name, maximum length (in characters), precision,
        scale, nullable, position in the primary key (0 outside it). The schema-version query
        yields one row of one value that changes whenever a table or column is added, altered
        or dropped. The ANSI dialect has no catalog of its own to read.
        """
        raise NotImplementedError

    # Deleted rows, for delta links -----------------------------------------------------------
    # A version numbers the database's deletions in order: SQL Server's Change Tracking version,
    # or the embedded database's tombstone number. A delta token remembers the last one it saw.

    def deletions_tracked(self, table: str) -> Statement:
        """One row of one value, 1 when the deletions of `table` are recorded, 0 when they are not."""
        raise NotImplementedError

    def deletion_versions(self, table: str) -> Statement:
        """One row: the database's current version, and the oldest a token may hold and still be
        complete (deletions before it were forgotten). Asked only where deletions are tracked."""
        raise NotImplementedError

    def deleted_keys(
        self, table: str, key: tuple[str, ...], since: int, through: int, after: tuple[Any, ...] | None, limit: int
    ) -> Statement:
        """The rows of `table` deleted after version `since` up to `through`, past the position
        `after` (a row's version and key), in that order, at most `limit`; read by `deleted_key_row`."""
        raise NotImplementedError

    def deleted_key_row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row of `deleted_keys` as (version, key values in key order)."""
        raise NotImplementedError
