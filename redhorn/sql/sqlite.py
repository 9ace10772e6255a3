"""SQLite, the embedded default engine."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

# SQLite functions take at most 127 arguments: json_object gets 63 name/value pairs at most.
_PAIRS_PER_OBJECT = 60
# Distinct column lists whose JSON expression is remembered; as for `SELECT_LIST_CACHE_SIZE`,
# only a client varying `$select` without end comes near it.
JSON_OBJECT_CACHE_SIZE = 4096

# Every table and view with its columns, in one statement.
# Columns: table, is_view, column, type, max_length, precision, scale (NULL: the declared type
# says them), nullable, key ordinal.
CATALOG = Statement(
    "SELECT m.name, m.type = 'view', p.name, p.type, NULL, NULL, NULL, p.\"notnull\" = 0, p.pk "
    "FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
    "WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
    "ORDER BY m.name, p.cid"
)
# The embedded writer's record of deleted rows (see `redhorn.writers.tombstones`), and the highest
# record it has forgotten. "Redhorn" opens the names, so the catalog never serves them.
TOMBSTONES = "RedhornTombstones"
TOMBSTONES_PRUNED = "RedhornTombstonesPruned"
# Incremented by SQLite on every change to the schema.
SCHEMA_VERSION = Statement("SELECT schema_version FROM pragma_schema_version")


class SqliteDialect(Dialect):
    name: ClassVar[str] = "sqlite"
    # SELECT 1 never opens the file; counting the schema reads its header and first page.
    ping_sql: ClassVar[str] = "SELECT count(*) FROM sqlite_master"
    # json_object runs in C with the GIL released: rows reach Python as one string each.
    renders_json_rows: ClassVar[bool] = True
    # Is each row's JSON cast to BLOB, so that the driver hands over its UTF-8 bytes undecoded?
    # (sqlite3's does; the SQLite ODBC driver reads text faster, `SqliteOdbcDialect`.)
    json_rows_as_blob: ClassVar[bool] = True
    # FLOOR, CEIL and MOD exist only where SQLite was built with its math functions (Python's and
    # Debian's are, other builds need not be): CAST and CASE work in every build. Decimals are
    # stored as REAL but may come back as integers (NUMERIC affinity keeps 5.00 as 5), so a decimal
    # division casts to REAL, lest 5.00 div 2 be 2. ROUND and the CASTs yield integers, so that
    # `round(x) div 2` divides as T-SQL does. `now()` reads the database's clock in its local
    # time, as Visma's clients write dates; a parameter would go stale in the statement cache.
    function_templates: ClassVar[Mapping[str, str]] = {
        **Dialect.function_templates,
        "mod": "({0} % NULLIF({1}, 0))",
        "div_decimal": "(CAST({0} AS REAL) / NULLIF({1}, 0))",
        "mod_decimal": "(CAST({0} AS REAL) - {1} * CAST(CAST({0} AS REAL) / NULLIF({1}, 0) AS INTEGER))",
        "substring2": "SUBSTR({0}, {1} + 1)",
        "substring3": "SUBSTR({0}, {1} + 1, {2})",
        "indexof": "(INSTR({0}, {1}) - 1)",
        "round": "CAST(ROUND({0}) AS INTEGER)",
        "floor": "(CAST({0} AS INTEGER) - (CAST({0} AS INTEGER) > {0}))",
        "ceiling": "(CAST({0} AS INTEGER) + (CAST({0} AS INTEGER) < {0}))",
        "now_date": "CAST(strftime('%Y%m%d', 'now', 'localtime') AS INTEGER)",
        "now_time": "CAST(strftime('%H%M', 'now', 'localtime') AS INTEGER)",
    }

    def select_column(self, name: str, kind: str) -> str:
        # Decimals are stored as REAL, but the SQLite ODBC driver reports DECIMAL(p,s) columns as
        # text: reading them as REAL gives every driver a number.
        return f"CAST({self.quote_ident(name)} AS REAL)" if kind == "decimal" else self.quote_ident(name)

    def adapt_parameter(self, value: Any) -> Any:
        # sqlite3 takes no Decimal; SQLite keeps decimal columns as REAL, so compare as doubles.
        return float(value) if isinstance(value, Decimal) else value

    def catalog_statements(self) -> tuple[Statement, Statement]:
        return CATALOG, SCHEMA_VERSION

    def json_object(self, columns: tuple[tuple[str, str], ...]) -> tuple[str, list[Any]]:
        sql, params = self._json_object(columns)
        return sql, list(params)

    @functools.lru_cache(maxsize=JSON_OBJECT_CACHE_SIZE)  # noqa: B019 - dialects live as long as the process
    def _json_object(self, columns: tuple[tuple[str, str], ...]) -> tuple[str, tuple[Any, ...]]:
        """`json_object(?, "Col", ...)`, property names as parameters, as UTF-8 bytes (or as text,
        where not `json_rows_as_blob`).

        The cast to BLOB hands the bytes over as they are: no decoding into a Python string in
        the reader thread and no encoding back in the event loop.

        Wide rows are built from several objects spliced together: every JSON value ends in a
        digit, letter or quote, so trimming one `}` and one `{` at the seams is exact.
        """
        parts: list[str] = []
        params: list[Any] = []
        for start in range(0, len(columns), _PAIRS_PER_OBJECT):
            chunk = columns[start : start + _PAIRS_PER_OBJECT]
            parts.append("json_object(" + ", ".join(f"?, {self.quote_ident(sql)}" for _, sql in chunk) + ")")
            params.extend(name for name, _ in chunk)
        if len(parts) == 1:
            return self._json_text(parts[0]), tuple(params)
        seams = [f"rtrim({parts[0]}, '}}')"]
        seams += [f"trim({part}, '{{}}')" for part in parts[1:-1]]
        seams.append(f"ltrim({parts[-1]}, '{{')")
        return self._json_text(" || ',' || ".join(seams)), tuple(params)

    def _json_text(self, expression: str) -> str:
        return f"CAST({expression} AS BLOB)" if self.json_rows_as_blob else expression

    def deletions_tracked(self, table: str) -> Statement:
        return Statement("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (TOMBSTONES,))

    def deletion_versions(self, table: str) -> Statement:
        # Pruning may empty the tombstones; numbers are never reused, so the current one is then the last pruned.
        pruned = f'COALESCE((SELECT MAX("Through") FROM "{TOMBSTONES_PRUNED}"), 0)'
        return Statement(f'SELECT max(COALESCE((SELECT MAX("Seq") FROM "{TOMBSTONES}"), 0), {pruned}), {pruned}')

    def deleted_keys(
        self, table: str, key: tuple[str, ...], since: int, through: int, after: tuple[Any, ...] | None, limit: int
    ) -> Statement:
        # Tombstone numbers are unique: the position is the number alone.
        start = max(since, int(after[0])) if after else since
        return Statement(
            f'SELECT "Seq", "KeyValues" FROM "{TOMBSTONES}" WHERE "TableName" = ? AND "Seq" > ? AND "Seq" <= ? '
            'ORDER BY "Seq" LIMIT ?',
            (table, start, through, limit),
        )

    def deleted_key_row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return (row[0], *json.loads(row[1]))


class SqliteOdbcDialect(SqliteDialect):
    """SQLite reached through the SQLite ODBC driver: each row's JSON comes back as text.

    That driver copies every BLOB cell into a hexadecimal string when it executes and decodes the
    digits back when it fetches, which costs more than the rest of the statement; text it hands
    over as it is. The ODBC engine reads that driver's text as UTF-8 (`redhorn.engines.odbc`), and
    `json_row_bytes` encodes each row once, as for SQL Server's JSON.
    """

    json_rows_as_blob: ClassVar[bool] = False
