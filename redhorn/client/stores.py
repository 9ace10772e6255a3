"""The mirror's database: SQLite (sqlite3) or DuckDB, one table per resource and a table of sync states.

A full copy fills a loading table beside the resource's table and replaces it in the transaction of
the last page, so the mirror always holds a whole copy, old or new. The sync state of a resource (the
link to go on from, or the delta link of the next run) is written in the transaction of the page it
follows: a page is applied exactly once, however the run ends.
"""

from __future__ import annotations

import contextlib
import decimal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from redhorn.client.errors import UsageError

SYNC_TABLE = "_redhorn_sync"
LOADING_PREFIX = "_redhorn_loading_"
ENCODER = msgspec.json.Encoder(decimal_format="number")


class SyncState(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Where a resource's mirror stands.

    `copying`: a full copy is under way, `link` its next page; `delta`: a delta chain is being applied,
    `link` its next page; `synced`: up to date, `delta_link` asks for what changed since (None: the
    server cannot track the resource, and the next run copies it again).
    """

    query: str
    phase: Literal["copying", "delta", "synced"]
    link: str | None = None
    delta_link: str | None = None
    rows: int = 0
    keys: list[str] = []


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def loading_table(resource: str) -> str:
    return LOADING_PREFIX + resource


class Store:
    """What the SQLite and DuckDB mirrors share: transactions, sync states, the replace of a copy."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.connection.execute(
            f"CREATE TABLE IF NOT EXISTS {SYNC_TABLE} (resource VARCHAR PRIMARY KEY, state VARCHAR)"
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def sync_of(self, resource: str) -> SyncState | None:
        found = self.connection.execute(f"SELECT state FROM {SYNC_TABLE} WHERE resource = ?", [resource]).fetchone()
        return msgspec.json.decode(found[0], type=SyncState) if found else None

    def set_sync(self, resource: str, state: SyncState) -> None:
        self.connection.execute(f"DELETE FROM {SYNC_TABLE} WHERE resource = ?", [resource])
        self.connection.execute(
            f"INSERT INTO {SYNC_TABLE} (resource, state) VALUES (?, ?)", [resource, msgspec.json.encode(state).decode()]
        )

    def drop(self, table: str) -> None:
        self.connection.execute(f"DROP TABLE IF EXISTS {quote(table)}")

    def replace(self, resource: str) -> None:
        """Put the loaded copy in the place of the resource's table."""
        self.drop(resource)
        self.connection.execute(f"ALTER TABLE {quote(loading_table(resource))} RENAME TO {quote(resource)}")

    def exists(self, table: str) -> bool:
        return table in self.tables()

    def tables(self) -> set[str]:
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, str]:
        """The table's columns and their declared types, in order."""
        raise NotImplementedError

    def create(self, table: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """A table for `rows`: their columns (the keys first when no row names them), keyed by `keys`."""
        raise NotImplementedError

    def fit(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Add the columns `rows` bring that the table lacks (and widen types where the database needs it)."""
        raise NotImplementedError

    def insert(self, table: str, rows: list[dict[str, Any]], keys: list[str], *, replace: bool) -> None:
        raise NotImplementedError

    def delete(self, table: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.connection.close()


def _column_names(rows: list[dict[str, Any]], keys: list[str]) -> list[str]:
    names = dict.fromkeys(name for row in rows for name in row if not name.startswith("@"))
    return [*[key for key in keys if key not in names], *names]


def _first_values(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    first: dict[str, Any] = {}
    for row in rows:
        for name in names:
            if first.get(name) is None and row.get(name) is not None:
                first[name] = row[name]
    return first


class SqliteStore(Store):
    """A mirror in SQLite: declared types from the first values, the resource's key as PRIMARY KEY."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(sqlite3.connect(path, isolation_level=None))

    def tables(self) -> set[str]:
        return {row[0] for row in self.connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, table: str) -> dict[str, str]:
        return {row[1]: row[2] for row in self.connection.execute(f"PRAGMA table_info({quote(table)})")}

    def create(self, table: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
        names = _column_names(rows, keys)
        first = _first_values(rows, names)
        columns = [f"{quote(name)} {_sqlite_type(first.get(name))}".rstrip() for name in names]
        if keys:
            columns.append(f"PRIMARY KEY ({', '.join(quote(key) for key in keys)})")
        self.connection.execute(f"CREATE TABLE {quote(table)} ({', '.join(columns)})")

    def fit(self, table: str, rows: list[dict[str, Any]]) -> None:
        existing = self.columns(table)
        first = _first_values(rows, _column_names(rows, []))
        for name, value in first.items():
            if name not in existing:
                self.connection.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {_sqlite_type(value)}")
        for name in _column_names(rows, []):
            if name not in existing and name not in first:
                self.connection.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)}")

    def insert(self, table: str, rows: list[dict[str, Any]], keys: list[str], *, replace: bool) -> None:
        if not rows:
            return
        names = list(self.columns(table))
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        marks = ", ".join("?" for _ in names)
        self.connection.executemany(
            f"{verb} INTO {quote(table)} ({', '.join(quote(n) for n in names)}) VALUES ({marks})",
            [[_sqlite_value(row.get(name)) for name in names] for row in rows],
        )

    def delete(self, table: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
        condition = " AND ".join(f"{quote(key)} = ?" for key in keys)
        self.connection.executemany(
            f"DELETE FROM {quote(table)} WHERE {condition}",
            [[_sqlite_value(row.get(key)) for key in keys] for row in rows],
        )


def _sqlite_type(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return "INTEGER"
    if isinstance(value, Decimal | float):
        return "REAL"
    return "TEXT"


def _sqlite_value(value: Any) -> Any:
    """SQLite stores decimals as REAL, as Visma's demo databases do; a whole decimal stays an integer."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, dict | list):
        return ENCODER.encode(value).decode("utf-8")
    return value


# DuckDB types from narrowest to widest; a column is widened when a later row needs it.
DUCK_TYPES = ("BOOLEAN", "BIGINT", "DECIMAL(38,10)", "VARCHAR")
TEN_PLACES = Decimal("1e-10")
WIDE = decimal.Context(prec=38)


class DuckdbStore(Store):
    """A mirror in DuckDB: typed columns (widened when later rows need it), rows moved in through Arrow.

    Tables have no PRIMARY KEY constraint (a delete and insert of the same key in one transaction
    trips DuckDB's constraint check); the key is kept unique by deleting before every upsert.
    """

    def __init__(self, path: Path) -> None:
        try:
            import duckdb
            import pyarrow  # type: ignore[import-untyped]  # noqa: F401
        except ImportError:
            raise UsageError("--mirror FILE.duckdb needs duckdb and pyarrow: pip install 'redhorn[pull]'") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(duckdb.connect(str(path)))

    def tables(self) -> set[str]:
        return {row[0] for row in self.connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

    def columns(self, table: str) -> dict[str, str]:
        found = self.connection.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]
        ).fetchall()
        return {name: kind for name, kind in found}

    def create(self, table: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
        names = _column_names(rows, keys)
        kinds = {name: _duck_type(rows, name) for name in names}
        columns = ", ".join(f"{quote(name)} {kind}" for name, kind in kinds.items())
        self.connection.execute(f"CREATE TABLE {quote(table)} ({columns})")

    def fit(self, table: str, rows: list[dict[str, Any]]) -> None:
        existing = {name: _rank(kind) for name, kind in self.columns(table).items()}
        for name in _column_names(rows, []):
            wanted = _duck_type(rows, name)
            if name not in existing:
                self.connection.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {wanted}")
            elif _rank(wanted) > existing[name]:
                self.connection.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(name)} TYPE {wanted}")

    def insert(self, table: str, rows: list[dict[str, Any]], keys: list[str], *, replace: bool) -> None:
        if not rows:
            return
        if replace and keys:
            self.delete(table, rows, keys)
        kinds = self.columns(table)
        self.connection.register("_redhorn_page", _arrow(rows, kinds))
        try:
            self.connection.execute(f"INSERT INTO {quote(table)} BY NAME SELECT * FROM _redhorn_page")
        finally:
            self.connection.unregister("_redhorn_page")

    def delete(self, table: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
        if not rows:
            return
        kinds = self.columns(table)
        self.connection.register("_redhorn_keys", _arrow(rows, {key: kinds[key] for key in keys}))
        try:
            condition = " AND ".join(f"{quote(table)}.{quote(key)} = k.{quote(key)}" for key in keys)
            self.connection.execute(f"DELETE FROM {quote(table)} USING _redhorn_keys AS k WHERE {condition}")
        finally:
            self.connection.unregister("_redhorn_keys")


def _rank(kind: str) -> int:
    kind = kind.upper().replace(" ", "")
    if kind.startswith("DECIMAL"):
        return 2
    return DUCK_TYPES.index(kind) if kind in DUCK_TYPES else len(DUCK_TYPES) - 1


def _duck_type(rows: list[dict[str, Any]], name: str) -> str:
    """The narrowest of DUCK_TYPES that holds every value of column `name` in `rows` (VARCHAR when all are null)."""
    rank = -1
    for row in rows:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, bool):
            rank = max(rank, 0)
        elif isinstance(value, int) and -(2**63) <= value < 2**63:
            rank = max(rank, 1)
        elif isinstance(value, int | Decimal | float):
            rank = max(rank, 2)
        else:
            rank = 3
    return DUCK_TYPES[rank] if rank >= 0 else "VARCHAR"


def _arrow(rows: list[dict[str, Any]], kinds: dict[str, str]) -> Any:
    import pyarrow as pa

    arrays, names = [], []
    for name, kind in kinds.items():
        rank = _rank(kind)
        arrow_type = (pa.bool_(), pa.int64(), pa.decimal128(38, 10), pa.string())[rank]
        values = [_duck_value(row.get(name), rank) for row in rows]
        arrays.append(pa.array(values, type=arrow_type))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def _duck_value(value: Any, rank: int) -> Any:
    if value is None:
        return None
    if rank == 3:
        return value if isinstance(value, str) else ENCODER.encode(value).decode("utf-8")
    if rank == 2:
        return Decimal(value).quantize(TEN_PLACES, context=WIDE)
    if rank == 1:
        return int(value)
    return value


def open_store(path: Path) -> Store:
    """The mirror for `path` by its suffix: `.sqlite`/`.db` (SQLite) or `.duckdb`.

    Raises:
        UsageError: another suffix, or DuckDB without its packages.
    """
    suffix = path.suffix.lower()
    if suffix in (".sqlite", ".sqlite3", ".db"):
        return SqliteStore(path)
    if suffix == ".duckdb":
        return DuckdbStore(path)
    raise UsageError(f"--mirror {path}: name a .sqlite, .db or .duckdb file")
